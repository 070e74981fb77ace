/**
 * Reference element-wise kernels: residual add, bias add, scaling and tanh soft-capping. `out` may alias an input.
 */

/** out (N) = a (N) + b (N): the residual connection. */
export function add(out: Float32Array, a: Float32Array, b: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) out[i] = a[i] + b[i];
}

/** x (N, O) += bias (O), row by row. */
export function addBias(x: Float32Array, bias: Float32Array, N: number, O: number): void {
  for (let n = 0; n < N; n++) {
    const r = n * O;
    for (let o = 0; o < O; o++) x[r + o] += bias[o];
  }
}

/** out (N) = x (N) · s. */
export function scale(out: Float32Array, x: Float32Array, s: number, N: number): void {
  for (let i = 0; i < N; i++) out[i] = x[i] * s;
}

/** out (N) = cap · tanh(x (N) / cap): Gemma's soft-capping of logits. */
export function softcap(out: Float32Array, x: Float32Array, cap: number, N: number): void {
  for (let i = 0; i < N; i++) out[i] = cap * Math.tanh(x[i] / cap);
}

/** out rows outRow .. outRow+N−1 (·, W) = x rows xRow .. xRow+N−1 (·, W): moving K/V rows into a cache. */
export function copyRows(
  out: Float32Array,
  outRow: number,
  x: Float32Array,
  xRow: number,
  N: number,
  W: number,
): void {
  const o = outRow * W;
  const s = xRow * W;
  const n = N * W;
  for (let i = 0; i < n; i++) out[o + i] = x[s + i];
}
