/**
 * The GGUF v3 vocabulary: metadata value types, ggml tensor types with their block sizes, and the llama.cpp file-type
 * numbers. Pure data shared by the writer, the reader and the converter; no I/O and no validation here.
 */

/** The GGUF magic, "GGUF" read as a little-endian uint32. */
export const GGUF_MAGIC = 0x46554747;
/** The version this package writes. The reader also accepts 2 (same layout, little-endian). */
export const GGUF_VERSION = 3;
/** Default `general.alignment` of tensor data. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types, by their numbers in the file. */
export const GGUFValueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

export type GGUFValueTypeName = keyof typeof GGUFValueType;
export type GGUFNumberTypeName = "uint8" | "int8" | "uint16" | "int16" | "uint32" | "int32" | "float32" | "float64";
export type GGUFBigIntTypeName = "uint64" | "int64";
export type GGUFScalarTypeName = Exclude<GGUFValueTypeName, "array">;

/** A scalar metadata value of a given type (what one array element is). */
export type GGUFScalar = number | bigint | boolean | string;

/**
 * A typed metadata value. Numbers carry their GGUF type because a JS number alone does not say whether it is a
 * uint32 or a float32; 64-bit integers are bigints.
 */
export type GGUFMetadataValue =
  | { readonly type: GGUFNumberTypeName; readonly value: number }
  | { readonly type: GGUFBigIntTypeName; readonly value: bigint }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string }
  | GGUFArrayValue;

/** An array value: scalars of one type, or (rarely) nested arrays. */
export type GGUFArrayValue =
  | { readonly type: "array"; readonly itemType: GGUFScalarTypeName; readonly value: readonly GGUFScalar[] }
  | { readonly type: "array"; readonly itemType: "array"; readonly value: readonly GGUFArrayValue[] };

/** ggml tensor types, by their numbers in the file. */
export const GGMLType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  BF16: 30,
} as const;

export type GGMLTypeName = keyof typeof GGMLType;

/** Elements per block and bytes per block of each known tensor type (ggml's `type_traits`). */
export const GGML_BLOCK: Readonly<Record<GGMLTypeName, { readonly blockSize: number; readonly typeSize: number }>> = {
  F32: { blockSize: 1, typeSize: 4 },
  F16: { blockSize: 1, typeSize: 2 },
  Q4_0: { blockSize: 32, typeSize: 18 },
  Q4_1: { blockSize: 32, typeSize: 20 },
  Q5_0: { blockSize: 32, typeSize: 22 },
  Q5_1: { blockSize: 32, typeSize: 24 },
  Q8_0: { blockSize: 32, typeSize: 34 },
  Q8_1: { blockSize: 32, typeSize: 36 },
  Q2_K: { blockSize: 256, typeSize: 84 },
  Q3_K: { blockSize: 256, typeSize: 110 },
  Q4_K: { blockSize: 256, typeSize: 144 },
  Q5_K: { blockSize: 256, typeSize: 176 },
  Q6_K: { blockSize: 256, typeSize: 210 },
  Q8_K: { blockSize: 256, typeSize: 292 },
  I8: { blockSize: 1, typeSize: 1 },
  I16: { blockSize: 1, typeSize: 2 },
  I32: { blockSize: 1, typeSize: 4 },
  I64: { blockSize: 1, typeSize: 8 },
  F64: { blockSize: 1, typeSize: 8 },
  BF16: { blockSize: 1, typeSize: 2 },
};

/** The type name of a ggml type number, or undefined for a number this package does not know. */
export function ggmlTypeName(type: number): GGMLTypeName | undefined {
  for (const [name, value] of Object.entries(GGMLType)) if (value === type) return name as GGMLTypeName;
  return undefined;
}

/** llama.cpp's `general.file_type` numbers (LLAMA_FTYPE_*) for the types the converter writes. */
export const LlamaFileType = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q8_0: 7,
  MOSTLY_BF16: 32,
} as const;

/** ggml's quantisation format version, written as `general.quantization_version`. */
export const GGML_QUANT_VERSION = 2;

/** Token types of `tokenizer.ggml.token_type` (llama.cpp's LLAMA_TOKEN_TYPE_*). */
export const TokenType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
