/**
 * Reference causal self-attention with grouped-query heads over a KV cache: for each query token and head, scores
 * against every cached position it may see, optional tanh soft-cap, softmax, weighted sum of values. Knows nothing
 * about how the cache is stored beyond its (G, S, D) layout (each KV head's positions one after another, S of them:
 * the cache's capacity) of float32 or IEEE halves; appending to the cache is the engine's job.
 */
import { f16Table } from "./half-tables.js";

/**
 * out (T, H, D) = softmax(q·kᵀ·scale [softcapped], causal [and sliding-window] mask) · v.
 *
 * Query t sits at position pos0 + t and sees cache positions lo .. pos0 + t, where lo = 0, or with a sliding window
 * W > 0, max(0, pos0 + t − W + 1) (HF `kv_idx > q_idx − W`, llama.cpp `p1 − p0 < n_swa`). Query head h reads
 * key/value head floor(h / (H / G)) (HF `repeat_kv`). The cache must already hold positions up to pos0 + T − 1.
 *
 * @param k keys (G, S, D): float32, or the bits of IEEE halves (Uint16Array), widened exactly.
 * @param v values (G, S, D), of the same type as k.
 * @param S positions per KV head in k and v (G, S, D): the cache's capacity, at least pos0 + T.
 * @param scores scratch: at least pos0 + T floats.
 * @param window sliding window W, 0 for full attention.
 * @param softcapValue cap·tanh(score / cap) before the mask, 0 for none.
 */
export function attention(
  out: Float32Array,
  q: Float32Array,
  k: Float32Array | Uint16Array,
  v: Float32Array | Uint16Array,
  scores: Float32Array,
  T: number,
  H: number,
  G: number,
  D: number,
  S: number,
  pos0: number,
  window: number,
  scale: number,
  softcapValue: number,
): void {
  const group = H / G;
  const half = k instanceof Uint16Array ? f16Table() : undefined;
  const key = (i: number): number => (half !== undefined ? half[k[i]] : k[i]);
  const value = (i: number): number => (half !== undefined ? half[v[i]] : v[i]);
  for (let t = 0; t < T; t++) {
    const p = pos0 + t;
    const lo = window > 0 ? Math.max(0, p - window + 1) : 0;
    for (let h = 0; h < H; h++) {
      const qo = (t * H + h) * D;
      const kvo = Math.floor(h / group) * S * D; // this KV head's position 0
      let max = -Infinity;
      for (let s = lo; s <= p; s++) {
        const ko = kvo + s * D;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * key(ko + d);
        let score = Math.fround(dot * scale);
        if (softcapValue > 0) score = softcapValue * Math.tanh(score / softcapValue);
        scores[s] = score;
        if (scores[s] > max) max = scores[s];
      }
      let sum = 0;
      for (let s = lo; s <= p; s++) {
        const e = Math.exp(scores[s] - max);
        scores[s] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let s = lo; s <= p; s++) acc += scores[s] * value(kvo + s * D + d);
        out[qo + d] = acc * inv;
      }
    }
  }
}
