// @dappcore/inference-gguf: GGUF v3 writer and reader, Q8_0/Q4_0 block quantisation, and the Hugging Face to GGUF
// converter. The public surface is listed by name; internals stay internal.
export { GGUFWriter, ggmlTensorBytes } from "./gguf-writer.js";
export type { GGUFWriterOptions, GGUFTensorPlan } from "./gguf-writer.js";
export { readGGUF, readGGUFBytes, readGGUFTensorData, GGUF_READ_LIMITS } from "./gguf-reader.js";
export type { GGUFFile, GGUFTensorInfo, GGUFReadLimits } from "./gguf-reader.js";
export { quantizeQ8_0, dequantizeQ8_0, quantizeQ4_0, dequantizeQ4_0, QK, Q8_0_BLOCK_BYTES, Q4_0_BLOCK_BYTES } from "./quants.js";
export { f32ToF16, f16ToF32, f32ToBf16, bf16ToF32 } from "./float16.js";
export { convertToGGUF, outputTensorType } from "./convert.js";
export type { CheckpointSource, SourceTensor, ConvertType, ConvertOptions, ConvertProgress, ConvertResult } from "./convert.js";
export {
  GGUF_MAGIC,
  GGUF_VERSION,
  GGUF_DEFAULT_ALIGNMENT,
  GGUFValueType,
  GGMLType,
  GGML_BLOCK,
  ggmlTypeName,
  LlamaFileType,
  TokenType,
} from "./gguf-types.js";
export type {
  GGUFMetadataValue,
  GGUFArrayValue,
  GGUFScalar,
  GGUFScalarTypeName,
  GGUFValueTypeName,
  GGMLTypeName,
} from "./gguf-types.js";
