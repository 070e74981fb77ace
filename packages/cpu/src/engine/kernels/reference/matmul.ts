/**
 * Reference matrix products of activations by a weight stored as Hugging Face's `nn.Linear.weight`:
 * out (T, O) = x (T, C) · wᵀ, with w (O, C) in its stored dtype. Plain loops; the WASM SIMD twins replace them.
 * Not responsible for biases (see elementwise.ts) or for choosing the dtype (see engine/linear.ts).
 */
import { bf16Table, f16Table } from "./half-tables.js";

/** out (T, O) = x (T, C) · w (O, C)ᵀ, w float32. */
export function matmulF32(out: Float32Array, x: Float32Array, w: Float32Array, T: number, C: number, O: number): void {
  // Weight row outermost: each row of w is read once and reused for all T activations.
  for (let o = 0; o < O; o++) {
    const wo = o * C;
    for (let t = 0; t < T; t++) {
      const xt = t * C;
      let sum = 0;
      for (let c = 0; c < C; c++) sum += x[xt + c] * w[wo + c];
      out[t * O + o] = sum;
    }
  }
}

/** out (T, O) = x (T, C) · w (O, C)ᵀ, w IEEE half bits. */
export function matmulF16(out: Float32Array, x: Float32Array, w: Uint16Array, T: number, C: number, O: number): void {
  matmulHalf(out, x, w, T, C, O, f16Table());
}

/** out (T, O) = x (T, C) · w (O, C)ᵀ, w bfloat16 bits. */
export function matmulBF16(out: Float32Array, x: Float32Array, w: Uint16Array, T: number, C: number, O: number): void {
  matmulHalf(out, x, w, T, C, O, bf16Table());
}

function matmulHalf(
  out: Float32Array, // (T, O)
  x: Float32Array, // (T, C)
  w: Uint16Array, // (O, C)
  T: number,
  C: number,
  O: number,
  table: Float32Array, // (65536)
): void {
  for (let o = 0; o < O; o++) {
    const wo = o * C;
    for (let t = 0; t < T; t++) {
      const xt = t * C;
      let sum = 0;
      for (let c = 0; c < C; c++) sum += x[xt + c] * table[w[wo + c]];
      out[t * O + o] = sum;
    }
  }
}
