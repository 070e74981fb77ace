/**
 * Load-time quantisation of weight matrices to llama.cpp's Q8_0 / Q4_0 blocks: which tensors are quantised (the
 * rules of llama.cpp's converter and llama-quantize, below) and the in-place conversion of one tensor's rows from
 * F32/F16/BF16 to blocks, bit-exact with llama.cpp's reference quantisers (@dappcore/inference-gguf's
 * quantizeQ8_0 / quantizeQ4_0). Weights in the WebAssembly arena take the kernel quantizeQ8_0Blocks for Q8_0
 * instead (the same bytes, about 20x faster; arena-checkpoint.ts). Not the loader and not the matmul kernels.
 *
 * Rules (llama.cpp: convert_hf_to_gguf.py --outtype q8_0, and llama-quant.cpp's llama_tensor_get_type):
 * - Only 2-D `.weight` matrices whose rows (C) are a multiple of 32 are quantised; norms, biases and any matrix
 *   with C mod 32 ≠ 0 keep their stored dtype (llama.cpp falls back to a non-block type there too).
 * - q8_0: every such matrix is Q8_0, the token embedding and the output head included.
 * - q4_0: the output head (lm_head, or embed_tokens when tied) is Q8_0: llama-quantize gives it Q6_K, a type this
 *   backend has no kernels for, and Q8_0 is the nearest one above; an untied embedding table is Q4_0, as there.
 */
import { InferenceError } from "@dappcore/inference";
import { quantizeQ4_0, quantizeQ8_0 } from "@dappcore/inference-gguf";
import type { DType, WeightStore } from "../model-config.js";
import { f16Table } from "./kernels/reference/index.js";

/** The load-time quantisations: llama.cpp's Q8_0 (8 bits) and Q4_0 (4 bits), 32 weights per f16 scale. */
export type Quantization = "q8_0" | "q4_0";

/** The block dtypes. */
export type QuantDType = "Q8_0" | "Q4_0";

/** All quantisation values, for messages and checks. */
export const QUANTIZATIONS: readonly Quantization[] = ["q8_0", "q4_0"];

/** Bits per weight and weights per scale of a quantisation (ModelInfo.quantBits / quantGroup). */
export function quantBits(q: Quantization | undefined): { bits: number; group: number } {
  if (q === undefined) return { bits: 0, group: 0 };
  return { bits: q === "q8_0" ? 8 : 4, group: 32 };
}

/**
 * The quantisation a checkpoint's weights are in, judged by its first MLP matrix (the bulk of the weights): Q8_0 or
 * Q4_0 blocks made at load time or read from a GGUF file; undefined for float weights.
 */
export function weightQuantization(weights: WeightStore): Quantization | undefined {
  const name = "model.layers.0.mlp.gate_proj.weight";
  const dtype = weights.has(name) ? weights.get(name).dtype : undefined;
  return dtype === "Q8_0" ? "q8_0" : dtype === "Q4_0" ? "q4_0" : undefined;
}

/** Bytes per 32-weight block of a block dtype. */
export function blockBytes(dtype: QuantDType): number {
  return dtype === "Q8_0" ? 34 : 18;
}

/**
 * The block dtype tensor `name` of `shape` gets under `q`, or undefined to keep its stored dtype.
 * @param tied whether the embedding table is also the output head (tie_word_embeddings).
 */
export function quantizedDType(name: string, shape: readonly number[], q: Quantization, tied: boolean): QuantDType | undefined {
  if (shape.length !== 2 || !name.endsWith(".weight") || shape[1] % 32 !== 0) return undefined;
  if (q === "q8_0") return "Q8_0";
  const isOutput = name === "lm_head.weight" || (tied && name === "model.embed_tokens.weight");
  return isOutput ? "Q8_0" : "Q4_0";
}

/**
 * Quantises the (rows, C) matrix held in `bytes` (stored as `from`) to `to` blocks, in place: row r's blocks are
 * written at r · C/32 · blockBytes, never past the stored bytes of rows not yet read, so no second copy of the
 * tensor exists. Returns the byte length of the blocks (a prefix of `bytes`).
 */
export function quantizeInPlace(bytes: Uint8Array, from: DType, to: QuantDType, rows: number, C: number): number {
  if (from !== "F32" && from !== "F16" && from !== "BF16") {
    throw new InferenceError({
      code: "invalid_argument",
      op: "cpu.quantize",
      message: `cannot quantise ${from} weights to ${to}; only F32, F16 and BF16 weights can be quantised`,
      details: { from, to },
    });
  }
  const elem = from === "F32" ? 4 : 2;
  if (C % 32 !== 0 || bytes.byteLength !== rows * C * elem) {
    throw new InferenceError({
      code: "invalid_argument",
      op: "cpu.quantize",
      message: `a (${rows}, ${C}) ${from} matrix needs C a multiple of 32 and ${rows * C * elem} bytes, got ${bytes.byteLength}`,
      details: { rows, C, bytes: bytes.byteLength },
    });
  }
  const qRow = (C / 32) * blockBytes(to);
  const row = new Float32Array(C);
  const rowBits = new Uint32Array(row.buffer);
  const out = new Uint8Array(qRow);
  const quantize = to === "Q8_0" ? quantizeQ8_0 : quantizeQ4_0;
  const half = from === "F16" ? f16Table() : undefined;
  for (let r = 0; r < rows; r++) {
    const at = bytes.byteOffset + r * C * elem;
    if (from === "F32") row.set(new Float32Array(bytes.buffer, at, C));
    else {
      const bits = new Uint16Array(bytes.buffer, at, C);
      if (half !== undefined) for (let c = 0; c < C; c++) row[c] = half[bits[c]];
      else for (let c = 0; c < C; c++) rowBits[c] = bits[c] << 16;
    }
    quantize(out, row);
    bytes.set(out, r * qRow);
  }
  return rows * qRow;
}
