// The WebAssembly training kernels (assembly/train-*.ts) against the plain training kernels (src/training/kernels/):
// bitwise where the operation order is the same, else within float32 rounding (relative norm error per tensor), and
// split-invariant: run through a kernel pool of 2 and 3 threads, every output has the bits of the direct call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WasmArena } from "../../src/engine/kernels/wasm/wasm-arena.js";
import { compileKernelModuleSync, loadKernelsSync } from "../../src/engine/kernels/wasm/load-kernels.js";
import { createKernelPool, type KernelPool } from "../../src/engine/threads/index.js";
import {
  attentionBackward,
  attentionForward,
  crossEntropyForwardBackward,
  gegluBackward,
  matmulBackward,
  matmulForward,
  rmsNormBackward,
  rmsNormForward,
  swigluBackward,
} from "../../src/training/kernels/index.js";
import { ensureBuilt, put, random, randomF32 } from "../kernels-wasm/helpers.js";

type Raw = Record<string, (...args: number[]) => void>;

let arena: WasmArena;
let raw: Raw;
const pools: KernelPool[] = [];

beforeAll(async () => {
  await ensureBuilt();
  arena = new WasmArena({ initialBytes: 4 << 20 });
  const module = compileKernelModuleSync();
  raw = loadKernelsSync(arena.memory, module).raw as unknown as Raw;
  for (const threads of [2, 3]) pools.push(createKernelPool({ memory: arena.memory, module, threads }));
});

afterAll(async () => {
  for (const p of pools) await p.close();
});

/** ‖a − b‖ / ‖b‖ in float64. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

interface Output {
  ptr: number;
  init: Uint8Array;
}

function output(init: Float32Array | Uint16Array): Output {
  const bytes = new Uint8Array(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength));
  return { ptr: put(arena, bytes), init: bytes };
}

const f32Of = (b: Uint8Array) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

/**
 * Runs `kernel(...args, 0, total)` directly, then through pools of 2 and 3 threads (split in multiples of grain),
 * restoring the outputs first each time; expects the same bytes from all three and returns the direct results.
 */
function runSplit(kernel: string, args: number[], total: number, grain: number, outs: Output[], scratch?: { arg: number; stride: number }): Uint8Array[] {
  const read = () => outs.map((o) => Uint8Array.from(arena.u8(o.ptr, o.init.length)));
  const reset = () => outs.forEach((o) => arena.u8(o.ptr, o.init.length).set(o.init));
  reset();
  raw[kernel](...args, 0, total);
  const direct = read();
  for (const pool of pools) {
    reset();
    pool.run(kernel, args, total, grain, scratch);
    const split = read();
    for (let i = 0; i < outs.length; i++) expect(Buffer.compare(split[i], direct[i]), `${kernel} output ${i} on ${pool.threads} threads`).toBe(0);
  }
  return direct;
}

const F = (a: ArrayLike<number>) => Float32Array.from(a);

describe("matrix kernels", () => {
  it("matmulAccF32 adds x · wᵀ to out within float32 rounding, and equals matmulF32 bitwise from zero", () => {
    const rng = random(1);
    const [T, C, O] = [7, 13, 10];
    const x = randomF32(rng, T * C);
    const w = randomF32(rng, O * C);
    const out0 = randomF32(rng, T * O);
    const out = output(out0);
    const [got] = runSplit("matmulAccF32", [out.ptr, put(arena, x), put(arena, w), T, C, O, C, C], O, 4, [out]);
    const prod = new Float32Array(T * O);
    matmulForward(prod, x, w, undefined, T, C, O);
    expect(relErr(f32Of(got), prod.map((v, i) => v + out0[i]))).toBeLessThan(1e-6);
    const zero = output(new Float32Array(T * O));
    const plain = output(new Float32Array(T * O));
    const [acc] = runSplit("matmulAccF32", [zero.ptr, put(arena, x), put(arena, w), T, C, O, C, C], O, 4, [zero]);
    const [mm] = runSplit("matmulF32", [plain.ptr, put(arena, x), put(arena, w), T, C, O], O, 4, [plain]);
    expect(Buffer.compare(acc, mm)).toBe(0);
  });

  it("matmulAccF32 reads C columns of wider rows (ldx, ldw): the chunks of a weight gradient", () => {
    const rng = random(2);
    const [T, C, O, ldx, ldw] = [5, 9, 6, 14, 11];
    const x = randomF32(rng, T * ldx);
    const w = randomF32(rng, O * ldw);
    const out = output(new Float32Array(T * O));
    const [got] = runSplit("matmulAccF32", [out.ptr, put(arena, x), put(arena, w), T, C, O, ldx, ldw], O, 4, [out]);
    const xs = new Float32Array(T * C);
    const ws = new Float32Array(O * C);
    for (let t = 0; t < T; t++) for (let c = 0; c < C; c++) xs[t * C + c] = x[t * ldx + c];
    for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) ws[o * C + c] = w[o * ldw + c];
    const want = new Float32Array(T * O);
    matmulForward(want, xs, ws, undefined, T, C, O);
    expect(relErr(f32Of(got), want)).toBeLessThan(1e-6);
  });

  it("transposeF32 and transpose16 transpose exactly", () => {
    const rng = random(3);
    const [R, C] = [9, 7];
    const x = randomF32(rng, R * C);
    const out = output(new Float32Array(R * C));
    const [got] = runSplit("transposeF32", [out.ptr, put(arena, x), R, C], R, 4, [out]);
    const want = new Float32Array(R * C);
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) want[c * R + r] = x[r * C + c];
    expect(Array.from(f32Of(got))).toEqual(Array.from(want));
    const h = Uint16Array.from({ length: R * C }, (_, i) => (i * 2654435761) >>> 16);
    const out16 = output(new Uint16Array(R * C));
    const [got16] = runSplit("transpose16", [out16.ptr, put(arena, h), R, C], R, 8, [out16]);
    const want16 = new Uint16Array(R * C);
    for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) want16[c * R + r] = h[r * C + c];
    expect(Array.from(new Uint16Array(got16.buffer.slice(0)))).toEqual(Array.from(want16));
  });

  it("biasGrad adds the column sums of dY; addBias adds the bias to every row exactly", () => {
    const rng = random(4);
    const [T, O] = [9, 11];
    const dY = randomF32(rng, T * O);
    const dB0 = randomF32(rng, O);
    const dB = output(dB0);
    const [got] = runSplit("biasGrad", [dB.ptr, put(arena, dY), T, O], O, 4, [dB]);
    const want = F(dB0);
    matmulBackward(undefined, undefined, want, dY, new Float32Array(T), new Float32Array(O), T, 1, O);
    expect(relErr(f32Of(got), want)).toBeLessThan(1e-6);
    const bias = randomF32(rng, O);
    const out = output(dY);
    const [added] = runSplit("addBias", [out.ptr, put(arena, bias), O], T, 1, [out]);
    expect(Array.from(f32Of(added))).toEqual(Array.from(dY, (v, i) => Math.fround(v + bias[i % O])));
  });
});

describe("element-wise kernels", () => {
  it("scaleF32, mulF32 and mulAddF32 round each element once, as float32 arithmetic does", () => {
    const rng = random(5);
    const N = 11;
    const a = randomF32(rng, N);
    const b = randomF32(rng, N);
    const o0 = randomF32(rng, N);
    const s1 = output(new Float32Array(N));
    const [scaled] = runSplit("scaleF32", [s1.ptr, put(arena, a), 0.375], N, 4, [s1]);
    expect(Array.from(f32Of(scaled))).toEqual(Array.from(a, (v) => Math.fround(v * 0.375)));
    const m = output(new Float32Array(N));
    const [mul] = runSplit("mulF32", [m.ptr, put(arena, a), put(arena, b)], N, 4, [m]);
    expect(Array.from(f32Of(mul))).toEqual(Array.from(a, (v, i) => Math.fround(v * b[i])));
    const ma = output(o0);
    const [mulAdd] = runSplit("mulAddF32", [ma.ptr, put(arena, a), put(arena, b)], N, 4, [ma]);
    expect(Array.from(f32Of(mulAdd))).toEqual(Array.from(a, (v, i) => Math.fround(o0[i] + Math.fround(v * b[i]))));
  });

  for (const [name, plain] of [["swigluBackward", swigluBackward], ["gegluBackward", gegluBackward]] as const) {
    it(`${name} matches the plain backward`, () => {
      const rng = random(6);
      const N = 23;
      const gate = randomF32(rng, N, 4);
      const up = randomF32(rng, N);
      const dOut = randomF32(rng, N);
      const dGate = output(randomF32(rng, N)); // overwritten
      const dUp = output(randomF32(rng, N));
      const [g, u] = runSplit(name, [dGate.ptr, dUp.ptr, put(arena, dOut), put(arena, gate), put(arena, up)], N, 4, [dGate, dUp]);
      const wantG = new Float32Array(N);
      const wantU = new Float32Array(N);
      plain(wantG, wantU, dOut, gate, up, N);
      expect(relErr(f32Of(g), wantG)).toBeLessThan(2e-6);
      expect(relErr(f32Of(u), wantU)).toBeLessThan(2e-6);
    });
  }
});

describe("rmsNorm kernels", () => {
  for (const plusOne of [false, true]) {
    it(`rmsNormSave, rmsNormBackward and rmsNormGradW match the plain kernels${plusOne ? " (1 + w)" : ""}`, () => {
      const rng = random(plusOne ? 7 : 8);
      const [N, C] = [6, 11];
      const x = randomF32(rng, N * C, 2);
      const w = randomF32(rng, C);
      const eps = 1e-5;
      const out = output(new Float32Array(N * C));
      const inv = output(new Float32Array(N));
      const [y, r] = runSplit("rmsNormSave", [out.ptr, inv.ptr, put(arena, x), put(arena, w), C, eps, plusOne ? 1 : 0], N, 1, [out, inv]);
      const wantY = new Float32Array(N * C);
      const wantR = new Float32Array(N);
      rmsNormForward(wantY, wantR, x, w, N, C, eps, plusOne);
      expect(relErr(f32Of(y), wantY)).toBeLessThan(1e-6);
      expect(relErr(f32Of(r), wantR)).toBeLessThan(1e-6);

      const dOut = randomF32(rng, N * C);
      const dX0 = randomF32(rng, N * C);
      const dW0 = randomF32(rng, C);
      const dX = output(dX0);
      const dW = output(dW0);
      const args = [put(arena, dOut), put(arena, x), put(arena, wantR)];
      const [gx] = runSplit("rmsNormBackward", [dX.ptr, ...args, put(arena, w), C, plusOne ? 1 : 0], N, 1, [dX]);
      const [gw] = runSplit("rmsNormGradW", [dW.ptr, ...args, N, C], C, 4, [dW]);
      const wantX = F(dX0);
      const wantW = F(dW0);
      rmsNormBackward(wantX, wantW, dOut, x, wantR, w, N, C, plusOne);
      expect(relErr(f32Of(gx), wantX)).toBeLessThan(1e-6);
      expect(relErr(f32Of(gw), wantW)).toBeLessThan(1e-6);
    });
  }
});

describe("attention kernels", () => {
  const shapes = [
    { name: "D 6, full", D: 6, window: 0, cap: 0 },
    { name: "D 16, sliding window 3", D: 16, window: 3, cap: 0 },
    { name: "D 20, soft-capped", D: 20, window: 0, cap: 2.5 },
  ];
  for (const { name, D, window, cap } of shapes) {
    it(`attentionTrain, attentionDelta and attentionBackward match the plain kernels (${name})`, () => {
      const rng = random(9 + D);
      const [B, T, H, G] = [2, 9, 4, 2];
      const scale = 1 / Math.sqrt(D);
      const q = randomF32(rng, B * T * H * D, 1.5);
      const k = randomF32(rng, B * T * G * D, 1.5);
      const v = randomF32(rng, B * T * G * D);
      const [qp, kp, vp] = [q, k, v].map((a) => put(arena, a));
      const out = output(new Float32Array(B * T * H * D));
      const stats = output(new Float32Array(B * T * H * 2));
      const scratch = arena.alloc(3 * 2 * T * 4);
      const [o, st] = runSplit(
        "attentionTrain", [out.ptr, stats.ptr, qp, kp, vp, scratch, T, H, G, D, window, scale, cap], B * H, 1, [out, stats], { arg: 5, stride: 2 * T * 4 },
      );
      const wantO = new Float32Array(B * T * H * D);
      const wantL = new Float32Array(B * T * H);
      attentionForward(wantO, wantL, q, k, v, new Float64Array(T), B, T, H, G, D, window, scale, cap);
      expect(relErr(f32Of(o), wantO)).toBeLessThan(2e-6);
      const lse = f32Of(st).filter((_, i) => i % 2 === 0);
      expect(relErr(lse, wantL)).toBeLessThan(1e-6);

      const dOut = randomF32(rng, B * T * H * D);
      const dOutP = put(arena, dOut);
      arena.u8(stats.ptr, st.length).set(st);
      const withLse = new Uint8Array(st);
      const statsD: Output = { ptr: stats.ptr, init: withLse };
      const [sd] = runSplit("attentionDelta", [stats.ptr, dOutP, out.ptr, D], B * T * H, 1, [statsD]);
      const delta = f32Of(sd).filter((_, i) => i % 2 === 1);
      const wantDelta = new Float32Array(B * T * H).map((_, n) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += dOut[n * D + d] * wantO[n * D + d];
        return s;
      });
      expect(relErr(delta, wantDelta)).toBeLessThan(1e-5);
      arena.u8(stats.ptr, sd.length).set(sd);
      arena.u8(out.ptr, o.length).set(o);

      const dQ0 = randomF32(rng, B * T * H * D);
      const dK0 = randomF32(rng, B * T * G * D);
      const dV0 = randomF32(rng, B * T * G * D);
      const [dQ, dK, dV] = [dQ0, dK0, dV0].map(output);
      const [gq, gk, gv] = runSplit(
        "attentionBackward",
        [dQ.ptr, dK.ptr, dV.ptr, dOutP, qp, kp, vp, stats.ptr, scratch, T, H, G, D, window, scale, cap],
        B * G, 1, [dQ, dK, dV], { arg: 8, stride: 2 * T * 4 },
      );
      const [wq, wk, wv] = [F(dQ0), F(dK0), F(dV0)];
      attentionBackward(wq, wk, wv, dOut, q, k, v, wantO, wantL, B, T, H, G, D, window, scale, cap);
      // Compare the gradients themselves (the accumulated starting values would hide their error).
      const less = (a: Float32Array, b: Float32Array) => a.map((x, i) => x - b[i]);
      expect(relErr(less(f32Of(gq), dQ0), less(wq, dQ0))).toBeLessThan(1e-5);
      expect(relErr(less(f32Of(gk), dK0), less(wk, dK0))).toBeLessThan(1e-5);
      expect(relErr(less(f32Of(gv), dV0), less(wv, dV0))).toBeLessThan(1e-5);
    });
  }
});

describe("crossEntropy", () => {
  it("gives each counted row's loss and the gradient of the mean, zero rows where the mask is 0", () => {
    const rng = random(20);
    const [N, V] = [5, 37];
    const logits = randomF32(rng, N * V, 4);
    const targets = Int32Array.from([3, 0, 36, 17, 5]);
    const mask = Float32Array.from([1, 0, 1, 1, 0]);
    const d = output(randomF32(rng, N * V));
    const loss = output(randomF32(rng, N));
    const [g, l] = runSplit(
      "crossEntropy", [d.ptr, loss.ptr, put(arena, logits), put(arena, targets), put(arena, mask), 1 / 3, V], N, 1, [d, loss],
    );
    const want = new Float32Array(N * V);
    const wantLoss = crossEntropyForwardBackward(want, logits, targets, mask, N, V);
    expect(relErr(f32Of(g), want)).toBeLessThan(1e-6);
    const rows = f32Of(l);
    expect(rows[1]).toBe(0);
    expect(rows[4]).toBe(0);
    expect(Math.abs((rows[0] + rows[2] + rows[3]) / 3 - wantLoss)).toBeLessThan(1e-6 * wantLoss);
    expect(Array.from(f32Of(g).slice(V, 2 * V)).every((x) => x === 0)).toBe(true);
  });
});
