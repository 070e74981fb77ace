/**
 * Fused softmax cross-entropy over the vocabulary: the mean, over counted rows, of −log softmax(logits)[target],
 * and its gradient with respect to the logits, in one pass per row (the logits are never needed again, so dLogits
 * may overwrite them). Rows with mask 0 contribute neither loss nor gradient. Not the lm_head or the soft-cap before
 * it, and not the choice of targets (the model shifts tokens by one).
 */
import type { Floats } from "./floats.js";

/**
 * Returns loss = Σ_n m_n · (log Σ_v exp(logits_nv) − logits_n,target_n) / Σ_n m_n and writes
 * dLogits (N, V) = m_n / Σ m · (softmax(logits_n) − onehot(target_n)) (zero on rows with m_n = 0).
 * logits (N, V), targets (N) in [0, V) on counted rows, mask (N) of 0/1 or undefined (every row counts).
 * `dLogits` may be `logits`. With no counted row, returns 0 and writes zeros.
 */
export function crossEntropyForwardBackward(
  dLogits: Floats,
  logits: Floats,
  targets: ArrayLike<number>,
  mask: ArrayLike<number> | undefined,
  N: number,
  V: number,
): number {
  let count = 0;
  for (let n = 0; n < N; n++) count += mask === undefined ? 1 : mask[n];
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const row = n * V;
    const m = mask === undefined ? 1 : mask[n];
    if (m === 0) {
      dLogits.fill(0, row, row + V);
      continue;
    }
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[row + v] > max) max = logits[row + v];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[row + v] - max);
    const lse = max + Math.log(sum);
    const target = targets[n];
    loss += m * (lse - logits[row + target]);
    const w = m / count;
    for (let v = 0; v < V; v++) dLogits[row + v] = w * Math.exp(logits[row + v] - lse);
    dLogits[row + target] -= w;
  }
  return count === 0 ? 0 : loss / count;
}
