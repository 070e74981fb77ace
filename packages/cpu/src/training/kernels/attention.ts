/**
 * Causal grouped-query self-attention for training, over B sequences of T tokens each at positions 0 .. T−1:
 * the forward saves only each query row's log-sum-exp (B, T, H), and the backward recomputes the probabilities
 * from it (flash-attention style), so memory stays proportional to B·T rather than B·T². Query head h reads
 * key/value head floor(h / (H / G)); the backward sums the gradients of the query heads that share a KV head.
 * Optional sliding window W (query t sees t − W + 1 .. t) and tanh soft-cap of the scores, as in the engine.
 * Not the q/k/v/o projections or rope (matmul.ts, rope.ts), and no KV cache: training sees whole sequences.
 */
import type { Floats } from "./floats.js";
import { zeroedRow } from "./scratch.js";

/**
 * out (B, T, H, D) = softmax(q · kᵀ · scale [soft-capped], causal [sliding] mask) · v, with q (B, T, H, D),
 * k and v (B, T, G, D); lse (B, T, H) receives each row's log Σ exp(score).
 *
 * @param scores scratch (T).
 * @param window sliding window W, 0 for full attention.
 * @param cap soft-cap of the scores (cap · tanh(score / cap)), 0 for none.
 */
export function attentionForward(
  out: Floats,
  lse: Floats,
  q: Floats,
  k: Floats,
  v: Floats,
  scores: Float64Array,
  B: number,
  T: number,
  H: number,
  G: number,
  D: number,
  window: number,
  scale: number,
  cap: number,
): void {
  const group = H / G;
  const rowKV = G * D;
  for (let b = 0; b < B; b++) {
    const kvBase = b * T * rowKV;
    for (let t = 0; t < T; t++) {
      const lo = window > 0 ? Math.max(0, t - window + 1) : 0;
      for (let h = 0; h < H; h++) {
        const qo = ((b * T + t) * H + h) * D;
        const kvo = kvBase + Math.floor(h / group) * D;
        let max = -Infinity;
        for (let s = lo; s <= t; s++) {
          const ko = kvo + s * rowKV;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
          let score = dot * scale;
          if (cap > 0) score = cap * Math.tanh(score / cap);
          scores[s] = score;
          if (score > max) max = score;
        }
        let sum = 0;
        for (let s = lo; s <= t; s++) {
          const e = Math.exp(scores[s] - max);
          scores[s] = e;
          sum += e;
        }
        lse[(b * T + t) * H + h] = max + Math.log(sum);
        const inv = 1 / sum;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let s = lo; s <= t; s++) acc += scores[s] * v[kvo + s * rowKV + d];
          out[qo + d] = acc * inv;
        }
      }
    }
  }
}

/**
 * The backward of `attentionForward` given dOut (B, T, H, D), its inputs q, k, v, its output out and the saved
 * lse: dQ (B, T, H, D) +=, dK and dV (B, T, G, D) +=. With p = exp(score − lse) and Δ = dOut · out per row,
 * dscore_s = p_s (dOut · v_s − Δ), times 1 − (score / cap)² under a soft-cap; dq += dscore · scale · k_s,
 * dk_s += dscore · scale · q, dv_s += p_s · dOut.
 */
export function attentionBackward(
  dQ: Floats,
  dK: Floats,
  dV: Floats,
  dOut: Floats,
  q: Floats,
  k: Floats,
  v: Floats,
  out: Floats,
  lse: Floats,
  B: number,
  T: number,
  H: number,
  G: number,
  D: number,
  window: number,
  scale: number,
  cap: number,
): void {
  const group = H / G;
  const rowKV = G * D;
  for (let b = 0; b < B; b++) {
    const kvBase = b * T * rowKV;
    for (let t = 0; t < T; t++) {
      const lo = window > 0 ? Math.max(0, t - window + 1) : 0;
      for (let h = 0; h < H; h++) {
        const row = (b * T + t) * H + h;
        const qo = row * D;
        const kvo = kvBase + Math.floor(h / group) * D;
        const m = lse[row];
        let delta = 0;
        for (let d = 0; d < D; d++) delta += dOut[qo + d] * out[qo + d];
        const dq = zeroedRow(D);
        for (let s = lo; s <= t; s++) {
          const ko = kvo + s * rowKV;
          let dot = 0;
          let dp = 0;
          for (let d = 0; d < D; d++) {
            dot += q[qo + d] * k[ko + d];
            dp += dOut[qo + d] * v[ko + d];
          }
          let score = dot * scale;
          if (cap > 0) score = cap * Math.tanh(score / cap);
          const p = Math.exp(score - m);
          let ds = p * (dp - delta);
          if (cap > 0) {
            const th = score / cap;
            ds *= 1 - th * th;
          }
          const g = ds * scale;
          for (let d = 0; d < D; d++) {
            dq[d] += g * k[ko + d];
            dK[ko + d] += g * q[qo + d];
            dV[ko + d] += p * dOut[qo + d];
          }
        }
        for (let d = 0; d < D; d++) dQ[qo + d] += dq[d];
      }
    }
  }
}
