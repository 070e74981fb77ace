/**
 * Reference RMSNorm over the last dimension: y = x / sqrt(mean(x²) + eps) · w (Llama, Qwen, Mistral) or · (1 + w)
 * (Gemma). `out` may be `x` (in place). Norm weights arrive as float32 vectors (O(C) per layer, decoded once).
 */

/** out (N, C) = rmsnorm(x (N, C)) · w (C). */
export function rmsNorm(out: Float32Array, x: Float32Array, w: Float32Array, N: number, C: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    const r = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r + c] * x[r + c];
    // HF computes the inverse root in float32: round it as torch.rsqrt would.
    const inv = Math.fround(1 / Math.sqrt(Math.fround(ss / C) + eps));
    for (let c = 0; c < C; c++) out[r + c] = Math.fround(x[r + c] * inv) * w[c];
  }
}

/** out (N, C) = rmsnorm(x (N, C)) · (1 + w (C)), Gemma's convention. */
export function rmsNormPlusOne(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  N: number,
  C: number,
  eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const r = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r + c] * x[r + c];
    const inv = Math.fround(1 / Math.sqrt(Math.fround(ss / C) + eps));
    for (let c = 0; c < C; c++) out[r + c] = Math.fround(x[r + c] * inv) * Math.fround(1 + w[c]);
  }
}
