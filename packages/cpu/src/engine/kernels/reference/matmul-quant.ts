/**
 * Reference products with weights in llama.cpp's Q8_0 / Q4_0 block layouts, and the Q8 quantisation of activations
 * they consume, as llama.cpp computes them (its vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0): the activations of each
 * block of 32 channels become int8 with one scale, and each block's dot product is exact integer arithmetic times
 * the two scales. The twin of the WebAssembly kernels in packages/cpu/assembly/matmul-quant.ts. Not a weight
 * quantiser (that is @dappcore/inference-gguf's quantizeQ8_0 / quantizeQ4_0, used at load time).
 *
 * Weight blocks cover 32 consecutive channels of one row (O, C/32 blocks):
 *   Q8_0: 34 bytes = f16 scale d, then 32 int8 q;                 value = q·d.
 *   Q4_0: 18 bytes = f16 scale d, then 16 bytes of nibbles;       byte j holds channel j (low nibble) and
 *         channel j + 16 (high nibble); value = (nibble − 8)·d.
 * Activations: per block dx = max|x| / 127 (float32), q = round-half-to-even(x · (1/dx)) (float32 product), and dx
 * rounded to an f16 value, which is what the products use. C must be a multiple of 32.
 * Sums: per output element, Σ over blocks in order of float(integer dot)·(dw·dx), in float32 as llama.cpp's
 * reference vec_dot does; bit for bit the WebAssembly prefill kernels (matmulQ8_0Prefill / matmulQ4_0Prefill).
 */
import { f16ToF32, f32ToF16 } from "../../../dtype.js";
import { f16Table } from "./half-tables.js";

const fr = Math.fround;

/** Round half to even, as WebAssembly's f32x4.nearest and x86's _mm256_round_ps(_MM_ROUND_NEAREST). */
function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * xq (T, C) int8 and xs (T, C/32) = Q8 blocks of x (T, C), the activations of a Q8_0/Q4_0 product; xs holds each
 * block's scale rounded to f16.
 */
export function quantizeActivationsQ8(xq: Int8Array, xs: Float32Array, x: Float32Array, T: number, C: number): void {
  const nb = C >>> 5;
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < nb; b++) {
      const base = t * C + b * 32;
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[base + j]));
      const d = fr(amax / 127);
      const id = d !== 0 ? fr(1 / d) : 0;
      for (let j = 0; j < 32; j++) xq[base + j] = roundEven(fr(x[base + j] * id));
      xs[t * nb + b] = f16ToF32(f32ToF16(d));
    }
  }
}

/** out (T, O) = xq (T, C) · w (O, C)ᵀ, w Q8_0 blocks (O, C/32 · 34 bytes), xq and xs from quantizeActivationsQ8. */
export function matmulQ8_0(
  out: Float32Array,
  xq: Int8Array,
  xs: Float32Array,
  w: Uint8Array,
  T: number,
  C: number,
  O: number,
): void {
  const nb = C >>> 5;
  const half = f16Table();
  const q = new Int8Array(w.buffer, w.byteOffset, w.byteLength);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < O; o++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        const wb = (o * nb + b) * 34;
        const xb = t * C + b * 32;
        let isum = 0;
        for (let j = 0; j < 32; j++) isum += q[wb + 2 + j] * xq[xb + j];
        acc = fr(acc + fr(isum * fr(half[w[wb] | (w[wb + 1] << 8)] * xs[t * nb + b])));
      }
      out[t * O + o] = acc;
    }
  }
}

/** out (T, O) = xq (T, C) · w (O, C)ᵀ, w Q4_0 blocks (O, C/32 · 18 bytes), xq and xs from quantizeActivationsQ8. */
export function matmulQ4_0(
  out: Float32Array,
  xq: Int8Array,
  xs: Float32Array,
  w: Uint8Array,
  T: number,
  C: number,
  O: number,
): void {
  const nb = C >>> 5;
  const half = f16Table();
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < O; o++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        const wb = (o * nb + b) * 18;
        const xb = t * C + b * 32;
        let isum = 0;
        for (let j = 0; j < 16; j++) {
          const byte = w[wb + 2 + j];
          isum += ((byte & 15) - 8) * xq[xb + j] + ((byte >>> 4) - 8) * xq[xb + 16 + j];
        }
        acc = fr(acc + fr(isum * fr(half[w[wb] | (w[wb + 1] << 8)] * xs[t * nb + b])));
      }
      out[t * O + o] = acc;
    }
  }
}
