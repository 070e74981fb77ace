// A literal transcription of the Hugging Face transformers logits processors, for the sampler's tests only: full
// sorts, ascending cumulative sums and thresholds exactly as logits_process.py writes them (in float64), with none of
// the sampler's shortcuts (no shift by the maximum, no heaps). Where torch leaves tie order unspecified (top-p's
// sort), it uses the sampler's documented rule: the lower id ranks first.
import type { SamplingParams } from "../../src/sampling/sampler.js";

/** The probabilities transformers would sample from (one-hot argmax for temperature 0). */
export function hfDistribution(logits: ArrayLike<number>, p: SamplingParams, history: readonly number[]): Float64Array {
  const V = logits.length;
  let scores = Float64Array.from(logits);

  // RepetitionPenaltyLogitsProcessor: gather, transform, scatter.
  if (p.repeatPenalty !== 1) {
    const gathered = history.map((id) => scores[id]);
    const transformed = gathered.map((s) => (s < 0 ? s * p.repeatPenalty : s / p.repeatPenalty));
    history.forEach((id, i) => (scores[id] = transformed[i]));
  }

  if (p.temperature === 0) {
    const out = new Float64Array(V);
    let best = 0;
    for (let i = 1; i < V; i++) if (scores[i] > scores[best]) best = i;
    out[best] = 1;
    return out;
  }

  // TemperatureLogitsWarper (added only when temperature != 1).
  if (p.temperature !== 1) scores = scores.map((s) => s / p.temperature);

  // TopKLogitsWarper: remove scores < the k-th largest score.
  if (p.topK !== 0) {
    const k = Math.min(Math.max(p.topK, 1), V);
    const kth = [...scores].sort((a, b) => b - a)[k - 1];
    scores = scores.map((s) => (s < kth ? Number.NEGATIVE_INFINITY : s));
  }

  // TopPLogitsWarper: ascending sort, softmax, cumsum, remove cumsum <= 1 - top_p, keep the last one.
  if (p.topP > 0 && p.topP < 1) {
    const order = [...scores.keys()].sort((a, b) => scores[a] - scores[b] || b - a);
    const sortedProbs = softmax(order.map((i) => scores[i]));
    let cum = 0;
    const remove = new Array<boolean>(V);
    for (let j = 0; j < V; j++) {
      cum += sortedProbs[j];
      remove[j] = cum <= 1 - p.topP;
    }
    remove[V - 1] = false;
    const next = Float64Array.from(scores);
    order.forEach((id, j) => {
      if (remove[j]) next[id] = Number.NEGATIVE_INFINITY;
    });
    scores = next;
  }

  // MinPLogitsWarper: remove probs < min_p * max prob; the top token always stays.
  if (p.minP > 0) {
    const probs = softmax([...scores]);
    const top = Math.max(...probs);
    scores = scores.map((s, i) => (probs[i] < p.minP * top ? Number.NEGATIVE_INFINITY : s));
  }

  return Float64Array.from(softmax([...scores]));
}

export function softmax(xs: readonly number[]): number[] {
  const m = Math.max(...xs);
  const e = xs.map((x) => (x === Number.NEGATIVE_INFINITY ? 0 : Math.exp(x - m)));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}
