/**
 * RMSNorm for training: the forward saves each row's inverse root mean square so the backward needs no
 * recomputation, and the backward gives dX and dW for both conventions, y = x̂ · w (Llama, Qwen, Mistral) and
 * y = x̂ · (1 + w) (Gemma), where x̂ = x · r and r = 1 / sqrt(mean(x²) + eps). Also serves the per-head q/k norms
 * (rows = tokens × heads, C = head dimension), whose weight gradient sums over every head. Not LayerNorm (no mean
 * subtraction, no bias).
 */
import type { Floats } from "./floats.js";

/**
 * out (N, C) = x (N, C) · r · g with g = w (C), or 1 + w when `plusOne`; invRms (N) receives r of each row.
 * `out` may alias `x`.
 */
export function rmsNormForward(
  out: Floats,
  invRms: Floats,
  x: Floats,
  w: Floats,
  N: number,
  C: number,
  eps: number,
  plusOne: boolean,
): void {
  const shift = plusOne ? 1 : 0;
  for (let n = 0; n < N; n++) {
    const row = n * C;
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[row + c] * x[row + c];
    const r = 1 / Math.sqrt(ss / C + eps);
    invRms[n] = r;
    for (let c = 0; c < C; c++) out[row + c] = x[row + c] * r * (w[c] + shift);
  }
}

/**
 * The backward of `rmsNormForward`, given its input x (N, C) and saved invRms (N):
 * dX (N, C) += r · g ⊙ dOut − x · r³ / C · Σ_c dOut_c g_c x_c, and dW (C) += Σ_n dOut ⊙ x · r (the same for
 * both conventions, since d(1 + w)/dw = 1). dW may be undefined for a frozen norm. dX must not alias dOut or x.
 */
export function rmsNormBackward(
  dX: Floats,
  dW: Floats | undefined,
  dOut: Floats,
  x: Floats,
  invRms: Floats,
  w: Floats,
  N: number,
  C: number,
  plusOne: boolean,
): void {
  const shift = plusOne ? 1 : 0;
  for (let n = 0; n < N; n++) {
    const row = n * C;
    const r = invRms[n];
    let dot = 0; // Σ_c dOut_c · g_c · x_c
    for (let c = 0; c < C; c++) dot += dOut[row + c] * (w[c] + shift) * x[row + c];
    const k = (dot * r * r * r) / C;
    for (let c = 0; c < C; c++) {
      dX[row + c] += r * (w[c] + shift) * dOut[row + c] - k * x[row + c];
    }
    if (dW !== undefined) for (let c = 0; c < C; c++) dW[c] += dOut[row + c] * x[row + c] * r;
  }
}
