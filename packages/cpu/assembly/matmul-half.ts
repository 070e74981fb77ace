/**
 * out (T, O) = x (T, C) · w (O, C)ᵀ with 16-bit weights (IEEE half or bfloat16 bits), read in place and widened
 * in registers, for output rows o0 .. o1 only. Not a conversion of the weights; not responsible for biases.
 *
 * Eight channels per step: one v128 load holds eight packed 16-bit weights; their even and odd elements widen to
 * two f32x4 with shifts and masks (bfloat16: the bits shifted up by 16; half: the 15 magnitude bits shifted by 13
 * and multiplied by 2^112, exact for finite values and subnormals, the sign or-ed back), and meet x's even and
 * odd elements. Per output element: acc += x_even·w_even, then acc += x_odd·w_odd, each chunk of 8; the fixed-order
 * horizontal sum; then the C mod 8 tail in order. The same in every tile, so any row split gives identical bits.
 */
import { bf16Even, bf16Odd, bf16ToF32, evenOf, f16Even, f16Odd, f16ToF32, hsum, oddOf } from "./common";

// @ts-ignore: decorator
@inline function even(v: v128, bf16: bool): v128 {
  return bf16 ? bf16Even(v) : f16Even(v);
}

// @ts-ignore: decorator
@inline function odd(v: v128, bf16: bool): v128 {
  return bf16 ? bf16Odd(v) : f16Odd(v);
}

// @ts-ignore: decorator
@inline function tailHalf(acc: v128, x: usize, w: usize, c0: i32, C: i32, bf16: bool): f32 {
  let s = hsum(acc);
  for (let c = c0; c < C; c++) {
    const bits = <u32>load<u16>(w + (<usize>c << 1));
    s += load<f32>(x + (<usize>c << 2)) * (bf16 ? bf16ToF32(bits) : f16ToF32(bits));
  }
  return s;
}

// @ts-ignore: decorator
@inline function matmulHalf(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32, bf16: bool): void {
  const C8 = C & ~7;
  const xRow = <usize>C << 2;
  const wRow = <usize>C << 1;
  const outRow = <usize>O << 2;
  let o = o0;
  for (; o + 4 <= o1; o += 4) {
    const w0 = w + <usize>o * wRow;
    const w1 = w0 + wRow;
    const w2 = w1 + wRow;
    const w3 = w2 + wRow;
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      const xa = x + <usize>t * xRow;
      const xb = xa + xRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
      for (let c = 0; c < C8; c += 8) {
        const xo = <usize>c << 2;
        const wo = <usize>c << 1;
        const pa = v128.load(xa + xo);
        const qa = v128.load(xa + xo, 16);
        const ae = evenOf(pa, qa);
        const ao = oddOf(pa, qa);
        const pb = v128.load(xb + xo);
        const qb = v128.load(xb + xo, 16);
        const be = evenOf(pb, qb);
        const bo = oddOf(pb, qb);
        let v = v128.load(w0 + wo);
        let we = even(v, bf16);
        let wd = odd(v, bf16);
        a0 = f32x4.add(f32x4.add(a0, f32x4.mul(ae, we)), f32x4.mul(ao, wd));
        b0 = f32x4.add(f32x4.add(b0, f32x4.mul(be, we)), f32x4.mul(bo, wd));
        v = v128.load(w1 + wo);
        we = even(v, bf16);
        wd = odd(v, bf16);
        a1 = f32x4.add(f32x4.add(a1, f32x4.mul(ae, we)), f32x4.mul(ao, wd));
        b1 = f32x4.add(f32x4.add(b1, f32x4.mul(be, we)), f32x4.mul(bo, wd));
        v = v128.load(w2 + wo);
        we = even(v, bf16);
        wd = odd(v, bf16);
        a2 = f32x4.add(f32x4.add(a2, f32x4.mul(ae, we)), f32x4.mul(ao, wd));
        b2 = f32x4.add(f32x4.add(b2, f32x4.mul(be, we)), f32x4.mul(bo, wd));
        v = v128.load(w3 + wo);
        we = even(v, bf16);
        wd = odd(v, bf16);
        a3 = f32x4.add(f32x4.add(a3, f32x4.mul(ae, we)), f32x4.mul(ao, wd));
        b3 = f32x4.add(f32x4.add(b3, f32x4.mul(be, we)), f32x4.mul(bo, wd));
      }
      const oa = out + <usize>t * outRow + (<usize>o << 2);
      const ob = oa + outRow;
      store<f32>(oa, tailHalf(a0, xa, w0, C8, C, bf16));
      store<f32>(oa, tailHalf(a1, xa, w1, C8, C, bf16), 4);
      store<f32>(oa, tailHalf(a2, xa, w2, C8, C, bf16), 8);
      store<f32>(oa, tailHalf(a3, xa, w3, C8, C, bf16), 12);
      store<f32>(ob, tailHalf(b0, xb, w0, C8, C, bf16));
      store<f32>(ob, tailHalf(b1, xb, w1, C8, C, bf16), 4);
      store<f32>(ob, tailHalf(b2, xb, w2, C8, C, bf16), 8);
      store<f32>(ob, tailHalf(b3, xb, w3, C8, C, bf16), 12);
    }
    if (t < T) {
      const xa = x + <usize>t * xRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let c = 0; c < C8; c += 8) {
        const xo = <usize>c << 2;
        const wo = <usize>c << 1;
        const pa = v128.load(xa + xo);
        const qa = v128.load(xa + xo, 16);
        const ae = evenOf(pa, qa);
        const ao = oddOf(pa, qa);
        let v = v128.load(w0 + wo);
        a0 = f32x4.add(f32x4.add(a0, f32x4.mul(ae, even(v, bf16))), f32x4.mul(ao, odd(v, bf16)));
        v = v128.load(w1 + wo);
        a1 = f32x4.add(f32x4.add(a1, f32x4.mul(ae, even(v, bf16))), f32x4.mul(ao, odd(v, bf16)));
        v = v128.load(w2 + wo);
        a2 = f32x4.add(f32x4.add(a2, f32x4.mul(ae, even(v, bf16))), f32x4.mul(ao, odd(v, bf16)));
        v = v128.load(w3 + wo);
        a3 = f32x4.add(f32x4.add(a3, f32x4.mul(ae, even(v, bf16))), f32x4.mul(ao, odd(v, bf16)));
      }
      const oa = out + <usize>t * outRow + (<usize>o << 2);
      store<f32>(oa, tailHalf(a0, xa, w0, C8, C, bf16));
      store<f32>(oa, tailHalf(a1, xa, w1, C8, C, bf16), 4);
      store<f32>(oa, tailHalf(a2, xa, w2, C8, C, bf16), 8);
      store<f32>(oa, tailHalf(a3, xa, w3, C8, C, bf16), 12);
    }
  }
  for (; o < o1; o++) {
    const w0 = w + <usize>o * wRow;
    for (let t = 0; t < T; t++) {
      const xa = x + <usize>t * xRow;
      let a0 = f32x4.splat(0);
      for (let c = 0; c < C8; c += 8) {
        const xo = <usize>c << 2;
        const pa = v128.load(xa + xo);
        const qa = v128.load(xa + xo, 16);
        const v = v128.load(w0 + (<usize>c << 1));
        a0 = f32x4.add(f32x4.add(a0, f32x4.mul(evenOf(pa, qa), even(v, bf16))), f32x4.mul(oddOf(pa, qa), odd(v, bf16)));
      }
      store<f32>(out + <usize>t * outRow + (<usize>o << 2), tailHalf(a0, xa, w0, C8, C, bf16));
    }
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
