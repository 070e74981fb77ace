// Each reference kernel against its formula written out directly, at small sizes, including F16/BF16 weights.
import { describe, expect, it } from "vitest";
import { bf16ToF32, encodeFloats, f16ToF32 } from "../../src/dtype.js";
import {
  add,
  addBias,
  attention,
  copyRows,
  embeddingBF16,
  embeddingF16,
  embeddingF32,
  geglu,
  geluTanh,
  matmulBF16,
  matmulF16,
  matmulF32,
  rmsNorm,
  rmsNormPlusOne,
  rope,
  ropeTable,
  scale,
  silu,
  softcap,
  softmax,
  swiglu,
} from "../../src/engine/kernels/reference/index.js";
import { ropeInverseFrequencies } from "../../src/engine/rope-frequencies.js";
import { maxAbsDiff, random, randomArray } from "./tiny-model.js";

const rng = random(42);

function bits(values: Float32Array, dtype: "F16" | "BF16"): Uint16Array {
  const b = encodeFloats(values, dtype);
  return new Uint16Array(b.buffer, b.byteOffset, values.length);
}

describe("matmul", () => {
  const T = 3;
  const C = 7;
  const O = 5;
  const x = randomArray(T * C, rng);
  const wf = randomArray(O * C, rng);
  const expected = (w: (i: number) => number) => {
    const out = new Float32Array(T * O);
    for (let t = 0; t < T; t++)
      for (let o = 0; o < O; o++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += x[t * C + c] * w(o * C + c);
        out[t * O + o] = s;
      }
    return out;
  };

  it("F32: out[t,o] = Σ_c x[t,c]·w[o,c]", () => {
    const out = new Float32Array(T * O);
    matmulF32(out, x, wf, T, C, O);
    expect(maxAbsDiff(out, expected((i) => wf[i]))).toBeLessThan(1e-6);
    // A hand-checked case: [1 2] · [[3 4] [5 6]]ᵀ = [11 17].
    const small = new Float32Array(2);
    matmulF32(small, Float32Array.of(1, 2), Float32Array.of(3, 4, 5, 6), 1, 2, 2);
    expect([...small]).toEqual([11, 17]);
  });

  it("F16 weights are read through their half-precision values", () => {
    const w = bits(wf, "F16");
    const out = new Float32Array(T * O);
    matmulF16(out, x, w, T, C, O);
    expect(maxAbsDiff(out, expected((i) => f16ToF32(w[i])))).toBeLessThan(1e-6);
    // and they differ from the unrounded weights by about half-precision rounding, not more
    expect(maxAbsDiff(out, expected((i) => wf[i]))).toBeLessThan(C * 1e-3);
  });

  it("BF16 weights are read through their bfloat16 values", () => {
    const w = bits(wf, "BF16");
    const out = new Float32Array(T * O);
    matmulBF16(out, x, w, T, C, O);
    expect(maxAbsDiff(out, expected((i) => bf16ToF32(w[i])))).toBeLessThan(1e-6);
    expect(maxAbsDiff(out, expected((i) => wf[i]))).toBeGreaterThan(0);
  });
});

describe("embedding", () => {
  const V = 6;
  const C = 4;
  const table = randomArray(V * C, rng);
  const ids = [5, 0, 3, 3];
  const expected = (value: (i: number) => number, s: number) =>
    Float32Array.from({ length: ids.length * C }, (_, i) => value(ids[Math.floor(i / C)] * C + (i % C)) * s);

  it("gathers rows of every dtype and applies the scale", () => {
    const out = new Float32Array(ids.length * C);
    embeddingF32(out, ids, table, 1, ids.length, C);
    expect([...out]).toEqual([...expected((i) => table[i], 1)]);
    const h = bits(table, "F16");
    embeddingF16(out, ids, h, 2.5, ids.length, C);
    expect(maxAbsDiff(out, expected((i) => f16ToF32(h[i]), 2.5))).toBeLessThan(1e-6);
    const b = bits(table, "BF16");
    embeddingBF16(out, ids, b, 8, ids.length, C);
    expect(maxAbsDiff(out, expected((i) => bf16ToF32(b[i]), 8))).toBeLessThan(1e-6);
  });
});

describe("rmsNorm", () => {
  const N = 3;
  const C = 8;
  const x = randomArray(N * C, rng, 3);
  const w = randomArray(C, rng, 0.5, 1);
  const eps = 1e-5;
  const formula = (gain: (c: number) => number) => {
    const out = new Float32Array(N * C);
    for (let n = 0; n < N; n++) {
      let ms = 0;
      for (let c = 0; c < C; c++) ms += x[n * C + c] ** 2 / C;
      for (let c = 0; c < C; c++) out[n * C + c] = (x[n * C + c] / Math.sqrt(ms + eps)) * gain(c);
    }
    return out;
  };

  it("y = x / √(mean(x²) + eps) · w", () => {
    const out = new Float32Array(N * C);
    rmsNorm(out, x, w, N, C, eps);
    expect(maxAbsDiff(out, formula((c) => w[c]))).toBeLessThan(1e-5);
  });

  it("y = x / √(mean(x²) + eps) · (1 + w), and works in place", () => {
    const out = Float32Array.from(x);
    rmsNormPlusOne(out, out, w, N, C, eps);
    expect(maxAbsDiff(out, formula((c) => 1 + w[c]))).toBeLessThan(1e-5);
  });
});

describe("rope", () => {
  const D = 8;
  const NH = 3;
  const T = 4;
  const positions = [0, 1, 7, 30];
  const base = 10_000;

  it("rotates pairs (i, i + D/2) by position · base^(−2i/D)", () => {
    const inv = ropeInverseFrequencies(D, base, { type: "none" });
    const P = 31;
    const cos = new Float32Array(P * (D / 2));
    const sin = new Float32Array(P * (D / 2));
    ropeTable(cos, sin, inv, 0, P, D);
    const x = randomArray(T * NH * D, rng);
    const y = Float32Array.from(x);
    rope(y, cos, sin, positions, T, NH, D);
    const expected = new Float32Array(x.length);
    for (let t = 0; t < T; t++)
      for (let h = 0; h < NH; h++)
        for (let i = 0; i < D / 2; i++) {
          const b = (t * NH + h) * D;
          const angle = positions[t] * base ** ((-2 * i) / D);
          expected[b + i] = x[b + i] * Math.cos(angle) - x[b + i + D / 2] * Math.sin(angle);
          expected[b + i + D / 2] = x[b + i + D / 2] * Math.cos(angle) + x[b + i] * Math.sin(angle);
        }
    expect(maxAbsDiff(y, expected)).toBeLessThan(1e-5);
    // position 0 is the identity
    expect(maxAbsDiff(y.subarray(0, NH * D), x.subarray(0, NH * D))).toBe(0);
  });

  it("ropeTable fills rows for a position range starting at p0", () => {
    const inv = ropeInverseFrequencies(D, base, { type: "none" });
    const cos = new Float32Array(2 * (D / 2));
    const sin = new Float32Array(2 * (D / 2));
    ropeTable(cos, sin, inv, 5, 2, D);
    expect(cos[0]).toBeCloseTo(Math.cos(5), 6);
    expect(sin[D / 2 + 1]).toBeCloseTo(Math.sin(6 * base ** (-2 / D)), 6);
  });

  it("inverse frequencies: plain, linear and Llama 3 scaling", () => {
    const D2 = 64;
    const plain = ropeInverseFrequencies(D2, 500_000, { type: "none" });
    for (let i = 0; i < D2 / 2; i++) expect(plain[i]).toBeCloseTo(500_000 ** ((-2 * i) / D2), 6);
    const linear = ropeInverseFrequencies(D2, 500_000, { type: "linear", factor: 8 });
    for (let i = 0; i < D2 / 2; i++) expect(linear[i] / plain[i]).toBeCloseTo(1 / 8, 6);

    const s = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 };
    const l3 = ropeInverseFrequencies(D2, 500_000, { type: "llama3", ...s });
    let kept = 0;
    let scaled = 0;
    let smoothed = 0;
    for (let i = 0; i < D2 / 2; i++) {
      const f = plain[i];
      const wavelen = (2 * Math.PI) / f;
      let want: number;
      if (wavelen < 64 / 4) {
        want = f;
        kept++;
      } else if (wavelen > 64 / 1) {
        want = f / 8;
        scaled++;
      } else {
        const smooth = (64 / wavelen - 1) / (4 - 1);
        want = (1 - smooth) * (f / 8) + smooth * f;
        smoothed++;
      }
      expect(l3[i] / want).toBeCloseTo(1, 6);
    }
    // the test covers all three bands
    expect(kept).toBeGreaterThan(0);
    expect(scaled).toBeGreaterThan(0);
    expect(smoothed).toBeGreaterThan(0);
  });
});

describe("attention", () => {
  const H = 4;
  const G = 2;
  const D = 4;
  const S = 10;

  /** Dense formula over a (G, S, D) cache: full score matrix, -∞ mask, softmax, weighted sum. */
  function dense(q: Float32Array, k: Float32Array, v: Float32Array, T: number, pos0: number, W: number, sc: number, cap: number) {
    const out = new Float32Array(T * H * D);
    for (let t = 0; t < T; t++)
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / G));
        const p = pos0 + t;
        const logits: number[] = [];
        for (let s = 0; s < S; s++) {
          const visible = s <= p && (W === 0 || p - s < W);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[(t * H + h) * D + d] * k[(g * S + s) * D + d];
          let z = dot * sc;
          if (cap > 0) z = cap * Math.tanh(z / cap);
          logits.push(visible ? z : -Infinity);
        }
        const m = Math.max(...logits);
        const e = logits.map((z) => Math.exp(z - m));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let s = 0; s < S; s++) acc += (e[s] / sum) * v[(g * S + s) * D + d];
          out[(t * H + h) * D + d] = acc;
        }
      }
    return out;
  }

  const k = randomArray(S * G * D, rng, 2);
  const v = randomArray(S * G * D, rng);

  for (const [label, T, pos0, W, cap] of [
    ["causal prefill from position 0", 6, 0, 0, 0],
    ["causal queries after cached positions", 3, 5, 0, 0],
    ["sliding window of 3", 5, 4, 3, 0],
    ["tanh soft-cap", 4, 2, 0, 0.5],
  ] as const) {
    it(label, () => {
      const q = randomArray(T * H * D, rng, 2);
      const out = new Float32Array(T * H * D);
      attention(out, q, k, v, new Float32Array(S), T, H, G, D, S, pos0, W, 0.7, cap);
      expect(maxAbsDiff(out, dense(q, k, v, T, pos0, W, 0.7, cap))).toBeLessThan(1e-5);
    });
  }

  it("a window of 1 returns the query position's own value", () => {
    const q = randomArray(H * D, rng);
    const out = new Float32Array(H * D);
    attention(out, q, k, v, new Float32Array(S), 1, H, G, D, S, 7, 1, 1, 0);
    for (let h = 0; h < H; h++)
      for (let d = 0; d < D; d++) expect(out[h * D + d]).toBeCloseTo(v[(Math.floor(h / 2) * S + 7) * D + d], 6);
  });
});

describe("softmax and activations", () => {
  it("softmax(x) = exp(x) / Σ exp(x), stable for large inputs", () => {
    const x = Float32Array.of(1, 2, 3, 1000, 1001, 1002);
    const out = new Float32Array(6);
    softmax(out, x, 2, 3);
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    const want = [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z];
    expect(maxAbsDiff(out, [...want, ...want])).toBeLessThan(1e-6);
  });

  it("silu, gelu_tanh and their gated forms", () => {
    const g = randomArray(16, rng, 4);
    const u = randomArray(16, rng, 2);
    const out = new Float32Array(16);
    silu(out, g, 16);
    expect(maxAbsDiff(out, [...g].map((a) => a / (1 + Math.exp(-a))))).toBeLessThan(1e-6);
    const gelu = (a: number) => 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a ** 3)));
    geluTanh(out, g, 16);
    expect(maxAbsDiff(out, [...g].map(gelu))).toBeLessThan(1e-6);
    geluTanh(out, Float32Array.of(1, -1, 0), 3);
    expect(out[0]).toBeCloseTo(0.8411920, 6); // PyTorch gelu(1, approximate="tanh")
    expect(out[1]).toBeCloseTo(-0.1588080, 6);
    swiglu(out, g, u, 16);
    expect(maxAbsDiff(out, [...g].map((a, i) => (a / (1 + Math.exp(-a))) * u[i]))).toBeLessThan(1e-5);
    geglu(out, g, u, 16);
    expect(maxAbsDiff(out, [...g].map((a, i) => gelu(a) * u[i]))).toBeLessThan(1e-5);
  });
});

describe("element-wise", () => {
  it("add, addBias, scale, softcap, copyRows", () => {
    const a = Float32Array.of(1, 2, 3, 4);
    const b = Float32Array.of(10, 20, 30, 40);
    const out = new Float32Array(4);
    add(out, a, b, 4);
    expect([...out]).toEqual([11, 22, 33, 44]);
    addBias(out, Float32Array.of(1, -1), 2, 2);
    expect([...out]).toEqual([12, 21, 34, 43]);
    scale(out, a, 0.5, 4);
    expect([...out]).toEqual([0.5, 1, 1.5, 2]);
    softcap(out, Float32Array.of(0, 30, -30, 1), 30, 4);
    expect(maxAbsDiff(out, [0, 30 * Math.tanh(1), -30 * Math.tanh(1), 30 * Math.tanh(1 / 30)])).toBeLessThan(1e-5);
    const dst = new Float32Array(8);
    copyRows(dst, 2, b, 1, 1, 2); // row 1 of b (width 2) to row 2 of dst
    expect([...dst]).toEqual([0, 0, 0, 0, 30, 40, 0, 0]);
  });
});
