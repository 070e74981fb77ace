/**
 * RMSNorm for training: the forward that also saves each row's inverse root mean square r, and the backward split
 * in two kernels so threads never write the same bytes: dX by rows, dW by columns (a sum over every row).
 * y = x · r · g with g = w, or 1 + w when plusOne (Gemma); r = 1 / sqrt(mean(x²) + eps). Also serves the per-head
 * q/k norms (rows = tokens × heads, C = head dimension). Not the inference norm (rms-norm.ts), which saves nothing.
 */
import { dotF32, hsum } from "./common";

/** out (N, C) rows n0 .. n1 = x · r · g, inv (N) = r. `out` may be `x`. */
export function rmsNormSave(out: usize, inv: usize, x: usize, w: usize, C: i32, eps: f64, plusOne: i32, n0: i32, n1: i32): void {
  const C4 = C & ~3;
  const shift: f32 = plusOne != 0 ? 1 : 0;
  const sv = f32x4.splat(shift);
  for (let n = n0; n < n1; n++) {
    const xr = x + ((<usize>n * <usize>C) << 2);
    const orow = out + ((<usize>n * <usize>C) << 2);
    const ss = dotF32(xr, xr, C);
    const r = <f32>(1.0 / Math.sqrt(<f64>(ss / <f32>C) + eps));
    store<f32>(inv + (<usize>n << 2), r);
    const rv = f32x4.splat(r);
    let c = 0;
    for (; c < C4; c += 4) {
      const off = <usize>c << 2;
      v128.store(orow + off, f32x4.mul(f32x4.mul(v128.load(xr + off), rv), f32x4.add(v128.load(w + off), sv)));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      store<f32>(orow + off, load<f32>(xr + off) * r * (load<f32>(w + off) + shift));
    }
  }
}

/**
 * dX (N, C) rows n0 .. n1 += r · g ⊙ dOut − x · r³ / C · Σ_c dOut_c g_c x_c, given the forward's input x (N, C)
 * and saved inv (N). dX must not alias dOut or x.
 */
export function rmsNormBackward(dX: usize, dOut: usize, x: usize, inv: usize, w: usize, C: i32, plusOne: i32, n0: i32, n1: i32): void {
  const C4 = C & ~3;
  const shift: f32 = plusOne != 0 ? 1 : 0;
  const sv = f32x4.splat(shift);
  for (let n = n0; n < n1; n++) {
    const base = (<usize>n * <usize>C) << 2;
    const xr = x + base;
    const gr = dOut + base;
    const dr = dX + base;
    const r = load<f32>(inv + (<usize>n << 2));
    let acc = f32x4.splat(0);
    let c = 0;
    for (; c < C4; c += 4) {
      const off = <usize>c << 2;
      const g = f32x4.add(v128.load(w + off), sv);
      acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(gr + off), g), v128.load(xr + off)));
    }
    let dot = hsum(acc);
    for (; c < C; c++) {
      const off = <usize>c << 2;
      dot += load<f32>(gr + off) * (load<f32>(w + off) + shift) * load<f32>(xr + off);
    }
    const k = (dot * r * r * r) / <f32>C;
    const rv = f32x4.splat(r);
    const kv = f32x4.splat(k);
    for (c = 0; c < C4; c += 4) {
      const off = <usize>c << 2;
      const g = f32x4.add(v128.load(w + off), sv);
      const d = f32x4.sub(f32x4.mul(f32x4.mul(rv, g), v128.load(gr + off)), f32x4.mul(kv, v128.load(xr + off)));
      v128.store(dr + off, f32x4.add(v128.load(dr + off), d));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      const d = r * (load<f32>(w + off) + shift) * load<f32>(gr + off) - k * load<f32>(xr + off);
      store<f32>(dr + off, load<f32>(dr + off) + d);
    }
  }
}

/** dW (C) columns c0 .. c1 += Σ_n dOut (N, C)[n] ⊙ x (N, C)[n] · inv[n]: the norm weight's gradient. */
export function rmsNormGradW(dW: usize, dOut: usize, x: usize, inv: usize, N: i32, C: i32, c0: i32, c1: i32): void {
  const row = <usize>C << 2;
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    const off = <usize>c << 2;
    let acc = f32x4.splat(0);
    for (let n = 0; n < N; n++) {
      const p = <usize>n * row + off;
      const prod = f32x4.mul(v128.load(dOut + p), v128.load(x + p));
      acc = f32x4.add(acc, f32x4.mul(prod, v128.load32_splat(inv + (<usize>n << 2))));
    }
    v128.store(dW + off, f32x4.add(v128.load(dW + off), acc));
  }
  for (; c < c1; c++) {
    const off = <usize>c << 2;
    let s: f32 = 0;
    for (let n = 0; n < N; n++) {
      const p = <usize>n * row + off;
      s += load<f32>(dOut + p) * load<f32>(x + p) * load<f32>(inv + (<usize>n << 2));
    }
    store<f32>(dW + off, load<f32>(dW + off) + s);
  }
}
