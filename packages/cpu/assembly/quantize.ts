/**
 * Load-time quantisation of weight matrices to llama.cpp's Q8_0 blocks, in place: the WebAssembly twin of
 * @dappcore/inference-gguf's quantizeQ8_0 (llama.cpp's quantize_row_q8_0_ref), bit for bit. Not the activation
 * quantiser (matmul-quant.ts's quantizeQ8Activations rounds half to even and keeps int16; this rounds half away
 * from zero, as the reference does for weights).
 *
 * Per block of 32 weights: amax = max|x| (NaN skipped), d = amax/127, id = 1/d (0 when d = 0), scale stored as the
 * f16 nearest d, q = round-half-away(x·id) as int8; all float32 arithmetic.
 */
import { f16High, f32ToF16Bits, widenHigh16, widenLow16 } from "./common";

const SRC_F32: i32 = 0;
const SRC_F16: i32 = 1;

/** Four float32 of the source starting at element e (F32, F16 bits or bfloat16 bits). */
// @ts-ignore: decorator
@inline function four(src: usize, e: usize, type: i32, hiHalf: bool): v128 {
  if (type == SRC_F32) return v128.load(src + (e << 2));
  const v = v128.load(src + ((e & ~7) << 1));
  const w = hiHalf ? widenHigh16(v) : widenLow16(v);
  return type == SRC_F16 ? f16High(w) : w;
}

/** round half away from zero of four float32 (C's roundf), as int32. */
// @ts-ignore: decorator
@inline function roundAway(x: v128): v128 {
  const t = f32x4.trunc(x);
  const half = f32x4.ge(f32x4.abs(f32x4.sub(x, t)), f32x4.splat(0.5));
  const one = v128.or(v128.and(x, i32x4.splat(0x80000000)), f32x4.splat(1)); // copysign(1, x)
  return i32x4.trunc_sat_f32x4_s(f32x4.add(t, v128.and(half, one)));
}

/**
 * Quantises nBlocks consecutive blocks of 32 weights at src (type 0 = F32, 1 = F16 bits, 2 = bfloat16 bits, whose
 * widening to float32 is exact) into
 * Q8_0 blocks at dst (34 bytes each). dst may equal src: block b is read whole before it is written, and its
 * output never reaches the input of a later block.
 */
export function quantizeQ8_0Blocks(dst: usize, src: usize, type: i32, nBlocks: i32): void {
  for (let b = 0; b < nBlocks; b++) {
    const e = <usize>b << 5;
    const v0 = four(src, e, type, false), v1 = four(src, e + 4, type, true);
    const v2 = four(src, e + 8, type, false), v3 = four(src, e + 12, type, true);
    const v4 = four(src, e + 16, type, false), v5 = four(src, e + 20, type, true);
    const v6 = four(src, e + 24, type, false), v7 = four(src, e + 28, type, true);
    // pmax(m, |x|) keeps m when |x| is NaN, as the reference's `if (a > amax)` does.
    let m = f32x4.splat(0);
    m = f32x4.pmax(m, f32x4.abs(v0)); m = f32x4.pmax(m, f32x4.abs(v1));
    m = f32x4.pmax(m, f32x4.abs(v2)); m = f32x4.pmax(m, f32x4.abs(v3));
    m = f32x4.pmax(m, f32x4.abs(v4)); m = f32x4.pmax(m, f32x4.abs(v5));
    m = f32x4.pmax(m, f32x4.abs(v6)); m = f32x4.pmax(m, f32x4.abs(v7));
    const a0 = f32x4.extract_lane(m, 0), a1 = f32x4.extract_lane(m, 1);
    const a2 = f32x4.extract_lane(m, 2), a3 = f32x4.extract_lane(m, 3);
    const amax = max(max(a0, a1), max(a2, a3));
    const d: f32 = amax / 127;
    const id = f32x4.splat(d != 0 ? <f32>1 / d : <f32>0);
    const q01 = i16x8.narrow_i32x4_s(roundAway(f32x4.mul(v0, id)), roundAway(f32x4.mul(v1, id)));
    const q23 = i16x8.narrow_i32x4_s(roundAway(f32x4.mul(v2, id)), roundAway(f32x4.mul(v3, id)));
    const q45 = i16x8.narrow_i32x4_s(roundAway(f32x4.mul(v4, id)), roundAway(f32x4.mul(v5, id)));
    const q67 = i16x8.narrow_i32x4_s(roundAway(f32x4.mul(v6, id)), roundAway(f32x4.mul(v7, id)));
    const out = dst + <usize>b * 34;
    store<u16>(out, <u16>f32ToF16Bits(d));
    v128.store(out, i8x16.narrow_i16x8_s(q01, q23), 2);
    v128.store(out, i8x16.narrow_i16x8_s(q45, q67), 18);
  }
}
