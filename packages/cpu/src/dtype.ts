/**
 * Conversions between float32 and the 16-bit storage types (IEEE half and bfloat16), bit-exact and with
 * round-to-nearest-even, as PyTorch and llama.cpp do them: whole-array encode/decode for the loader, writer and tests.
 * Bulk kernels live in engine/kernels.
 */

import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "@dappcore/inference-gguf";

// The scalar conversions are the GGUF package's (one implementation for both packages).
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 };

/** Bytes per element of a storage type. */
export function dtypeBytes(dtype: "F32" | "F16" | "BF16"): number {
  return dtype === "F32" ? 4 : 2;
}

/** Encodes float32 values into the bytes of `dtype` (little-endian), in a fresh aligned buffer. */
export function encodeFloats(values: ArrayLike<number>, dtype: "F32" | "F16" | "BF16"): Uint8Array {
  if (dtype === "F32") return new Uint8Array(Float32Array.from(values).buffer);
  const out = new Uint16Array(values.length);
  const convert = dtype === "F16" ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]);
  return new Uint8Array(out.buffer);
}

/** Decodes the bytes of a tensor of `dtype` into float32 values. */
export function decodeFloats(bytes: Uint8Array, dtype: "F32" | "F16" | "BF16"): Float32Array {
  if (dtype === "F32") {
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  const n = bytes.byteLength >>> 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  const convert = dtype === "F16" ? f16ToF32 : bf16ToF32;
  for (let i = 0; i < n; i++) out[i] = convert(view.getUint16(i * 2, true));
  return out;
}
