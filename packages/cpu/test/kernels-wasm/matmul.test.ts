// The WebAssembly matmuls (F32, F16, BF16, Q8_0, Q4_0) against their twins: the reference kernels for the float
// types, the dequantise-then-float and exact integer twins for the quantised ones; row splits give identical bits;
// every bad argument fails with a typed error.
import { beforeAll, describe, expect, it } from "vitest";
import { f32ToBf16, f32ToF16 } from "../../src/dtype.js";
import { matmulBF16, matmulF16, matmulF32 } from "../../src/engine/kernels/reference/index.js";
import { bf16Table, f16Table } from "../../src/engine/kernels/reference/half-tables.js";
import { prefillScratchBytes, q8ActivationBytes, quantPrefillScratchBytes } from "../../src/engine/kernels/wasm/quant-layout.js";
import { PANEL, toPanels } from "../../src/engine/relayout.js";
import {
  absDots,
  bits,
  dequantize,
  getF32,
  interleavedBlocks,
  makeEnv,
  maxScaledError,
  put,
  putQuant,
  quantizeActivations,
  quantizeQ4_0,
  quantizeQ8_0,
  quantMatmulTwin,
  random,
  randomF32,
  thrown,
  type Env,
} from "./helpers.js";

let env: Env;
beforeAll(async () => {
  env = await makeEnv();
});

type FloatType = "F32" | "F16" | "BF16";
const sizes: Array<[number, number, number]> = [
  [1, 1, 1],
  [1, 5, 7],
  [1, 37, 9],
  [3, 64, 7],
  [3, 33, 1],
  [17, 19, 13],
  [2, 576, 24],
  [17, 96, 33],
  // C mod 16 = 8 and 24 channels of scalar tail after the 16-wide steps; T = 1 decode over many rows; T = 3 takes
  // the 4 × 2 tile then the 4 × 1 tile for the last token and 1 × 1 for the last row; C = 45 (T > 1) a last
  // chunk of 4 channels after the 8-wide steps, then one scalar channel.
  [1, 600, 70],
  [3, 40, 9],
  [5, 45, 10],
];

function encode(w: Float32Array, type: FloatType): Float32Array | Uint16Array {
  if (type === "F32") return w;
  const conv = type === "F16" ? f32ToF16 : f32ToBf16;
  return Uint16Array.from(w, (v) => conv(v));
}

/** The float32 values the kernel sees for weights stored as `type`. */
function decoded(w: Float32Array | Uint16Array, type: FloatType): Float32Array {
  if (type === "F32") return w as Float32Array;
  const lut = type === "F16" ? f16Table() : bf16Table();
  return Float32Array.from(w as Uint16Array, (b) => lut[b]);
}

function reference(type: FloatType, out: Float32Array, x: Float32Array, w: Float32Array | Uint16Array, T: number, C: number, O: number) {
  if (type === "F32") matmulF32(out, x, w as Float32Array, T, C, O);
  else if (type === "F16") matmulF16(out, x, w as Uint16Array, T, C, O);
  else matmulBF16(out, x, w as Uint16Array, T, C, O);
}

function wasmMatmul(type: FloatType, out: number, x: number, w: number, T: number, C: number, O: number, o0?: number, o1?: number) {
  const { k } = env;
  if (type === "F32") k.matmulF32(out, x, w, T, C, O, o0, o1);
  else if (type === "F16") k.matmulF16(out, x, w, T, C, O, o0, o1);
  else k.matmulBF16(out, x, w, T, C, O, o0, o1);
}

describe("wasm matmul over float weights", () => {
  for (const type of ["F32", "F16", "BF16"] as FloatType[]) {
    for (const [T, C, O] of sizes) {
      it(`${type} T=${T} C=${C} O=${O} agrees with the reference`, () => {
        const { arena } = env;
        const mark = arena.mark();
        const rng = random(T * 1000 + C * 10 + O);
        const x = randomF32(rng, T * C);
        const w = encode(randomF32(rng, O * C, 0.5), type);
        const want = new Float32Array(T * O);
        reference(type, want, x, w, T, C, O);
        const px = put(arena, x);
        const pw = put(arena, w);
        const po = arena.alloc(T * O * 4);
        wasmMatmul(type, po, px, pw, T, C, O);
        const got = getF32(arena, po, T * O);
        const scale = absDots(x, decoded(w, type), T, C, O);
        expect(maxScaledError(got, want, scale)).toBeLessThan(C * 2 ** -23);
        arena.release(mark);
      });
    }
  }

  it("F16 subnormal and signed weights are widened exactly", () => {
    const { arena } = env;
    const mark = arena.mark();
    const C = 45;
    const O = 6;
    const T = 2;
    // Subnormal halves (exponent 0) of both signs, the smallest normal, zero and negative zero.
    const w = new Uint16Array(O * C);
    for (let i = 0; i < w.length; i++) {
      const kind = i % 5;
      w[i] = kind === 0 ? (i * 37) & 0x3ff : kind === 1 ? 0x8000 | ((i * 11) & 0x3ff) : kind === 2 ? 0x0400 : kind === 3 ? 0x8000 : 0x83ff;
    }
    // Every weight is a multiple of 2^-24 below 2^-13 and x holds small powers of two, so every product and sum
    // is exact in float32: the result must equal the reference bit for bit.
    const x = new Float32Array(T * C).fill(0);
    for (let c = 0; c < C; c++) x[c] = 2 ** (c % 3);
    x[C + 4] = 1;
    const want = new Float32Array(T * O);
    matmulF16(want, x, w, T, C, O);
    const po = arena.alloc(T * O * 4);
    env.k.matmulF16(po, put(arena, x), put(arena, w), T, C, O);
    const got = getF32(arena, po, T * O);
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(want.some((v) => v !== 0 && Math.abs(v) < 2 ** -14)).toBe(true);
    arena.release(mark);
  });

  for (const type of ["F32", "F16", "BF16"] as FloatType[]) {
    // F16/BF16 prefill (T > 1) has its own summation order (a 4-row tile, one accumulator per element) and decode
    // (T = 1) another (four accumulators streaming one row), so only F32 promises T = 1 the bits of T > 1.
    const crossT = type === "F32";
    it(`${type}: any split into row ranges gives the bits of one full call${crossT ? ", and T = 1 the bits of T > 1" : ""}`, () => {
      const { arena } = env;
      const mark = arena.mark();
      const [T, C, O] = [5, 71, 23];
      const rng = random(7);
      const x = randomF32(rng, T * C);
      const w = encode(randomF32(rng, O * C), type);
      const px = put(arena, x);
      const pw = put(arena, w);
      const full = arena.alloc(T * O * 4);
      wasmMatmul(type, full, px, pw, T, C, O);
      for (const cuts of [[0, 1, 6, 11, 23], [0, 3, 4, 5, 22, 23], [0, 23]]) {
        const part = arena.alloc(T * O * 4);
        for (let i = 0; i + 1 < cuts.length; i++) wasmMatmul(type, part, px, pw, T, C, O, cuts[i], cuts[i + 1]);
        expect(bits(getF32(arena, part, T * O))).toEqual(bits(getF32(arena, full, T * O)));
      }
      const fullOut = getF32(arena, full, T * O);
      for (let t = 0; t < T; t++) {
        const one = arena.alloc(O * 4);
        wasmMatmul(type, one, px + t * C * 4, pw, 1, C, O);
        const cuts1 = arena.alloc(O * 4);
        for (const [a, b] of [[0, 5], [5, 6], [6, O]]) wasmMatmul(type, cuts1, px + t * C * 4, pw, 1, C, O, a, b);
        expect(bits(getF32(arena, cuts1, O))).toEqual(bits(getF32(arena, one, O)));
        if (crossT) expect(bits(getF32(arena, one, O))).toEqual(bits(fullOut.subarray(t * O, (t + 1) * O)));
      }
      arena.release(mark);
    });
  }
});

describe("wasm matmul over Q8_0 and Q4_0 weights", () => {
  for (const type of ["Q8_0", "Q4_0"] as const) {
    for (const [T, C, O] of [[1, 32, 1], [1, 64, 7], [3, 96, 5], [17, 64, 9], [2, 576, 12], [1, 1536, 37]] as Array<[number, number, number]>) {
      it(`${type} T=${T} C=${C} O=${O} agrees with its integer twin and with dequantised float32 weights`, () => {
        const { arena, k } = env;
        const mark = arena.mark();
        const rng = random(C + O + T + (type === "Q8_0" ? 1 : 2));
        const x = randomF32(rng, T * C);
        const wf = randomF32(rng, O * C, 0.3);
        const wq = type === "Q8_0" ? quantizeQ8_0(wf, O, C) : quantizeQ4_0(wf, O, C);
        const px = put(arena, x);
        const pw = putQuant(arena, k, wq, type, O, C);
        const pxq = arena.alloc(q8ActivationBytes(T, C));
        const po = arena.alloc(T * O * 4);
        k.quantizeQ8Activations(pxq, px, T, C);
        if (type === "Q8_0") k.matmulQ8_0(po, pxq, pw, T, C, O);
        else k.matmulQ4_0(po, pxq, pw, T, C, O);
        const got = getF32(arena, po, T * O);

        // Exact twin: the same quantised activations, integer dots, float64 sums; and the float32 block-by-block sum
        // of the twin's `seq` (llama.cpp's reference arithmetic), bit for bit.
        const twin = quantMatmulTwin(quantizeActivations(x, T, C), wq, type, T, C, O);
        expect(maxScaledError(got, twin.out, twin.scale)).toBeLessThan((C / 32 + 4) * 2 ** -23);
        expect(bits(got)).toEqual(bits(twin.seq));

        // Against float32 x and dequantised weights: the activation rounding is at most half a step, max|x|/254
        // per block, plus the f16 rounding of its scale (2^-11 relative).
        const wd = dequantize(wq, type, O, C);
        const want = new Float32Array(T * O);
        matmulF32(want, x, wd, T, C, O);
        const nb = C / 32;
        for (let t = 0; t < T; t++) {
          for (let o = 0; o < O; o++) {
            let bound = 0;
            for (let b = 0; b < nb; b++) {
              let amax = 0;
              let wsum = 0;
              for (let j = 0; j < 32; j++) {
                const c = b * 32 + j;
                amax = Math.max(amax, Math.abs(x[t * C + c]));
                wsum += Math.abs(wd[o * C + c]);
              }
              bound += wsum * (amax / 254 + amax * 2 ** -11);
            }
            expect(Math.abs(got[t * O + o] - want[t * O + o])).toBeLessThanOrEqual(bound * 1.01 + 1e-6);
          }
        }
        arena.release(mark);
      });
    }

    it(`${type}: row splits give the bits of one full call, and T = 1 the bits of T > 1`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const [T, C, O] = [5, 128, 13];
      const rng = random(99);
      const x = randomF32(rng, T * C);
      const wf = randomF32(rng, O * C);
      const wq = type === "Q8_0" ? quantizeQ8_0(wf, O, C) : quantizeQ4_0(wf, O, C);
      const pw = putQuant(arena, k, wq, type, O, C);
      const pxq = arena.alloc(q8ActivationBytes(T, C));
      const px = put(arena, x);
      k.quantizeQ8Activations(pxq, px, T, C, 0, 2);
      k.quantizeQ8Activations(pxq, px, T, C, 2, T);
      const run = (out: number, xq: number, TT: number, o0?: number, o1?: number) =>
        type === "Q8_0" ? k.matmulQ8_0(out, xq, pw, TT, C, O, o0, o1) : k.matmulQ4_0(out, xq, pw, TT, C, O, o0, o1);
      const full = arena.alloc(T * O * 4);
      run(full, pxq, T);
      const part = arena.alloc(T * O * 4);
      // Row ranges keep the groups of 4 rows whole (row 12 is the ungrouped last O mod 4).
      for (const [a, b] of [[0, 4], [4, 12], [12, 13]]) run(part, pxq, T, a, b);
      const fullOut = getF32(arena, full, T * O);
      expect(bits(getF32(arena, part, T * O))).toEqual(bits(fullOut));
      for (let t = 0; t < T; t++) {
        const xq1 = arena.alloc(q8ActivationBytes(1, C));
        k.quantizeQ8Activations(xq1, px + t * C * 4, 1, C);
        const one = arena.alloc(O * 4);
        run(one, xq1, 1);
        expect(bits(getF32(arena, one, O))).toEqual(bits(fullOut.subarray(t * O, (t + 1) * O)));
      }
      arena.release(mark);
    });
  }

  it("quantizeQ8Activations matches llama.cpp's Q8_0 rounding, zero blocks included", () => {
    const { arena, k } = env;
    const mark = arena.mark();
    const [T, C] = [2, 64];
    const x = randomF32(random(5), T * C, 3);
    x.fill(0, 32, 64); // one all-zero block: scale 0, values 0
    const pxq = arena.alloc(q8ActivationBytes(T, C));
    k.quantizeQ8Activations(pxq, put(arena, x), T, C);
    const want = quantizeActivations(x, T, C);
    expect(Array.from(arena.u16(pxq, T * C), (v) => (v << 16) >> 16)).toEqual(Array.from(want.q));
    expect(Array.from(arena.f32(pxq + T * C * 2, T * 2))).toEqual(Array.from(want.d));
    expect(want.d[1]).toBe(0);
    arena.release(mark);
  });
});

describe("wasm matmul argument errors", () => {
  it("rejects bad dimensions, row ranges, unaligned blocks and buffers outside the memory", () => {
    const { arena, k } = env;
    const p = arena.alloc(4096);
    let e = thrown(() => k.matmulF32(p, p, p, 0, 4, 4));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.matmulF32: T must be a positive integer, got 0");
    e = thrown(() => k.matmulBF16(p, p, p, 1, 4, 4, 2, 5));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.matmulBF16: output row range [2, 5) must lie within [0, 4]");
    e = thrown(() => k.matmulF16(p, p, p, 1, 4, 4, 3, 2));
    expect(e.message).toBe("cpu.kernels.matmulF16: output row range [3, 2) must lie within [0, 4]");
    e = thrown(() => k.matmulQ8_0(p, p, p, 1, 48, 4));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.matmulQ8_0: C must be a multiple of 32 for quantised blocks, got 48");
    e = thrown(() => k.quantizeQ8Activations(p, p, 1, 33));
    expect(e.message).toBe("cpu.kernels.quantizeQ8Activations: C must be a multiple of 32 for quantised blocks, got 33");
    const cap = arena.capacity;
    e = thrown(() => k.matmulF32(p, p, cap - 8, 1, 4, 4));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe(`cpu.kernels.matmulF32: w (64 bytes at offset ${cap - 8}) lies outside the WebAssembly memory (${cap} bytes)`);
    e = thrown(() => k.matmulQ4_0(p, -4, p, 1, 32, 1));
    expect(e.message).toBe("cpu.kernels.matmulQ4_0: xq must be a non-negative byte offset, got -4");
  });
});

describe("wasm prefill matmuls (weights widened a block of rows at a time into scratch)", () => {
  type PrefillType = "F16" | "BF16";
  const prefillSizes: Array<[number, number, number]> = [[1, 32, 1], [2, 64, 7], [9, 96, 33], [17, 576, 40], [8, 160, 16]];

  function weightsFor(type: PrefillType, wf: Float32Array, O: number, C: number): { stored: Uint16Array; dense: Float32Array } {
    const stored = encode(wf, type) as Uint16Array;
    return { stored, dense: decoded(stored, type) };
  }

  function prefill(type: PrefillType, out: number, x: number, w: number, s: number, T: number, C: number, O: number, o0?: number, o1?: number) {
    const { k } = env;
    if (type === "F16") k.matmulF16Prefill(out, x, w, s, T, C, O, o0, o1);
    else k.matmulBF16Prefill(out, x, w, s, T, C, O, o0, o1);
  }

  for (const type of ["F16", "BF16"] as PrefillType[]) {
    // C a multiple of 4: groups of 4 rows interleaved (C = 100: a last chunk of 4 after the 8-wide widening steps;
    // O = 7, 33, 11: rows left over after the groups). C = 45 and 13: row-major, a scalar tail after the 8-wide
    // widening steps and matmulF32's 4-wide ones.
    for (const [T, C, O] of [...prefillSizes, [5, 100, 11], [3, 45, 10], [10, 13, 19]] as Array<[number, number, number]>) {
      it(`${type} T=${T} C=${C} O=${O} gives the bits of matmulF32 over the widened weights`, () => {
        const { arena, k } = env;
        const mark = arena.mark();
        const rng = random(T * 31 + C + O);
        const x = randomF32(rng, T * C);
        const { stored, dense } = weightsFor(type, randomF32(rng, O * C, 0.4), O, C);
        const px = put(arena, x);
        const scratch = arena.alloc(prefillScratchBytes(C));
        const po = arena.alloc(T * O * 4);
        prefill(type, po, px, put(arena, stored), scratch, T, C, O);
        const pf = arena.alloc(T * O * 4);
        k.matmulF32(pf, px, put(arena, dense), T, C, O);
        const got = getF32(arena, po, T * O);
        expect(bits(got)).toEqual(bits(getF32(arena, pf, T * O)));
        // And the float64 reference over the same dense weights, within float32 rounding.
        const want = new Float32Array(T * O);
        matmulF32(want, x, dense, T, C, O);
        expect(maxScaledError(got, want, absDots(x, dense, T, C, O))).toBeLessThan(C * 2 ** -23);
        arena.release(mark);
      });
    }

    it(`${type}: any split into row ranges (across block edges) gives the bits of one full call`, () => {
      const { arena } = env;
      const mark = arena.mark();
      const [T, C, O] = [9, 96, 45];
      const rng = random(123);
      const px = put(arena, randomF32(rng, T * C));
      const pw = put(arena, weightsFor(type, randomF32(rng, O * C), O, C).stored);
      const scratch = arena.alloc(prefillScratchBytes(C));
      const full = arena.alloc(T * O * 4);
      prefill(type, full, px, pw, scratch, T, C, O);
      for (const cuts of [[0, 1, 6, 17, 33, 45], [0, 3, 4, 20, 44, 45], [0, 16, 32, 45]]) {
        const part = arena.alloc(T * O * 4);
        for (let i = 0; i + 1 < cuts.length; i++) prefill(type, part, px, pw, scratch, T, C, O, cuts[i], cuts[i + 1]);
        expect(bits(getF32(arena, part, T * O))).toEqual(bits(getF32(arena, full, T * O)));
      }
      arena.release(mark);
    });
  }

  it("rejects a scratch outside the memory and a bad row range", () => {
    const { arena, k } = env;
    const p = arena.alloc(4096);
    const cap = arena.capacity;
    let e = thrown(() => k.matmulBF16Prefill(p, p, p, cap - 64, 2, 8, 4));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe(
      `cpu.kernels.matmulBF16Prefill: scratch (${prefillScratchBytes(8)} bytes at offset ${cap - 64}) lies outside the WebAssembly memory (${cap} bytes)`,
    );
    e = thrown(() => k.matmulF16Prefill(p, p, p, p, 2, 4, 4, 3, 2));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.matmulF16Prefill: output row range [3, 2) must lie within [0, 4]");
  });
});

describe("wasm quantised prefill matmuls (4 weight rows widened to int16 at a time into scratch)", () => {
  type QuantType = "Q8_0" | "Q4_0";
  function prefill(type: QuantType, out: number, xq: number, w: number, s: number, T: number, C: number, O: number, o0?: number, o1?: number) {
    const { k } = env;
    if (type === "Q8_0") k.matmulQ8_0Prefill(out, xq, w, s, T, C, O, o0, o1);
    else k.matmulQ4_0Prefill(out, xq, w, s, T, C, O, o0, o1);
  }

  for (const type of ["Q8_0", "Q4_0"] as QuantType[]) {
    // O = 1, 5, 7, 33: groups of 4 rows with 1 to 3 rows left over; odd T: the last token alone.
    for (const [T, C, O] of [[1, 32, 1], [2, 64, 5], [9, 96, 33], [17, 576, 40], [8, 160, 7], [3, 1536, 12]] as Array<[number, number, number]>) {
      it(`${type} T=${T} C=${C} O=${O} is bit for bit the float32 block-by-block sum of exact integer dots`, () => {
        const { arena, k } = env;
        const mark = arena.mark();
        const rng = random(T * 17 + C + O + (type === "Q8_0" ? 0 : 1));
        const x = randomF32(rng, T * C, 2);
        const wq = type === "Q8_0" ? quantizeQ8_0(randomF32(rng, O * C, 0.3), O, C) : quantizeQ4_0(randomF32(rng, O * C, 0.3), O, C);
        const pxq = arena.alloc(q8ActivationBytes(T, C));
        k.quantizeQ8Activations(pxq, put(arena, x), T, C);
        const po = arena.alloc(T * O * 4);
        prefill(type, po, pxq, putQuant(arena, k, wq, type, O, C), arena.alloc(quantPrefillScratchBytes(C)), T, C, O);
        const got = getF32(arena, po, T * O);
        const twin = quantMatmulTwin(quantizeActivations(x, T, C), wq, type, T, C, O);
        expect(bits(got)).toEqual(bits(twin.seq));
        // And the float64 sum within float32 accumulation error.
        expect(maxScaledError(got, twin.out, twin.scale)).toBeLessThan((C / 32 + 4) * 2 ** -23);
        arena.release(mark);
      });
    }

    it(`${type}: any split into row ranges gives the bits of one full call; the scratch is reused freely`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const [T, C, O] = [7, 128, 23];
      const rng = random(321);
      const pxq = arena.alloc(q8ActivationBytes(T, C));
      k.quantizeQ8Activations(pxq, put(arena, randomF32(rng, T * C)), T, C);
      const wf = randomF32(rng, O * C);
      const pw = putQuant(arena, k, type === "Q8_0" ? quantizeQ8_0(wf, O, C) : quantizeQ4_0(wf, O, C), type, O, C);
      const scratch = arena.alloc(quantPrefillScratchBytes(C));
      arena.u8(scratch, quantPrefillScratchBytes(C)).fill(0x5a); // stale bytes must not leak into results
      const full = arena.alloc(T * O * 4);
      prefill(type, full, pxq, pw, scratch, T, C, O);
      // Cuts at multiples of 4 below 20, anywhere among the ungrouped rows 20 .. 22.
      for (const cuts of [[0, 4, 20, 21, 23], [0, 8, 12, 22, 23], [0, 4, 8, 23]]) {
        const part = arena.alloc(T * O * 4);
        for (let i = 0; i + 1 < cuts.length; i++) prefill(type, part, pxq, pw, scratch, T, C, O, cuts[i], cuts[i + 1]);
        expect(bits(getF32(arena, part, T * O))).toEqual(bits(getF32(arena, full, T * O)));
      }
      arena.release(mark);
    });
  }

  it("rejects unaligned blocks, a scratch outside the memory and a bad row range", () => {
    const { arena, k } = env;
    const p = arena.alloc(4096);
    const cap = arena.capacity;
    let e = thrown(() => k.matmulQ8_0Prefill(p, p, p, p, 2, 48, 4));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.matmulQ8_0Prefill: C must be a multiple of 32 for quantised blocks, got 48");
    e = thrown(() => k.matmulQ4_0Prefill(p, p, p, cap - 64, 2, 32, 4));
    expect(e.message).toBe(
      `cpu.kernels.matmulQ4_0Prefill: scratch (${quantPrefillScratchBytes(32)} bytes at offset ${cap - 64}) lies outside the WebAssembly memory (${cap} bytes)`,
    );
    e = thrown(() => k.matmulQ4_0Prefill(p, p, p, p, 2, 32, 4, 4, 5));
    expect(e.message).toBe("cpu.kernels.matmulQ4_0Prefill: output row range [4, 5) must lie within [0, 4]");
    e = thrown(() => k.matmulQ8_0Prefill(p, p, p, p, 2, 32, 9, 2, 9));
    expect(e.message).toBe("cpu.kernels.matmulQ8_0Prefill: o0 (2) must be a multiple of 4 below 8: row-interleaved blocks keep rows in groups of 4");
  });
});

describe("row-interleaved Q8_0 and Q4_0 (interleaveQ8_0, interleaveQ4_0)", () => {
  for (const type of ["Q8_0", "Q4_0"] as const) {
    for (const [O, C] of [[1, 32], [4, 64], [7, 96], [13, 576]] as Array<[number, number]>) {
      it(`${type} O=${O} C=${C}: groups of 4 rows, block by block, the last O mod 4 rows as they were; in place`, () => {
        const { arena, k } = env;
        const mark = arena.mark();
        const w = randomF32(random(O * 31 + C), O * C);
        const blocks = type === "Q8_0" ? quantizeQ8_0(w, O, C) : quantizeQ4_0(w, O, C);
        const pw = putQuant(arena, k, blocks, type, O, C);
        expect(arena.u8(pw, blocks.length)).toEqual(interleavedBlocks(blocks, type, O, C));
        arena.release(mark);
      });
    }

    it(`${type}: decode and prefill give the same bits, and the bits of the reference arithmetic`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const [T, C, O] = [3, 160, 11];
      const rng = random(77);
      const x = randomF32(rng, T * C, 3);
      const wf = randomF32(rng, O * C, 0.3);
      const wq = type === "Q8_0" ? quantizeQ8_0(wf, O, C) : quantizeQ4_0(wf, O, C);
      const pw = putQuant(arena, k, wq, type, O, C);
      const pxq = arena.alloc(q8ActivationBytes(T, C));
      k.quantizeQ8Activations(pxq, put(arena, x), T, C);
      const decode = arena.alloc(T * O * 4);
      const pre = arena.alloc(T * O * 4);
      const scratch = arena.alloc(quantPrefillScratchBytes(C));
      if (type === "Q8_0") {
        k.matmulQ8_0(decode, pxq, pw, T, C, O);
        k.matmulQ8_0Prefill(pre, pxq, pw, scratch, T, C, O);
      } else {
        k.matmulQ4_0(decode, pxq, pw, T, C, O);
        k.matmulQ4_0Prefill(pre, pxq, pw, scratch, T, C, O);
      }
      const twin = quantMatmulTwin(quantizeActivations(x, T, C), wq, type, T, C, O);
      expect(bits(getF32(arena, decode, T * O))).toEqual(bits(twin.seq));
      expect(bits(getF32(arena, pre, T * O))).toEqual(bits(twin.seq));
      arena.release(mark);
    });
  }

  it("rejects C not a multiple of 32, a tmp that overlaps the matrix, and row ranges that cut a group", () => {
    const { arena, k } = env;
    const p = arena.alloc(8192);
    let e = thrown(() => k.interleaveQ8_0(p, p + 4096, 4, 48));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.interleaveQ8_0: C must be a multiple of 32 for quantised blocks, got 48");
    e = thrown(() => k.interleaveQ8_0(p, p + 100, 8, 64));
    expect(e.message).toBe("cpu.kernels.interleaveQ8_0: tmp (" + (p + 100) + ", 272 bytes) overlaps w (" + p + ", 544 bytes)");
    e = thrown(() => k.interleaveQ4_0(p + 200, p, 8, 64));
    expect(e.message).toBe("cpu.kernels.interleaveQ4_0: tmp (" + p + ", 272 bytes) overlaps w (" + (p + 200) + ", 288 bytes)");
    e = thrown(() => k.matmulQ8_0(p, p, p, 1, 32, 10, 0, 6));
    expect(e.message).toBe("cpu.kernels.matmulQ8_0: o1 (6) must be a multiple of 4 below 8: row-interleaved blocks keep rows in groups of 4");
    e = thrown(() => k.matmulQ4_0(p, p, p, 1, 32, 10, 1, 8));
    expect(e.message).toBe("cpu.kernels.matmulQ4_0: o0 (1) must be a multiple of 4 below 8: row-interleaved blocks keep rows in groups of 4");
    k.matmulQ8_0(p + 4096, p, p + 1024, 1, 32, 10, 8, 9); // the ungrouped rows 8 and 9 may be split
  });
});

describe("panel-major F16/BF16 (toPanels, matmul*Panels)", () => {
  type HalfType = "F16" | "BF16";
  const f = Math.fround;

  /** The panel-major bytes of a row-major (O, C) matrix, built here independently of toPanels. */
  function panelMajor(w: Uint16Array, O: number, C: number): Uint16Array {
    const out = new Uint16Array(w.length);
    let at = 0;
    for (let c0 = 0; c0 < C; c0 += PANEL) {
      const c1 = Math.min(c0 + PANEL, C);
      for (let r = 0; r < O; r++) for (let c = c0; c < c1; c++) out[at++] = w[r * C + c];
    }
    return out;
  }

  /**
   * The decode arithmetic in float32, step by step: per panel four lane accumulators over 16-channel steps,
   * (a0 + a1) + (a2 + a3), the horizontal sum (l0 + l2) + (l1 + l3), the panels added in order, then the tail.
   */
  function twin(x: Float32Array, w: Float32Array, T: number, C: number, O: number): Float32Array {
    const out = new Float32Array(T * O);
    const C16 = C & ~15;
    for (let t = 0; t < T; t++) {
      for (let o = 0; o < O; o++) {
        let sum = 0;
        for (let c0 = 0; c0 < C; c0 += PANEL) {
          const e16 = Math.min(c0 + PANEL, C16);
          const a = [new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(4)];
          for (let c = c0; c < e16; c += 16) {
            for (let k = 0; k < 4; k++) for (let l = 0; l < 4; l++) a[k][l] = f(a[k][l] + f(x[t * C + c + 4 * k + l] * w[o * C + c + 4 * k + l]));
          }
          const v = [0, 1, 2, 3].map((l) => f(f(a[0][l] + a[1][l]) + f(a[2][l] + a[3][l])));
          const h = f(f(v[0] + v[2]) + f(v[1] + v[3]));
          sum = c0 === 0 ? h : f(sum + h);
          for (let c = e16; c < Math.min(c0 + PANEL, C); c++) sum = f(sum + f(x[t * C + c] * w[o * C + c]));
        }
        out[t * O + o] = sum;
      }
    }
    return out;
  }

  for (const type of ["F16", "BF16"] as HalfType[]) {
    // C = 2084: two panels, the second 36 channels (two 16-steps and a tail of 4); C = 4100: three; C = 2051: C mod 4
    // = 3 (the prefill widens row-major); O = 7 and 9: rows left over after the groups of 4.
    for (const [T, C, O] of [[1, 2084, 7], [3, 4100, 9], [2, 2051, 5]] as Array<[number, number, number]>) {
      it(`${type} T=${T} C=${C} O=${O}: the layout, decode as its float32 twin, prefill as over the row-major matrix`, () => {
        const { arena, k } = env;
        const mark = arena.mark();
        const rng = random(T * 7 + C + O);
        const x = randomF32(rng, T * C);
        const stored = encode(randomF32(rng, O * C, 0.3), type) as Uint16Array;
        const rowMajor = put(arena, stored);
        const pw = put(arena, stored);
        toPanels(arena.u8(pw, stored.byteLength), O, C);
        expect(new Uint16Array(arena.u8(pw, stored.byteLength).slice().buffer)).toEqual(panelMajor(stored, O, C));

        const px = put(arena, x);
        const out = arena.alloc(T * O * 4);
        if (type === "F16") k.matmulF16Panels(out, px, pw, T, C, O);
        else k.matmulBF16Panels(out, px, pw, T, C, O);
        const got = getF32(arena, out, T * O);
        expect(bits(got)).toEqual(bits(twin(x, decoded(stored, type), T, C, O)));
        const part = arena.alloc(T * O * 4);
        for (const [a, b] of [[0, 3], [3, 4], [4, O]]) {
          if (type === "F16") k.matmulF16Panels(part, px, pw, T, C, O, a, b);
          else k.matmulBF16Panels(part, px, pw, T, C, O, a, b);
        }
        expect(bits(getF32(arena, part, T * O))).toEqual(bits(got));

        const s = arena.alloc(prefillScratchBytes(C));
        const pre = arena.alloc(T * O * 4);
        const want = arena.alloc(T * O * 4);
        if (type === "F16") {
          k.matmulF16PanelsPrefill(pre, px, pw, s, T, C, O);
          k.matmulF16Prefill(want, px, rowMajor, s, T, C, O);
        } else {
          k.matmulBF16PanelsPrefill(pre, px, pw, s, T, C, O);
          k.matmulBF16Prefill(want, px, rowMajor, s, T, C, O);
        }
        expect(bits(getF32(arena, pre, T * O))).toEqual(bits(getF32(arena, want, T * O)));
        arena.release(mark);
      });
    }
  }
});
