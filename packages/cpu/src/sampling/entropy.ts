/**
 * Summaries of one position's logits for the probe events: the Shannon entropy of softmax(logits) in nats, the
 * top-k ids (best first), and min / max / mean. Each is one pass (top-k: O(V log k)) over the raw logits, with no
 * allocation: the caller provides the output arrays and, for `logitsStats`, may provide the result object to fill.
 *
 * Not here: building the probe event (names, token text) or deciding when to emit one; that is the decode loop's.
 */
import { InferenceError } from "@dappcore/inference";
import { collectTopRanked, sortWorstHeapBestFirst } from "./heap-select.js";

/** min, max and mean of a logits row, as `ProbeLogits` reports them. */
export interface LogitsStats {
  min: number;
  max: number;
  mean: number;
}

/**
 * Shannon entropy, in nats, of softmax(logits): `log Z - sum(e_i * (l_i - max)) / Z` with `e_i = exp(l_i - max)`,
 * so huge logits neither overflow nor lose the small terms. -Infinity entries have probability 0 and contribute 0.
 * Throws `invalid_argument` for an empty row, a NaN or +Infinity entry, or a row that is all -Infinity.
 *
 * @example
 * logitsEntropy(new Float32Array([0, 0])); // Math.LN2
 */
export function logitsEntropy(logits: ArrayLike<number>): number {
  const n = logits.length;
  if (n === 0) throw invalid("cpu.logitsEntropy", "logits must not be empty");
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const l = logits[i];
    if (l > max) max = l;
    else if (l !== l) throw invalid("cpu.logitsEntropy", `logits[${i}] is NaN`, { index: i });
  }
  if (max === Number.POSITIVE_INFINITY) throw invalid("cpu.logitsEntropy", "logits contain +Infinity");
  if (max === Number.NEGATIVE_INFINITY) throw invalid("cpu.logitsEntropy", "every logit is -Infinity");
  let z = 0;
  let weighted = 0;
  for (let i = 0; i < n; i++) {
    const d = logits[i] - max;
    if (d === Number.NEGATIVE_INFINITY) continue;
    const e = Math.exp(d);
    z += e;
    weighted += e * d;
  }
  const h = Math.log(z) - weighted / z;
  // Rounding can leave a one-hot row a hair below zero; entropy is never negative.
  return h > 0 ? h : 0;
}

/**
 * Writes the ids of the `k` largest logits into `out`, best first (equal values: lower id first; NaN entries are
 * skipped), and returns how many were written: `min(k, out.length, logits.length)` less any NaNs. `out` doubles as
 * the selection heap, so nothing is allocated.
 *
 * @example
 * const ids = new Int32Array(5); const count = topK(logits, 5, ids); // ids[0] is the argmax
 */
export function topK(logits: ArrayLike<number>, k: number, out: Int32Array): number {
  if (!Number.isSafeInteger(k) || k < 0) {
    throw invalid("cpu.topK", `k must be a non-negative integer, got ${k}`);
  }
  if (!(out instanceof Int32Array)) throw invalid("cpu.topK", "out must be an Int32Array");
  const want = Math.min(k, out.length, logits.length);
  if (want === 0) return 0;
  const size = collectTopRanked(out, logits, null, logits.length, want);
  sortWorstHeapBestFirst(out, size, logits);
  return size;
}

/**
 * min, max and mean of a logits row, written into `out` when given (so a decode loop can reuse one object) and
 * returned. An empty row throws `invalid_argument`. NaN entries make all three NaN; -Infinity ones make the mean
 * -Infinity, as the plain arithmetic does.
 *
 * @example
 * const stats = logitsStats(logits, reusable); // { min, max, mean }
 */
export function logitsStats(logits: ArrayLike<number>, out?: LogitsStats): LogitsStats {
  const n = logits.length;
  if (n === 0) throw invalid("cpu.logitsStats", "logits must not be empty");
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let nan = false;
  for (let i = 0; i < n; i++) {
    const l = logits[i];
    if (l !== l) nan = true;
    if (l < min) min = l;
    if (l > max) max = l;
    sum += l;
  }
  const result = out ?? { min: 0, max: 0, mean: 0 };
  result.min = nan ? Number.NaN : min;
  result.max = nan ? Number.NaN : max;
  result.mean = sum / n;
  return result;
}

function invalid(op: string, message: string, details?: Record<string, unknown>): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message, ...(details ? { details } : {}) });
}
