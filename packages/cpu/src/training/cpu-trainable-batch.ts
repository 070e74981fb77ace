/**
 * The contract's `TrainingBatch` turned into what `TrainableTransformer.forwardLoss` takes: tokens (B, T) and the
 * mask "position t's next-token prediction counts" from Hugging Face's labels convention ("token i is a target"),
 * with every shape and value checked; and the cross-entropy of given logits, for evaluation without dropout.
 * Not the model and not the dataset (dataset.ts makes batches from text).
 */
import { InferenceError, type TrainingBatch } from "@dappcore/inference";

function invalid(op: string, message: string, details?: Record<string, unknown>): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message, ...(details === undefined ? {} : { details }) });
}

/**
 * tokens (B, T) and mask (B, T) with mask[b·T + t] = lossMask[b][t + 1] (1 everywhere but the last position without
 * a lossMask). Throws `invalid_argument`: no sequences, sequences of unequal length or shorter than 2 tokens,
 * non-integer ids, a lossMask of another shape or with entries other than 0 and 1.
 */
export function checkedBatch(batch: TrainingBatch, op: string): { tokens: Int32Array; mask: Float32Array; B: number; T: number } {
  const rows = (batch as TrainingBatch | undefined)?.tokens;
  if (!Array.isArray(rows) || rows.length === 0) throw invalid(op, "a batch needs tokens: a non-empty array of token-id arrays");
  const B = rows.length;
  const T = Array.isArray(rows[0]) ? rows[0].length : 0;
  if (T < 2) throw invalid(op, `every sequence needs at least 2 tokens (a target needs a token before it), got ${T}`);
  const lossMask = batch.lossMask;
  if (lossMask !== undefined && (!Array.isArray(lossMask) || lossMask.length !== B)) {
    throw invalid(op, `lossMask must have one row per sequence (${B})`);
  }
  const tokens = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    const row = rows[b];
    if (!Array.isArray(row) || row.length !== T) {
      throw invalid(op, `sequences must have equal lengths: sequence ${b} has ${Array.isArray(row) ? row.length : "no"} tokens, sequence 0 has ${T}`, { sequence: b });
    }
    const m = lossMask?.[b];
    if (lossMask !== undefined && (!Array.isArray(m) || m.length !== T)) {
      throw invalid(op, `lossMask row ${b} must have ${T} entries like its sequence`, { sequence: b });
    }
    for (let i = 0; i < T; i++) {
      const id = row[i];
      if (typeof id !== "number" || !Number.isInteger(id)) throw invalid(op, `token ${i} of sequence ${b} is not an integer id: ${String(id)}`, { sequence: b, index: i });
      tokens[b * T + i] = id;
      const target = m === undefined ? 1 : m[i];
      if (target !== 0 && target !== 1) throw invalid(op, `lossMask entries must be 0 or 1, got ${String(target)} at sequence ${b}, token ${i}`, { sequence: b, index: i });
      if (i > 0) mask[b * T + i - 1] = target;
    }
  }
  return { tokens, mask, B, T };
}

/** Mean next-token cross-entropy of logits (B, T, V) over the positions the mask (B, T) counts. */
export function evalCrossEntropy(
  logits: Float32Array, tokens: Int32Array, mask: Float32Array, B: number, T: number, V: number, op: string,
): { value: number; tokens: number } {
  let sum = 0;
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const r = b * T + t;
      if (mask[r] !== 1) continue;
      const row = logits.subarray(r * V, (r + 1) * V);
      let max = -Infinity;
      for (let v = 0; v < V; v++) max = Math.max(max, row[v]!);
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(row[v]! - max);
      sum += Math.log(z) + max - row[tokens[r + 1]!]!;
      count++;
    }
  }
  if (count === 0) throw invalid(op, "the mask counts no next-token target: the loss would be undefined");
  return { value: sum / count, tokens: count };
}
