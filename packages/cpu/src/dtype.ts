/**
 * Conversions between float32 and the 16-bit storage types (IEEE half and bfloat16), bit-exact and with
 * round-to-nearest-even, as PyTorch and llama.cpp do them. Scalar helpers only; bulk kernels live in engine/kernels.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 bits to float32. */
export function bf16ToF32(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** float32 to bfloat16 bits, round to nearest even; NaN stays NaN. */
export function f32ToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** IEEE half bits to float32. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const frac = bits & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float32 to IEEE half bits, round to nearest even, overflow to infinity. */
export function f32ToF16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return sign | h;
}

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
