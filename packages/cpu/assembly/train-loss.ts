/**
 * Fused softmax cross-entropy over the vocabulary rows n0 .. n1, forward and backward in one pass per row: each
 * counted row's loss, log Σ exp(logits) − logits[target], goes to rowLoss (the caller sums and divides), and its
 * gradient weight · (softmax − onehot(target)) overwrites dLogits, which may be the logits themselves. Rows with
 * mask 0 get loss 0 and a zero gradient. Not the lm_head, the soft-cap or the choice of targets.
 */
import { expS, expV, hsum } from "./common";
import { logPositive } from "./train-math";

/**
 * dLogits (N, V), rowLoss (N) rows n0 .. n1 from logits (N, V), targets (N) int32 in [0, V) and mask (N) float32
 * of 0 or 1; weight = 1 / (number of counted rows).
 */
export function crossEntropy(
  dLogits: usize, rowLoss: usize, logits: usize, targets: usize, mask: usize, weight: f32, V: i32, n0: i32, n1: i32,
): void {
  const V4 = V & ~3;
  for (let n = n0; n < n1; n++) {
    const base = (<usize>n * <usize>V) << 2;
    const xr = logits + base;
    const dr = dLogits + base;
    if (load<f32>(mask + (<usize>n << 2)) == 0) {
      memory.fill(dr, 0, <usize>V << 2);
      store<f32>(rowLoss + (<usize>n << 2), 0);
      continue;
    }
    let mv = f32x4.splat(-Infinity);
    let v = 0;
    for (; v < V4; v += 4) mv = f32x4.max(mv, v128.load(xr + (<usize>v << 2)));
    mv = f32x4.max(mv, v128.shuffle<f32>(mv, mv, 2, 3, 0, 1));
    let mx = max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1));
    for (; v < V; v++) mx = max(mx, load<f32>(xr + (<usize>v << 2)));
    const m = f32x4.splat(mx);
    let acc = f32x4.splat(0);
    for (v = 0; v < V4; v += 4) acc = f32x4.add(acc, expV(f32x4.sub(v128.load(xr + (<usize>v << 2)), m)));
    let sum = hsum(acc);
    for (; v < V; v++) sum += expS(load<f32>(xr + (<usize>v << 2)) - mx);
    const lse = mx + <f32>logPositive(<f64>sum);
    const target = load<i32>(targets + (<usize>n << 2));
    const xt = load<f32>(xr + (<usize>target << 2));
    store<f32>(rowLoss + (<usize>n << 2), lse - xt);
    const lv = f32x4.splat(lse);
    const wv = f32x4.splat(weight);
    for (v = 0; v < V4; v += 4) {
      const off = <usize>v << 2;
      v128.store(dr + off, f32x4.mul(wv, expV(f32x4.sub(v128.load(xr + off), lv))));
    }
    for (; v < V; v++) {
      const off = <usize>v << 2;
      store<f32>(dr + off, weight * expS(load<f32>(xr + off) - lse));
    }
    const tp = dr + (<usize>target << 2);
    store<f32>(tp, load<f32>(tp) - weight);
  }
}
