/**
 * Q8_0 and Q4_0 quantisation in ggml's block layout, bit-exact with llama.cpp's reference quantisers
 * (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`) and gguf-py's `quants.py`. A block covers 32 consecutive weights
 * of one row:
 *   Q8_0: f16 scale d (2 bytes), then 32 int8 q;          weight = d * q            (34 bytes)
 *   Q4_0: f16 scale d (2 bytes), then 16 bytes of nibbles; weight j = d * (nib - 8)  (18 bytes), where byte j holds
 *         weight j in its low nibble and weight j + 16 in its high nibble.
 * Arithmetic is float32 (Math.fround) where the reference computes in float32. Not a matmul kernel.
 */
import { InferenceError } from "@dappcore/inference";
import { f16ToF32, f32ToF16 } from "./float16.js";

/** Weights per block for Q8_0 and Q4_0. */
export const QK = 32;
/** Bytes per Q8_0 block. */
export const Q8_0_BLOCK_BYTES = 34;
/** Bytes per Q4_0 block. */
export const Q4_0_BLOCK_BYTES = 18;

const fr = Math.fround;

function checkLengths(op: string, n: number, blocksBytes: number, blockBytes: number): void {
  if (n % QK !== 0) {
    throw new InferenceError({ code: "invalid_argument", op, message: `length ${n} is not a multiple of ${QK}` });
  }
  if (blocksBytes !== (n / QK) * blockBytes) {
    throw new InferenceError({
      code: "invalid_argument",
      op,
      message: `${n} weights need ${(n / QK) * blockBytes} bytes of blocks, got ${blocksBytes}`,
    });
  }
}

/** Rounds half away from zero, as C's roundf and gguf-py's np_roundf do. */
function roundHalfAway(v: number): number {
  const a = Math.abs(v);
  const r = Math.floor(a + 0.5);
  // a + 0.5 is exact for |a| < 2^23; beyond that a is already an integer.
  return v < 0 ? -r : r;
}

/** Quantises `x` (n, n a multiple of 32) into Q8_0 blocks `out` (n/32 * 34 bytes). */
export function quantizeQ8_0(out: Uint8Array, x: Float32Array): void {
  const n = x.length;
  checkLengths("gguf.quantizeQ8_0", n, out.byteLength, Q8_0_BLOCK_BYTES);
  for (let b = 0, o = 0; b < n; b += QK, o += Q8_0_BLOCK_BYTES) {
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(x[b + j]);
      if (a > amax) amax = a;
    }
    const d = fr(amax / 127);
    const id = d !== 0 ? fr(1 / d) : 0;
    const h = f32ToF16(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    for (let j = 0; j < QK; j++) {
      const q = roundHalfAway(fr(x[b + j] * id));
      out[o + 2 + j] = q & 0xff;
    }
  }
}

/** Dequantises Q8_0 blocks `blocks` (n/32 * 34 bytes) into `out` (n). */
export function dequantizeQ8_0(out: Float32Array, blocks: Uint8Array): void {
  const n = out.length;
  checkLengths("gguf.dequantizeQ8_0", n, blocks.byteLength, Q8_0_BLOCK_BYTES);
  for (let b = 0, o = 0; b < n; b += QK, o += Q8_0_BLOCK_BYTES) {
    const d = f16ToF32(blocks[o] | (blocks[o + 1] << 8));
    for (let j = 0; j < QK; j++) out[b + j] = ((blocks[o + 2 + j] << 24) >> 24) * d;
  }
}

/** Quantises `x` (n, n a multiple of 32) into Q4_0 blocks `out` (n/32 * 18 bytes). */
export function quantizeQ4_0(out: Uint8Array, x: Float32Array): void {
  const n = x.length;
  checkLengths("gguf.quantizeQ4_0", n, out.byteLength, Q4_0_BLOCK_BYTES);
  const half = QK / 2;
  for (let b = 0, o = 0; b < n; b += QK, o += Q4_0_BLOCK_BYTES) {
    // The signed value of largest magnitude (the first one on ties), so that it maps to -8 exactly.
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = x[b + j];
      if (Math.abs(v) > amax) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d !== 0 ? fr(1 / d) : 0;
    const h = f32ToF16(d);
    out[o] = h & 0xff;
    out[o + 1] = h >>> 8;
    for (let j = 0; j < half; j++) {
      // llama.cpp computes x*id + 8.5 with a fused multiply-add; gguf-py reproduces that as an exact float64 product
      // plus 8.5, rounded to float32, then truncated. The product of two float32 values is exact in float64.
      const q0 = Math.min(15, Math.trunc(fr(x[b + j] * id + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(x[b + half + j] * id + 8.5)));
      out[o + 2 + j] = q0 | (q1 << 4);
    }
  }
}

/** Dequantises Q4_0 blocks `blocks` (n/32 * 18 bytes) into `out` (n). */
export function dequantizeQ4_0(out: Float32Array, blocks: Uint8Array): void {
  const n = out.length;
  checkLengths("gguf.dequantizeQ4_0", n, blocks.byteLength, Q4_0_BLOCK_BYTES);
  const half = QK / 2;
  for (let b = 0, o = 0; b < n; b += QK, o += Q4_0_BLOCK_BYTES) {
    const d = f16ToF32(blocks[o] | (blocks[o + 1] << 8));
    for (let j = 0; j < half; j++) {
      const byte = blocks[o + 2 + j];
      out[b + j] = ((byte & 0x0f) - 8) * d;
      out[b + half + j] = ((byte >>> 4) - 8) * d;
    }
  }
}
