/**
 * Element-wise training kernels: residual add and its backward, gradient accumulation, and tanh soft-capping with
 * its backward (Gemma's final logits). Outputs first; `+=` outputs accumulate (llm.c style). Not the engine's
 * inference kernels (engine/kernels/reference/elementwise.ts), which are float32-only.
 */
import type { Floats } from "./floats.js";

/** dst (N) += src (N): adds a gradient into an accumulator (the residual connection's backward). */
export function accumulate(dst: Floats, src: Floats, N: number): void {
  for (let i = 0; i < N; i++) dst[i] += src[i];
}

/** out (N) = a (N) + b (N): the residual connection. `out` may alias an input. */
export function addInto(out: Floats, a: Floats, b: Floats, N: number): void {
  for (let i = 0; i < N; i++) out[i] = a[i] + b[i];
}

/**
 * dA (N) += dOut (N), dB (N) += dOut (N): the backward of out = a + b (a residual add). Either output may be
 * undefined when that input needs no gradient.
 */
export function addBackward(dA: Floats | undefined, dB: Floats | undefined, dOut: Floats, N: number): void {
  if (dA !== undefined) for (let i = 0; i < N; i++) dA[i] += dOut[i];
  if (dB !== undefined) for (let i = 0; i < N; i++) dB[i] += dOut[i];
}

/** out (N) = cap · tanh(x (N) / cap): tanh soft-capping (Gemma's final logits). `out` may alias `x`. */
export function softcapForward(out: Floats, x: Floats, cap: number, N: number): void {
  for (let i = 0; i < N; i++) out[i] = cap * Math.tanh(x[i] / cap);
}

/**
 * dX (N) += dOut (N) · (1 − (y / cap)²), the backward of y = cap · tanh(x / cap) given its output y (N).
 * `dX` may alias `dOut` only when the caller zeroed nothing else into it (then it is an in-place rescale).
 */
export function softcapBackward(dX: Floats, dOut: Floats, y: Floats, cap: number, N: number): void {
  if (dX === dOut) {
    for (let i = 0; i < N; i++) {
      const t = y[i] / cap;
      dX[i] = dOut[i] * (1 - t * t);
    }
    return;
  }
  for (let i = 0; i < N; i++) {
    const t = y[i] / cap;
    dX[i] += dOut[i] * (1 - t * t);
  }
}
