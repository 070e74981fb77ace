/**
 * The low-rank branch of a LoRA linear layer, y = W x + s · B (A · drop(x)), as PEFT computes it (dropout on the
 * branch's input only): the forward adds the branch onto the frozen layer's output and saves A · drop(x); the
 * backward gives dA, dB and the branch's share of dX. The frozen W's share of dX comes from matmul.ts. Dropout is a
 * keep mask of 0 or 1/(1 − p) per input element, drawn by the caller; undefined means no dropout.
 */
import type { Floats } from "./floats.js";
import { zeroedRow } from "./scratch.js";

/**
 * out (T, O) += s · xa · Bᵀ where xa (T, r) = (x ⊙ keep) (T, C) · Aᵀ is saved for the backward;
 * A (r, C), B (O, r), keep (T, C) or undefined.
 */
export function loraForward(
  out: Floats,
  xa: Floats,
  x: Floats,
  keep: Floats | undefined,
  A: Floats,
  B: Floats,
  s: number,
  T: number,
  C: number,
  O: number,
  r: number,
): void {
  for (let t = 0; t < T; t++) {
    const xt = t * C;
    for (let j = 0; j < r; j++) {
      const aj = j * C;
      let sum = 0;
      if (keep === undefined) for (let c = 0; c < C; c++) sum += A[aj + c] * x[xt + c];
      else for (let c = 0; c < C; c++) sum += A[aj + c] * x[xt + c] * keep[xt + c];
      xa[t * r + j] = sum;
    }
  }
  for (let t = 0; t < T; t++) {
    const at = t * r;
    for (let o = 0; o < O; o++) {
      const bo = o * r;
      let sum = 0;
      for (let j = 0; j < r; j++) sum += B[bo + j] * xa[at + j];
      out[t * O + o] += s * sum;
    }
  }
}

/**
 * The backward of `loraForward` given dOut (T, O), the input x (T, C), keep (T, C) or undefined and the saved
 * xa (T, r): dXa (T, r) = s · dOut · B (scratch, overwritten), dB (O, r) += s · dOutᵀ · xa,
 * dA (r, C) += dXaᵀ · (x ⊙ keep), dX (T, C) += (dXa · A) ⊙ keep. dX may be undefined to skip it.
 */
export function loraBackward(
  dX: Floats | undefined,
  dA: Floats,
  dB: Floats,
  dXa: Floats,
  dOut: Floats,
  x: Floats,
  keep: Floats | undefined,
  xa: Floats,
  A: Floats,
  B: Floats,
  s: number,
  T: number,
  C: number,
  O: number,
  r: number,
): void {
  for (let t = 0; t < T; t++) {
    const go = t * O;
    for (let j = 0; j < r; j++) {
      let sum = 0;
      for (let o = 0; o < O; o++) sum += dOut[go + o] * B[o * r + j];
      dXa[t * r + j] = s * sum;
    }
  }
  for (let o = 0; o < O; o++) {
    for (let j = 0; j < r; j++) {
      let sum = 0;
      for (let t = 0; t < T; t++) sum += dOut[t * O + o] * xa[t * r + j];
      dB[o * r + j] += s * sum;
    }
  }
  for (let j = 0; j < r; j++) {
    const acc = zeroedRow(C);
    for (let t = 0; t < T; t++) {
      const g = dXa[t * r + j];
      if (g === 0) continue;
      const xt = t * C;
      if (keep === undefined) for (let c = 0; c < C; c++) acc[c] += g * x[xt + c];
      else for (let c = 0; c < C; c++) acc[c] += g * x[xt + c] * keep[xt + c];
    }
    const aj = j * C;
    for (let c = 0; c < C; c++) dA[aj + c] += acc[c];
  }
  if (dX === undefined) return;
  for (let t = 0; t < T; t++) {
    const xt = t * C;
    const at = t * r;
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let j = 0; j < r; j++) sum += dXa[at + j] * A[j * C + c];
      dX[xt + c] += keep === undefined ? sum : sum * keep[xt + c];
    }
  }
}
