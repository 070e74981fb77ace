// Shared set-up of the WebAssembly kernel tests: builds kernels.wasm when missing or stale (scripts/build-wasm.mjs),
// makes an arena and an instance, copies arrays in and out, and holds the JavaScript twins of llama.cpp's Q8_0 /
// Q4_0 block formats (quantise, dequantise, and the integer dot product of quantised activations).
import { fileURLToPath } from "node:url";
import { InferenceError } from "@dappcore/inference";
import { f16ToF32, f32ToF16 } from "../../src/dtype.js";
import { WasmArena } from "../../src/engine/kernels/wasm/wasm-arena.js";
import { loadKernels } from "../../src/engine/kernels/wasm/load-kernels.js";
import type { WasmKernels } from "../../src/engine/kernels/wasm/wasm-kernels.js";

/** Builds the .wasm if needed (quick when up to date; several test files may race safely). */
export async function ensureBuilt(): Promise<void> {
  const script = fileURLToPath(new URL("../../scripts/build-wasm.mjs", import.meta.url));
  const { buildWasm } = (await import(script)) as { buildWasm(o: { quiet: boolean }): Promise<unknown> };
  await buildWasm({ quiet: true });
}

export interface Env {
  arena: WasmArena;
  k: WasmKernels;
}

export async function makeEnv(): Promise<Env> {
  await ensureBuilt();
  const arena = new WasmArena({ initialBytes: 1 << 20 });
  return { arena, k: await loadKernels(arena.memory) };
}

/** Deterministic uniform numbers in [-1, 1) (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

export function randomF32(rng: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng() * scale;
  return out;
}

/** Copies `data` into a fresh arena buffer and returns its byte offset. */
export function put(arena: WasmArena, data: Float32Array | Uint16Array | Uint8Array | Int32Array): number {
  const ptr = arena.alloc(data.byteLength);
  arena.u8(ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return ptr;
}

/**
 * Places quantised weight blocks (O, C/32) for the WebAssembly kernels as the engine does: rewritten in place into
 * the row-interleaved layout their kernels read (kernels.interleaveQ8_0 / interleaveQ4_0).
 */
export function putQuant(arena: WasmArena, k: WasmKernels, blocks: Uint8Array, type: "Q8_0" | "Q4_0", O: number, C: number): number {
  const ptr = put(arena, blocks);
  const mark = arena.mark();
  const tmp = arena.alloc((C / 32) * 136);
  if (type === "Q8_0") k.interleaveQ8_0(ptr, tmp, O, C);
  else k.interleaveQ4_0(ptr, tmp, O, C);
  arena.release(mark);
  return ptr;
}

/**
 * The row-interleaved form of Q8_0 or Q4_0 blocks (O, C/32), written here independently of the kernels: rows in
 * groups of 4, block b of a group = the 4 rows' 2-byte scales then their quants each (32 bytes, or 16 of nibbles);
 * the last O mod 4 rows as they were.
 */
export function interleavedBlocks(blocks: Uint8Array, type: "Q8_0" | "Q4_0", O: number, C: number): Uint8Array {
  const nb = C / 32;
  const qb = type === "Q8_0" ? 32 : 16;
  const bs = qb + 2;
  const gb = 8 + 4 * qb;
  const out = new Uint8Array(blocks.length);
  const O4 = O - (O % 4);
  for (let o = 0; o < O4; o++) {
    const g = o >> 2;
    const r = o & 3;
    for (let b = 0; b < nb; b++) {
      const src = (o * nb + b) * bs;
      const dst = (g * nb + b) * gb;
      out[dst + 2 * r] = blocks[src];
      out[dst + 2 * r + 1] = blocks[src + 1];
      out.set(blocks.subarray(src + 2, src + bs), dst + 8 + qb * r);
    }
  }
  out.set(blocks.subarray(O4 * nb * bs), O4 * nb * bs);
  return out;
}

/** A float32 copy of n values at ptr. */
export function getF32(arena: WasmArena, ptr: number, n: number): Float32Array {
  return Float32Array.from(arena.f32(ptr, n));
}

/** Bit patterns of float32 values, for bitwise comparison. */
export function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(Float32Array.from(a).buffer);
}

/** Largest |a[i] − b[i]| / (scale[i] + floor). */
export function maxScaledError(a: ArrayLike<number>, b: ArrayLike<number>, scale: ArrayLike<number>, floor = 1e-30): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (scale[i] + floor));
  return worst;
}

/** Runs fn and returns the InferenceError it throws (fails the test if it throws nothing or something else). */
export function thrown(fn: () => unknown): InferenceError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InferenceError) return e;
    throw new Error(`expected an InferenceError, got ${String(e)}`);
  }
  throw new Error("expected an InferenceError, nothing was thrown");
}

/** Σ_c |x[t, c]·w[o, c]| (T, O): the scale of each dot product's rounding error. */
export function absDots(x: Float32Array, w: Float32Array, T: number, C: number, O: number): Float64Array {
  const out = new Float64Array(T * O);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.abs(x[t * C + c] * w[o * C + c]);
      out[t * O + o] = s;
    }
  }
  return out;
}

/** llama.cpp quantize_row_q8_0: per 32 values d = max|x|/127, q = round(x/d), d stored as f16. (rows·C/32·34) bytes. */
export function quantizeQ8_0(w: Float32Array, rows: number, C: number): Uint8Array {
  const nb = C / 32;
  const out = new Uint8Array(rows * nb * 34);
  const view = new DataView(out.buffer);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const src = r * C + b * 32;
      const dst = (r * nb + b) * 34;
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(w[src + j]));
      const d = Math.fround(amax / 127);
      const id = d ? Math.fround(1 / d) : 0;
      view.setUint16(dst, f32ToF16(d), true);
      for (let j = 0; j < 32; j++) view.setInt8(dst + 2 + j, Math.round(Math.fround(w[src + j] * id)));
    }
  }
  return out;
}

/**
 * llama.cpp quantize_row_q4_0: per 32 values the one of largest magnitude m, d = m / −8, q = min(15, ⌊x/d + 8.5⌋);
 * byte j holds q[j] (low nibble) and q[j + 16] (high nibble). (rows·C/32·18) bytes.
 */
export function quantizeQ4_0(w: Float32Array, rows: number, C: number): Uint8Array {
  const nb = C / 32;
  const out = new Uint8Array(rows * nb * 18);
  const view = new DataView(out.buffer);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const src = r * C + b * 32;
      const dst = (r * nb + b) * 18;
      let amax = 0;
      let m = 0;
      for (let j = 0; j < 32; j++) {
        if (Math.abs(w[src + j]) > amax) {
          amax = Math.abs(w[src + j]);
          m = w[src + j];
        }
      }
      const d = Math.fround(m / -8);
      const id = d ? Math.fround(1 / d) : 0;
      view.setUint16(dst, f32ToF16(d), true);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.trunc(Math.fround(w[src + j] * id) + 8.5));
        const hi = Math.min(15, Math.trunc(Math.fround(w[src + j + 16] * id) + 8.5));
        out[dst + 2 + j] = lo | (hi << 4);
      }
    }
  }
  return out;
}

/** The float32 values of Q8_0 (34-byte) or Q4_0 (18-byte) blocks: (rows, C). */
export function dequantize(q: Uint8Array, type: "Q8_0" | "Q4_0", rows: number, C: number): Float32Array {
  const nb = C / 32;
  const bs = type === "Q8_0" ? 34 : 18;
  const out = new Float32Array(rows * C);
  const view = new DataView(q.buffer, q.byteOffset, q.byteLength);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const p = (r * nb + b) * bs;
      const d = f16ToF32(view.getUint16(p, true));
      for (let j = 0; j < 32; j++) {
        let v: number;
        if (type === "Q8_0") v = view.getInt8(p + 2 + j);
        else v = j < 16 ? (q[p + 2 + j] & 15) - 8 : (q[p + 2 + j - 16] >> 4) - 8;
        out[r * C + b * 32 + j] = Math.fround(v * d);
      }
    }
  }
  return out;
}

/** Round half to even, as WebAssembly's f32x4.nearest. */
function nearestEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The Q8 activations the kernels make: per 32 values q (int) and the f16-rounded scale. */
export function quantizeActivations(x: Float32Array, T: number, C: number): { q: Int8Array; d: Float32Array } {
  const nb = C / 32;
  const q = new Int8Array(T * C);
  const d = new Float32Array(T * nb);
  for (let i = 0; i < T * nb; i++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i * 32 + j]));
    const s = Math.fround(amax / 127);
    const id = s ? Math.fround(1 / s) : 0;
    for (let j = 0; j < 32; j++) q[i * 32 + j] = nearestEven(Math.fround(x[i * 32 + j] * id));
    d[i] = f16ToF32(f32ToF16(s));
  }
  return { q, d };
}

/**
 * The exact twin of the quantised matmul: Σ_blocks (dw·dx)·(integer dot), in float64, with the activations
 * quantised as the kernel does. Differs from the kernel only by float32 accumulation across blocks. `seq` is the
 * same sum in float32 block by block, fl(acc + fl(isum·fl(dw·dx))): llama.cpp's reference vec_dot_q8_0_q8_0 and
 * bit for bit the prefill kernels' arithmetic.
 */
export function quantMatmulTwin(
  xq: { q: Int8Array; d: Float32Array },
  w: Uint8Array,
  type: "Q8_0" | "Q4_0",
  T: number,
  C: number,
  O: number,
): { out: Float64Array; scale: Float64Array; seq: Float32Array } {
  const nb = C / 32;
  const bs = type === "Q8_0" ? 34 : 18;
  const view = new DataView(w.buffer, w.byteOffset, w.byteLength);
  const out = new Float64Array(T * O);
  const scale = new Float64Array(T * O);
  const seq = new Float32Array(T * O);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < O; o++) {
      let s = 0;
      let a = 0;
      let f = 0;
      for (let b = 0; b < nb; b++) {
        const p = (o * nb + b) * bs;
        const dw = f16ToF32(view.getUint16(p, true));
        let isum = 0;
        for (let j = 0; j < 32; j++) {
          let v: number;
          if (type === "Q8_0") v = view.getInt8(p + 2 + j);
          else v = j < 16 ? (w[p + 2 + j] & 15) - 8 : (w[p + 2 + j - 16] >> 4) - 8;
          isum += v * xq.q[(t * nb + b) * 32 + j];
        }
        const term = Math.fround(dw * xq.d[t * nb + b]) * isum;
        s += term;
        a += Math.abs(term);
        f = Math.fround(f + Math.fround(term));
      }
      out[t * O + o] = s;
      scale[t * O + o] = a;
      seq[t * O + o] = f;
    }
  }
  return { out, scale, seq };
}
