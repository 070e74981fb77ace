/**
 * out (T, O) = x (T, C) · w (O, C)ᵀ with 16-bit weights (IEEE half or bfloat16 bits), read in place and widened
 * in registers, for output rows o0 .. o1 only. Not a conversion of the weights; not responsible for biases.
 *
 * Sixteen channels per step: two v128 loads hold sixteen packed 16-bit weights; each group of four is interleaved
 * with zero into the high halves of 32-bit lanes (bfloat16: that is the float32; half: a shift, a mask and a
 * product by 2^112, exact for finite values and subnormals) and meets x's channels in natural order, so x needs
 * no shuffle. Per output element, four f32x4 accumulators: a_k += x[c+4k .. c+4k+4)·w[c+4k .. c+4k+4) for
 * k = 0..3, chunk by chunk (four independent add chains); then (a0 + a1) + (a2 + a3), the fixed-order horizontal
 * sum, and the C mod 16 tail in order. The same in every tile, so any row split, and T = 1 or T > 1, give
 * identical bits.
 * Tiles: decode (T = 1) reads one weight row at a time, front to back, so the weights stream through memory as
 * one sequential run (measured: about twice the bandwidth of reading 4 or 8 rows side by side, see
 * test/kernels-wasm/measure-matmul.ts); T > 1 takes 1 row × 2 tokens (each weight chunk widened once for two
 * tokens, 8 accumulators), and a last odd token goes through the 1 × 1 tile.
 */
import { bf16ToF32, f16High, f16ToF32, hsum, widenHigh16, widenLow16 } from "./common";

/** Channels 0..3 of a chunk of eight 16-bit weights as float32. */
// @ts-ignore: decorator
@inline function lo(v: v128, bf16: bool): v128 {
  return bf16 ? widenLow16(v) : f16High(widenLow16(v));
}

/** Channels 4..7 of a chunk of eight 16-bit weights as float32. */
// @ts-ignore: decorator
@inline function hi(v: v128, bf16: bool): v128 {
  return bf16 ? widenHigh16(v) : f16High(widenHigh16(v));
}

// @ts-ignore: decorator
@inline function tailHalf(a0: v128, a1: v128, a2: v128, a3: v128, x: usize, w: usize, c0: i32, C: i32, bf16: bool): f32 {
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (let c = c0; c < C; c++) {
    const bits = <u32>load<u16>(w + (<usize>c << 1));
    s += load<f32>(x + (<usize>c << 2)) * (bf16 ? bf16ToF32(bits) : f16ToF32(bits));
  }
  return s;
}

/** One output element: weight row w0 (C halves) · token x (C float32), 1 × 1 tile. */
// @ts-ignore: decorator
@inline function dot1(x: usize, w0: usize, C: i32, C16: i32, bf16: bool): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let c = 0; c < C16; c += 16) {
    const xo = x + (<usize>c << 2);
    const wo = w0 + (<usize>c << 1);
    const v = v128.load(wo);
    const u = v128.load(wo, 16);
    a0 = f32x4.add(a0, f32x4.mul(v128.load(xo), lo(v, bf16)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(xo, 16), hi(v, bf16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(xo, 32), lo(u, bf16)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(xo, 48), hi(u, bf16)));
  }
  return tailHalf(a0, a1, a2, a3, x, w0, C16, C, bf16);
}

/** Two output elements: weight row w0 · tokens xa and xb (1 row × 2 tokens), stored at oa and ob. */
// @ts-ignore: decorator
@inline function dot2(oa: usize, ob: usize, xa: usize, xb: usize, w0: usize, C: i32, C16: i32, bf16: bool): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  for (let c = 0; c < C16; c += 16) {
    const xo = <usize>c << 2;
    const wo = w0 + (<usize>c << 1);
    const v = v128.load(wo);
    let l = lo(v, bf16);
    a0 = f32x4.add(a0, f32x4.mul(v128.load(xa + xo), l));
    b0 = f32x4.add(b0, f32x4.mul(v128.load(xb + xo), l));
    l = hi(v, bf16);
    a1 = f32x4.add(a1, f32x4.mul(v128.load(xa + xo, 16), l));
    b1 = f32x4.add(b1, f32x4.mul(v128.load(xb + xo, 16), l));
    const u = v128.load(wo, 16);
    l = lo(u, bf16);
    a2 = f32x4.add(a2, f32x4.mul(v128.load(xa + xo, 32), l));
    b2 = f32x4.add(b2, f32x4.mul(v128.load(xb + xo, 32), l));
    l = hi(u, bf16);
    a3 = f32x4.add(a3, f32x4.mul(v128.load(xa + xo, 48), l));
    b3 = f32x4.add(b3, f32x4.mul(v128.load(xb + xo, 48), l));
  }
  store<f32>(oa, tailHalf(a0, a1, a2, a3, xa, w0, C16, C, bf16));
  store<f32>(ob, tailHalf(b0, b1, b2, b3, xb, w0, C16, C, bf16));
}

// @ts-ignore: decorator
@inline function matmulHalf(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32, bf16: bool): void {
  const C16 = C & ~15;
  const xRow = <usize>C << 2;
  const wRow = <usize>C << 1;
  const outRow = <usize>O << 2;
  for (let o = o0; o < o1; o++) {
    const w0 = w + <usize>o * wRow;
    const oo = out + (<usize>o << 2);
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      const xa = x + <usize>t * xRow;
      const oa = oo + <usize>t * outRow;
      dot2(oa, oa + outRow, xa, xa + xRow, w0, C, C16, bf16);
    }
    if (t < T) store<f32>(oo + <usize>t * outRow, dot1(x + <usize>t * xRow, w0, C, C16, bf16));
  }
}

/** out (T, O) rows o0 .. o1 = x (T, C) · w (O, C)ᵀ, w IEEE half bits (finite values). */
export function matmulF16(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulHalf(out, x, w, T, C, O, o0, o1, false);
}

/** out (T, O) rows o0 .. o1 = x (T, C) · w (O, C)ᵀ, w bfloat16 bits. */
export function matmulBF16(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulHalf(out, x, w, T, C, O, o0, o1, true);
}
