/**
 * Byte sizes of the buffers the WebAssembly kernels read and write, for callers placing them in a WasmArena:
 * weights in F32/F16/BF16 and in llama.cpp's Q8_0/Q4_0 block layouts, and the Q8 activations the quantised
 * matmuls consume. Sizes only; quantising weights is a load-time job elsewhere.
 */

/** Weight storage types the WebAssembly matmuls read. */
export type WasmWeightDtype = "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0";

/** Channels per quantised block (llama.cpp QK8_0 = QK4_0 = 32). */
export const QUANT_BLOCK = 32;
/** Bytes of one Q8_0 block: f16 scale + 32 int8. */
export const Q8_0_BLOCK_BYTES = 34;
/** Bytes of one Q4_0 block: f16 scale + 16 bytes of nibbles. */
export const Q4_0_BLOCK_BYTES = 18;

/**
 * Bytes of a (rows, C) matrix stored as `dtype`; C must be a multiple of 32 for Q8_0 and Q4_0. The row-interleaved
 * Q8_0/Q4_0 the WebAssembly kernels read (interleaveQ8_0/Q4_0) has the same size as llama.cpp's.
 */
export function weightBytes(dtype: WasmWeightDtype, rows: number, C: number): number {
  switch (dtype) {
    case "F32":
      return rows * C * 4;
    case "F16":
    case "BF16":
      return rows * C * 2;
    case "Q8_0":
      return rows * (C / QUANT_BLOCK) * Q8_0_BLOCK_BYTES;
    case "Q4_0":
      return rows * (C / QUANT_BLOCK) * Q4_0_BLOCK_BYTES;
  }
}

/**
 * Bytes of the Q8 activations of x (T, C) as quantizeQ8Activations writes them: (T, C/32, 32) int16 values, then
 * (T, C/32) float32 scales, then (T, C/32) int32 nibble biases (8 · the block's sum, for Q4_0 decode).
 */
export function q8ActivationBytes(T: number, C: number): number {
  return T * (C / QUANT_BLOCK) * (64 + 4 + 4);
}

/**
 * Bytes of interleaveQ8_0's (and interleaveQ4_0's) temporary for a matrix of C input channels: one group of 4 rows
 * of Q8_0 blocks, (C/32) × 136 bytes.
 */
export function interleaveScratchBytes(C: number): number {
  return (C / QUANT_BLOCK) * 4 * Q8_0_BLOCK_BYTES;
}

/** Weight rows each prefill kernel (matmul*Prefill) widens at a time; PREFILL_ROWS in assembly/matmul-half.ts. */
export const PREFILL_ROWS = 16;

/** Bytes of one thread's scratch for the prefill matmuls over C input channels: PREFILL_ROWS × C float32. */
export function prefillScratchBytes(C: number): number {
  return PREFILL_ROWS * C * 4;
}

/** Weight rows the quantised prefill kernels (matmulQ8_0Prefill, matmulQ4_0Prefill) widen at a time. */
export const QUANT_PREFILL_ROWS = 4;

/**
 * Bytes of one thread's scratch for the quantised prefill matmuls over C input channels: per block of 32 channels,
 * QUANT_PREFILL_ROWS rows × 32 int16 then their QUANT_PREFILL_ROWS float32 scales (272 bytes).
 */
export function quantPrefillScratchBytes(C: number): number {
  return (C / QUANT_BLOCK) * QUANT_PREFILL_ROWS * (64 + 4);
}

/** Query heads the attention kernels score in one pass over their KV head's cache; ATTENTION_ROWS in assembly/attention.ts. */
export const ATTENTION_ROWS = 16;

/** Positions per block of the attention kernels' value sums; VALUE_BLOCK in assembly/attention.ts. */
export const ATTENTION_VALUE_BLOCK = 16;

/**
 * Bytes of one thread's scratch for the attention kernels with H query heads over G KV heads of D channels and
 * queries up to position P − 1: min(H / G, ATTENTION_ROWS) rows of P rounded up to a multiple of 4 float32 (one per
 * head of a pass), ATTENTION_ROWS float32 (each head's 1 / Σ exp), then (4 + ATTENTION_VALUE_BLOCK) · D float32
 * (attentionF16's blocks of keys and values widened from halves).
 */
export function attentionScratchBytes(H: number, G: number, D: number, P: number): number {
  return (Math.min(H / G, ATTENTION_ROWS) * Math.ceil(P / 4) * 4 + ATTENTION_ROWS + (4 + ATTENTION_VALUE_BLOCK) * D) * 4;
}
