// The probe summaries: entropy of softmax(logits) against closed forms and a direct sum, top-k ids against a full
// sort, min / max / mean, and their errors.
import { describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { logitsEntropy, logitsStats, topK } from "../../src/sampling/entropy.js";
import { createRng } from "../../src/sampling/rng.js";

function expectInvalid(fn: () => unknown, message: string) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InferenceError);
    expect((e as InferenceError).code).toBe("invalid_argument");
    expect((e as InferenceError).message).toBe(message);
    return;
  }
  throw new Error("expected an InferenceError");
}

const ninf = Number.NEGATIVE_INFINITY;

describe("logitsEntropy", () => {
  it("is log(n) nats for uniform logits and 0 for a one-hot row", () => {
    expect(logitsEntropy(new Float32Array(2))).toBeCloseTo(Math.LN2, 14);
    expect(logitsEntropy(new Float32Array(1000).fill(3))).toBeCloseTo(Math.log(1000), 12);
    expect(logitsEntropy(Float32Array.from([ninf, 4, ninf]))).toBe(0);
    expect(logitsEntropy(Float32Array.from([0, -1e4]))).toBe(0);
  });

  it("equals -sum(p log p) computed directly", () => {
    const gen = createRng(8);
    for (let c = 0; c < 50; c++) {
      const logits = Float32Array.from({ length: 1 + Math.floor(gen.nextFloat() * 100) }, () => gen.nextFloat() * 8 - 4);
      const m = Math.max(...logits);
      const e = [...logits].map((l) => Math.exp(l - m));
      const z = e.reduce((a, b) => a + b, 0);
      const direct = -e.reduce((h, v) => h + (v / z) * Math.log(v / z), 0);
      expect(Math.abs(logitsEntropy(logits) - direct)).toBeLessThan(1e-12);
    }
  });

  it("is shift-invariant and finite for logits near float32's limit", () => {
    expect(logitsEntropy(Float32Array.from([3e38, 3e38]))).toBeCloseTo(Math.LN2, 14);
    expect(logitsEntropy(Float32Array.from([3e38, -3e38, 3e38, ninf]))).toBeCloseTo(Math.LN2, 14);
    const a = logitsEntropy(Float64Array.from([1, 2, 3]));
    expect(logitsEntropy(Float64Array.from([1001, 1002, 1003]))).toBeCloseTo(a, 12);
  });

  it("rejects empty rows, NaN, +Infinity and rows that are all -Infinity", () => {
    expectInvalid(() => logitsEntropy(new Float32Array(0)), "cpu.logitsEntropy: logits must not be empty");
    expectInvalid(() => logitsEntropy(Float32Array.from([0, Number.NaN])), "cpu.logitsEntropy: logits[1] is NaN");
    expectInvalid(
      () => logitsEntropy(Float32Array.from([0, Number.POSITIVE_INFINITY])),
      "cpu.logitsEntropy: logits contain +Infinity",
    );
    expectInvalid(() => logitsEntropy(Float32Array.from([ninf, ninf])), "cpu.logitsEntropy: every logit is -Infinity");
  });
});

describe("topK", () => {
  it("writes the k best ids best first, lower id first on ties", () => {
    const out = new Int32Array(3);
    expect(topK(Float32Array.from([1, 5, 3, 5, 2]), 3, out)).toBe(3);
    expect([...out]).toEqual([1, 3, 2]);
  });

  it("writes at most min(k, out.length, vocabulary) ids, and skips NaN", () => {
    const out = new Int32Array(8).fill(-1);
    expect(topK(Float32Array.from([0, 2, 1]), 5, out)).toBe(3);
    expect([...out.subarray(0, 3)]).toEqual([1, 2, 0]);
    expect(out[3]).toBe(-1);
    const small = new Int32Array(2);
    expect(topK(Float32Array.from([0, 2, 1, 9]), 4, small)).toBe(2);
    expect([...small]).toEqual([3, 1]);
    expect(topK(Float32Array.from([0, 2]), 0, small)).toBe(0);
    const withNaN = new Int32Array(3);
    expect(topK(Float32Array.from([Number.NaN, 1, Number.NaN, ninf]), 3, withNaN)).toBe(2);
    expect([...withNaN.subarray(0, 2)]).toEqual([1, 3]);
  });

  it("agrees with a full sort on random rows with many ties", () => {
    const gen = createRng(12);
    for (let c = 0; c < 100; c++) {
      const V = 1 + Math.floor(gen.nextFloat() * 300);
      const logits = Float32Array.from({ length: V }, () => Math.round(gen.nextFloat() * 20));
      const k = Math.floor(gen.nextFloat() * (V + 3));
      const out = new Int32Array(k);
      const count = topK(logits, k, out);
      const want = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b).slice(0, k);
      expect(count).toBe(want.length);
      expect([...out.subarray(0, count)]).toEqual(want);
    }
  });

  it("rejects a negative or fractional k and an output that is not an Int32Array", () => {
    expectInvalid(() => topK(new Float32Array(3), -1, new Int32Array(3)), "cpu.topK: k must be a non-negative integer, got -1");
    expectInvalid(() => topK(new Float32Array(3), 1.5, new Int32Array(3)), "cpu.topK: k must be a non-negative integer, got 1.5");
    expectInvalid(
      () => topK(new Float32Array(3), 1, [0] as unknown as Int32Array),
      "cpu.topK: out must be an Int32Array",
    );
  });
});

describe("logitsStats", () => {
  it("gives min, max and mean, filling a caller's object when given", () => {
    const stats = { min: 0, max: 0, mean: 0 };
    const r = logitsStats(Float32Array.from([1, -2, 4, 1]), stats);
    expect(r).toBe(stats);
    expect(r).toEqual({ min: -2, max: 4, mean: 1 });
    expect(logitsStats(Float32Array.from([7]))).toEqual({ min: 7, max: 7, mean: 7 });
  });

  it("follows plain arithmetic for NaN and -Infinity", () => {
    const nan = logitsStats(Float32Array.from([1, Number.NaN]));
    expect(nan.min).toBeNaN();
    expect(nan.max).toBeNaN();
    expect(nan.mean).toBeNaN();
    expect(logitsStats(Float32Array.from([1, ninf]))).toEqual({ min: ninf, max: 1, mean: ninf });
  });

  it("rejects an empty row", () => {
    expectInvalid(() => logitsStats(new Float32Array(0)), "cpu.logitsStats: logits must not be empty");
  });
});
