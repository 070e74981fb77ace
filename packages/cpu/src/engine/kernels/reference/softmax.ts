/**
 * Reference numerically stable softmax over the last dimension (max subtracted first). `out` may be `x`.
 */

/** out (N, K) = softmax(x (N, K)) along K. */
export function softmax(out: Float32Array, x: Float32Array, N: number, K: number): void {
  for (let n = 0; n < N; n++) {
    const r = n * K;
    let max = -Infinity;
    for (let k = 0; k < K; k++) if (x[r + k] > max) max = x[r + k];
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const e = Math.exp(x[r + k] - max);
      out[r + k] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let k = 0; k < K; k++) out[r + k] *= inv;
  }
}
