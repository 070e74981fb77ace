/**
 * Scalar math the training kernels need that must not pull in AssemblyScript's table-driven Math.log (its tables
 * would be a data segment, which the module must not have: see build-wasm.mjs). Helpers only; no exported kernel.
 */

/** ln 2 in float64. */
// @ts-ignore: decorator
@inline const LN2: f64 = 0.6931471805599453;

/**
 * Natural log of a positive, finite, normal float64 in float64 precision: x = 2^e · m with m in [√½, √2), then
 * ln m = 2 atanh(s), s = (m − 1) / (m + 1), |s| ≤ 0.172, by its odd series through s¹⁷ (error below 1e-15).
 */
// @ts-ignore: decorator
@inline export function logPositive(x: f64): f64 {
  const bits = reinterpret<u64>(x);
  let e = <i32>((bits >> 52) & 0x7ff) - 1023;
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const s = (m - 1) / (m + 1);
  const s2 = s * s;
  const series =
    2 + s2 * (2.0 / 3 + s2 * (2.0 / 5 + s2 * (2.0 / 7 + s2 * (2.0 / 9 + s2 * (2.0 / 11 + s2 * (2.0 / 13 + s2 * (2.0 / 15 + s2 * (2.0 / 17))))))));
  return <f64>e * LN2 + s * series;
}
