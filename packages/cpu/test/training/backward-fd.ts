/**
 * Test helpers for gradient checks: seeded float64 arrays, and a central-difference checker that compares an
 * analytic gradient with (L(x + ε) − L(x − ε)) / 2ε element by element, reporting the worst error.
 */
import { expect } from "vitest";

/** Seeded uniform numbers in [-1, 1) (mulberry32). */
export function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

export function rand64(n: number, rng: () => number, scale = 1, mean = 0): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = mean + scale * rng();
  return a;
}

/** Σ a ⊙ b in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export interface FdOptions {
  /** Step ε. Default 1e-5. */
  eps?: number;
  /** Relative tolerance. Default 1e-6. */
  rtol?: number;
  /** Absolute tolerance. Default 1e-9. */
  atol?: number;
  /** Check only these indices (default every element). */
  indices?: readonly number[];
}

/**
 * Checks `analytic` against central differences of `loss` with respect to `x` (perturbed in place and restored):
 * |analytic − numeric| ≤ rtol · max(|analytic|, |numeric|) + atol for each checked element. Returns the worst
 * relative error (over elements whose gradient exceeds 1e-6) for reporting.
 */
export function expectGradient(
  label: string,
  x: Float32Array | Float64Array,
  analytic: ArrayLike<number>,
  loss: () => number,
  opts: FdOptions = {},
): number {
  const eps = opts.eps ?? 1e-5;
  const rtol = opts.rtol ?? 1e-6;
  const atol = opts.atol ?? 1e-9;
  const indices = opts.indices ?? Array.from({ length: x.length }, (_, i) => i);
  let worst = 0;
  let nonzero = 0;
  for (const i of indices) {
    const saved = x[i];
    x[i] = saved + eps;
    const plus = loss();
    x[i] = saved - eps;
    const minus = loss();
    x[i] = saved;
    const numeric = (plus - minus) / (2 * eps);
    const a = analytic[i];
    const err = Math.abs(a - numeric);
    const bound = rtol * Math.max(Math.abs(a), Math.abs(numeric)) + atol;
    if (!(err <= bound)) {
      expect.fail(`${label}[${i}]: analytic ${a}, numeric ${numeric}, error ${err} > ${bound}`);
    }
    const mag = Math.max(Math.abs(a), Math.abs(numeric));
    if (mag > 1e-6) {
      nonzero++;
      worst = Math.max(worst, err / mag);
    }
  }
  // a check over gradients that are all zero would prove nothing
  expect(nonzero, `${label}: some gradient must be non-zero`).toBeGreaterThan(0);
  return worst;
}
