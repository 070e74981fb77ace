/**
 * Up to three matrix products that share their input, as one call: out_i (T, O_i) = x (T, C) · w_i (O_i, C)ᵀ for
 * the rows r0 .. r1 of their concatenation (matrix 0's rows first, then 1's, then 2's). Lets the engine hand q, k
 * and v (or gate and up) to the threads as one job in decode, where each job's dispatch and wait cost as much as a
 * small product. Each row is computed by the single-matrix kernel, so the bits are those of three separate calls.
 * Not the prefill kernels (their scratch is per call) and not responsible for quantising x.
 */
import { matmulF32 } from "./matmul-f32";
import { matmulBF16, matmulF16 } from "./matmul-half";
import { matmulQ4_0, matmulQ8_0 } from "./matmul-quant";

/** Weight types by code: 0 F32, 1 F16, 2 BF16, 3 Q8_0, 4 Q4_0 (x is then the Q8 activations). */
// @ts-ignore: decorator
@inline function product(type: i32, out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, a: i32, b: i32): void {
  if (type == 0) matmulF32(out, x, w, T, C, O, a, b);
  else if (type == 1) matmulF16(out, x, w, T, C, O, a, b);
  else if (type == 2) matmulBF16(out, x, w, T, C, O, a, b);
  else if (type == 3) matmulQ8_0(out, x, w, T, C, O, a, b);
  else matmulQ4_0(out, x, w, T, C, O, a, b);
}

/** The part of rows r0 .. r1 that falls in [base, base + O), as local rows of that matrix. */
// @ts-ignore: decorator
@inline function segment(type: i32, out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, base: i32, r0: i32, r1: i32): void {
  const a = max(r0, base);
  const b = min(r1, base + O);
  if (a < b) product(type, out, x, w, T, C, O, a - base, b - base);
}

/** out_i = x · w_iᵀ for i = 0, 1, 2 (O_i = 0 leaves a slot unused), rows r0 .. r1 of O0 + O1 + O2. */
export function matmulGroup(
  type: i32, x: usize, T: i32, C: i32,
  out0: usize, w0: usize, O0: i32, out1: usize, w1: usize, O1: i32, out2: usize, w2: usize, O2: i32,
  r0: i32, r1: i32,
): void {
  segment(type, out0, x, w0, T, C, O0, 0, r0, r1);
  segment(type, out1, x, w1, T, C, O1, O0, r0, r1);
  segment(type, out2, x, w2, T, C, O2, O0 + O1, r0, r1);
}
