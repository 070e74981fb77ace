/**
 * Partial ordering of token ids by score without sorting the vocabulary: binary heaps kept in caller-provided
 * Int32Array scratch, so the sampler and the probe summaries allocate nothing per token. One ranking everywhere:
 * a higher score ranks first, and equal scores rank by the lower token id (deterministic ties).
 *
 * This file is not the sampling policy (that is `sampler.ts`); it only answers "which ids rank best".
 */

/** True when token `a` ranks before token `b`: a higher score, or an equal score and a lower id. */
export function ranksBefore(scores: ArrayLike<number>, a: number, b: number): boolean {
  const sa = scores[a];
  const sb = scores[b];
  return sa > sb || (sa === sb && a < b);
}

/**
 * Arranges `heap[0..n)` (token ids) into a heap whose root is the best-ranked id. O(n).
 *
 * @example
 * heapifyBest(heap, n, scores); const first = popBest(heap, n--, scores);
 */
export function heapifyBest(heap: Int32Array, n: number, scores: ArrayLike<number>): void {
  for (let i = (n >> 1) - 1; i >= 0; i--) siftDownBest(heap, i, n, scores);
}

/** Removes the best-ranked id from a best-first heap of `n` entries and returns it; the heap then holds `n - 1`. */
export function popBest(heap: Int32Array, n: number, scores: ArrayLike<number>): number {
  const top = heap[0];
  const last = n - 1;
  heap[0] = heap[last];
  if (last > 1) siftDownBest(heap, 0, last, scores);
  return top;
}

/**
 * Collects the `k` best-ranked ids among `ids[0..n)` (or among `0..n)` when `ids` is null) into `heap[0..k)`,
 * arranged with the worst of them at the root, so `heap[0]` is the k-th best. Scores that are NaN are skipped.
 * Returns how many were collected: `min(k, n)` less the NaNs. O(n log k).
 */
export function collectTopRanked(
  heap: Int32Array,
  scores: ArrayLike<number>,
  ids: Int32Array | null,
  n: number,
  k: number,
): number {
  let size = 0;
  // Once the heap is full, its root (the k-th best so far) is held in locals: most ids rank below it, and are
  // turned away by one comparison (ranksBefore against the root, without reloading the root's score).
  let rootId = -1;
  let rootScore = 0;
  for (let j = 0; j < n; j++) {
    const id = ids === null ? j : ids[j];
    const s = scores[id];
    if (s !== s) continue;
    if (size < k) {
      heap[size] = id;
      siftUpWorst(heap, size, scores);
      size++;
      if (size === k) {
        rootId = heap[0];
        rootScore = scores[rootId];
      }
    } else if (s > rootScore || (s === rootScore && id < rootId)) {
      heap[0] = id;
      siftDownWorst(heap, 0, size, scores);
      rootId = heap[0];
      rootScore = scores[rootId];
    }
  }
  return size;
}

/** Turns a worst-at-root heap of `size` ids (as `collectTopRanked` leaves it) into best-first order, in place. */
export function sortWorstHeapBestFirst(heap: Int32Array, size: number, scores: ArrayLike<number>): void {
  for (let end = size - 1; end > 0; end--) {
    const worst = heap[0];
    heap[0] = heap[end];
    heap[end] = worst;
    siftDownWorst(heap, 0, end, scores);
  }
}

function siftDownBest(heap: Int32Array, start: number, n: number, scores: ArrayLike<number>): void {
  let i = start;
  const item = heap[i];
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && ranksBefore(scores, heap[child + 1], heap[child])) child++;
    if (!ranksBefore(scores, heap[child], item)) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = item;
}

function siftDownWorst(heap: Int32Array, start: number, n: number, scores: ArrayLike<number>): void {
  let i = start;
  const item = heap[i];
  for (;;) {
    let child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && ranksBefore(scores, heap[child], heap[child + 1])) child++;
    if (!ranksBefore(scores, item, heap[child])) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = item;
}

function siftUpWorst(heap: Int32Array, start: number, scores: ArrayLike<number>): void {
  let i = start;
  const item = heap[i];
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!ranksBefore(scores, heap[parent], item)) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = item;
}
