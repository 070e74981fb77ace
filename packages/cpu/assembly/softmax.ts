/**
 * Numerically stable softmax over the last dimension (maximum subtracted first), rows n0 .. n1 only. `out` may be
 * `x`. Not used inside attention (which fuses its own); for logits and tests.
 */
import { expS, expV, hsum } from "./common";

/** out (N, K) rows n0 .. n1 = softmax(x (N, K)) along K. */
export function softmax(out: usize, x: usize, K: i32, n0: i32, n1: i32): void {
  const K4 = K & ~3;
  for (let n = n0; n < n1; n++) {
    const xr = x + ((<usize>n * <usize>K) << 2);
    const orow = out + ((<usize>n * <usize>K) << 2);
    let mv = f32x4.splat(-Infinity);
    let k = 0;
    for (; k < K4; k += 4) mv = f32x4.max(mv, v128.load(xr + (<usize>k << 2)));
    mv = f32x4.max(mv, v128.shuffle<f32>(mv, mv, 2, 3, 0, 1));
    let mx = max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1));
    for (; k < K; k++) mx = max(mx, load<f32>(xr + (<usize>k << 2)));
    const m = f32x4.splat(mx);
    let acc = f32x4.splat(0);
    for (k = 0; k < K4; k += 4) {
      const off = <usize>k << 2;
      const e = expV(f32x4.sub(v128.load(xr + off), m));
      v128.store(orow + off, e);
      acc = f32x4.add(acc, e);
    }
    let sum = hsum(acc);
    for (; k < K; k++) {
      const off = <usize>k << 2;
      const e = expS(load<f32>(xr + off) - mx);
      store<f32>(orow + off, e);
      sum += e;
    }
    const inv: f32 = <f32>1 / sum;
    const iv = f32x4.splat(inv);
    for (k = 0; k < K4; k += 4) {
      const off = <usize>k << 2;
      v128.store(orow + off, f32x4.mul(v128.load(orow + off), iv));
    }
    for (; k < K; k++) {
      const off = <usize>k << 2;
      store<f32>(orow + off, load<f32>(orow + off) * inv);
    }
  }
}
