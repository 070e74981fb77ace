/**
 * One shared float64 row buffer for kernels that accumulate a row in float64 before adding it into a float32
 * gradient (so each gradient element is rounded once, not once per term). Grown on demand, never shrunk: a training
 * step at a fixed model size allocates nothing. Kernels run synchronously, so one buffer serves them all. Not an
 * arena for activations (../activation-arena.ts).
 */

let row = new Float64Array(256);

/** A float64 scratch row of at least n elements, zeroed over its first n. */
export function zeroedRow(n: number): Float64Array {
  if (row.length < n) row = new Float64Array(Math.max(n, row.length * 2));
  row.fill(0, 0, n);
  return row;
}
