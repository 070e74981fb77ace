/**
 * RMSNorm over the last dimension, rows n0 .. n1 only: y = x / sqrt(mean(x²) + eps) · w (Llama, Qwen, Mistral)
 * or · (1 + w) (Gemma). `out` may be `x`. Norm weights are float32 (C). Not responsible for choosing the variant.
 */
import { dotF32 } from "./common";

// @ts-ignore: decorator
@inline function rmsNormRows(out: usize, x: usize, w: usize, C: i32, eps: f64, n0: i32, n1: i32, plusOne: bool): void {
  const C4 = C & ~3;
  const one = f32x4.splat(1);
  for (let n = n0; n < n1; n++) {
    const xr = x + ((<usize>n * <usize>C) << 2);
    const orow = out + ((<usize>n * <usize>C) << 2);
    const ss = dotF32(xr, xr, C);
    // As HF: the mean in float32, the inverse root rounded to float32.
    const inv = <f32>(1.0 / Math.sqrt(<f64>(ss / <f32>C) + eps));
    const iv = f32x4.splat(inv);
    let c = 0;
    for (; c < C4; c += 4) {
      const off = <usize>c << 2;
      let wv = v128.load(w + off);
      if (plusOne) wv = f32x4.add(one, wv);
      v128.store(orow + off, f32x4.mul(f32x4.mul(v128.load(xr + off), iv), wv));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      let wc = load<f32>(w + off);
      if (plusOne) wc = <f32>1 + wc;
      store<f32>(orow + off, load<f32>(xr + off) * inv * wc);
    }
  }
}

/** out (N, C) rows n0 .. n1 = rmsnorm(x (N, C)) · w (C). */
export function rmsNorm(out: usize, x: usize, w: usize, C: i32, eps: f64, n0: i32, n1: i32): void {
  rmsNormRows(out, x, w, C, eps, n0, n1, false);
}

/** out (N, C) rows n0 .. n1 = rmsnorm(x (N, C)) · (1 + w (C)). */
export function rmsNormPlusOne(out: usize, x: usize, w: usize, C: i32, eps: f64, n0: i32, n1: i32): void {
  rmsNormRows(out, x, w, C, eps, n0, n1, true);
}
