/**
 * Shared helpers of the WebAssembly kernels: the fixed-order horizontal sum, 16-bit float conversions (scalar and
 * four lanes at a time), a vector exp and the dot product the attention kernel uses. Helpers only; no exported
 * kernel lives here. Every helper is inlined so the kernels that use it compile to straight-line SIMD.
 *
 * Pointers are byte offsets into the one shared memory; f32 buffers are 4-byte aligned, 16-bit buffers 2-byte
 * aligned (v128 loads do not require more in WebAssembly).
 */

/** 2^112: scales the 15 magnitude bits of an IEEE half, shifted into float32 position, to their value. */
// @ts-ignore: decorator
@inline export const HALF_MAGIC: f32 = reinterpret<f32>(0x77800000);

/** The sum of four f32 lanes in one fixed order, (l0 + l2) + (l1 + l3), so every kernel rounds alike. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, v128.shuffle<f32>(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/** IEEE half bits (low 16 bits of `h`) to float32; exact for every finite value, subnormals included. */
// @ts-ignore: decorator
@inline export function f16ToF32(h: u32): f32 {
  const mag = reinterpret<f32>((h & 0x7fff) << 13) * HALF_MAGIC;
  return reinterpret<f32>(reinterpret<u32>(mag) | ((h & 0x8000) << 16));
}

/** bfloat16 bits (low 16 bits of `h`) to float32; exact for every value. */
// @ts-ignore: decorator
@inline export function bf16ToF32(h: u32): f32 {
  return reinterpret<f32>(h << 16);
}

/** float32 to the nearest IEEE half value (round to nearest even), returned as float32. Finite inputs only. */
export function roundToF16(value: f32): f32 {
  const h = f32ToF16Bits(value);
  if ((h & 0x7fff) >= 0x7c00) return reinterpret<f32>(((h & 0x8000) << 16) | 0x7f800000);
  return f16ToF32(h);
}

/**
 * float32 to the bits of the nearest IEEE half (round to nearest even); values beyond the half range become
 * infinities, NaN a quiet NaN (0x7e00), as @dappcore/inference-gguf's f32ToF16.
 */
export function f32ToF16Bits(value: f32): u32 {
  const x = reinterpret<u32>(value);
  const sign = (x >>> 16) & 0x8000;
  const exp = <i32>((x >>> 23) & 0xff);
  let mant = x & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant != 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  let h: u32;
  if (e >= 0x1f) {
    h = sign | 0x7c00;
  } else if (e <= 0) {
    if (e < -10) {
      h = sign;
    } else {
      mant |= 0x800000;
      const shift = <u32>(14 - e);
      const half = <u32>1 << (shift - 1);
      const rest = mant & ((<u32>1 << shift) - 1);
      h = mant >>> shift;
      if (rest > half || (rest == half && (h & 1) != 0)) h++;
      h |= sign;
    }
  } else {
    h = (<u32>e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) h++;
    h |= sign;
  }
  return h;
}

/**
 * The even-indexed halves of eight packed IEEE halves (lane k holds elements 2k and 2k+1) as four float32:
 * elements 0, 2, 4, 6. Also converts four lanes that hold one half each in their low 16 bits.
 */
// @ts-ignore: decorator
@inline export function f16Even(v: v128): v128 {
  const mag = i32x4.shl(v128.and(v, i32x4.splat(0x7fff)), 13);
  const sign = i32x4.shl(v128.and(v, i32x4.splat(0x8000)), 16);
  return v128.or(f32x4.mul(mag, f32x4.splat(HALF_MAGIC)), sign);
}

/**
 * Elements 0..3 of eight packed 16-bit floats, each moved to the high half of a 32-bit lane with zero below
 * (one interleave with zero): for bfloat16 that is already the float32 value.
 */
// @ts-ignore: decorator
@inline export function widenLow16(v: v128): v128 {
  return v128.shuffle<u16>(i32x4.splat(0), v, 0, 8, 1, 9, 2, 10, 3, 11);
}

/** Elements 4..7 of eight packed 16-bit floats in the high halves of four 32-bit lanes (see widenLow16). */
// @ts-ignore: decorator
@inline export function widenHigh16(v: v128): v128 {
  return v128.shuffle<u16>(i32x4.splat(0), v, 4, 12, 5, 13, 6, 14, 7, 15);
}

/**
 * Four IEEE halves held in the high halves of 32-bit lanes (widenLow16/High16) to float32. An arithmetic shift
 * by 3 puts the 15 magnitude bits in float32 position and keeps the sign in bit 31; the mask clears the three
 * copies of the sign between them; the product by 2^112 rescales, keeping the sign. Exact for finite values,
 * subnormals included; bitwise equal to f16ToF32.
 */
// @ts-ignore: decorator
@inline export function f16High(v: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(v, 3), i32x4.splat(0x8fffe000)), f32x4.splat(HALF_MAGIC));
}

/** 1.5 · 2^23: adding it to a float32 of magnitude below 2^22 rounds it to an integer (ties to even) held in the low
 * mantissa bits, so that the bits of the sum less the bits of the constant are that integer. */
// @ts-ignore: decorator
@inline const ROUND_MAGIC: f32 = 12582912.0;

/**
 * e^x on four lanes (Cephes' expf: range reduction by ln 2 in two parts, degree-6 polynomial, about 1 ulp).
 * x > 88 gives +Infinity, x < −87.3 gives 0 (no subnormal results); −Infinity gives 0; NaN gives NaN.
 * Cheap forms of the same arithmetic: pmin/pmax (one instruction each; NaN stays NaN as x is their first operand)
 * for the clamp, and the ROUND_MAGIC sum for nearest() and the float-to-int conversion (both one instruction less
 * fixups for NaN and overflow that cannot occur here); bit for bit the results of min/max, nearest and trunc_sat.
 */
// @ts-ignore: decorator
@inline export function expV(x: v128): v128 {
  const xc = f32x4.pmax(f32x4.pmin(x, f32x4.splat(88.0)), f32x4.splat(-88.0));
  const m = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), f32x4.splat(ROUND_MAGIC));
  const n = f32x4.sub(m, f32x4.splat(ROUND_MAGIC));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), f32x4.splat(1.0));
  const pow2 = i32x4.shl(i32x4.add(i32x4.sub(m, f32x4.splat(ROUND_MAGIC)), i32x4.splat(127)), 23);
  let y = f32x4.mul(p, pow2);
  y = v128.bitselect(f32x4.splat(Infinity), y, f32x4.gt(x, f32x4.splat(88.0)));
  return v128.bitselect(f32x4.splat(0.0), y, f32x4.lt(x, f32x4.splat(-87.33654)));
}

/** e^x of one value through the same lanes as expV, so scalar tails round exactly as the vector body. */
// @ts-ignore: decorator
@inline export function expS(x: f32): f32 {
  return f32x4.extract_lane(expV(f32x4.splat(x)), 0);
}

/**
 * Dot product of two float32 vectors of length n in one fixed order: four accumulators over blocks of 16,
 * combined as (a0 + a1) + (a2 + a3), then blocks of 4 into that sum, its horizontal sum, then a scalar tail.
 */
// @ts-ignore: decorator
@inline export function dotF32(a: usize, b: usize, n: i32): f32 {
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const pa = a + (<usize>i << 2);
    const pb = b + (<usize>i << 2);
    a0 = f32x4.add(a0, f32x4.mul(v128.load(pa), v128.load(pb)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(pa, 16), v128.load(pb, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(pa, 32), v128.load(pb, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(pa, 48), v128.load(pb, 48)));
  }
  let acc = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  for (; i + 4 <= n; i += 4) {
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + (<usize>i << 2)), v128.load(b + (<usize>i << 2))));
  }
  let s = hsum(acc);
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}
