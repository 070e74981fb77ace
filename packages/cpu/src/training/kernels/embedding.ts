/**
 * Token embedding for training: the lookup out = table[ids] · scale over float32/float64 tables (or frozen 16-bit
 * tables read through a lookup table), and its backward, which scatters dOut rows into the rows of dW that the
 * tokens used. Ids are trusted here: the model validates them first. Not the lm_head (a linear layer, matmul.ts).
 */
import type { Floats } from "./floats.js";

// The forward lookups are the engine's reference kernels (generic over float32/float64): one implementation for both.
export { embeddingF32 as embeddingForward, embeddingHalfLut as embeddingHalfForward } from "../../engine/kernels/reference/embedding.js";

/**
 * dW (V, C) rows ids[t] += dOut (T, C) row t · scale: the backward of `embeddingForward` with respect to the table.
 * A token that appears several times receives the sum of its rows' gradients.
 */
export function embeddingBackward(
  dW: Floats,
  dOut: Floats,
  ids: ArrayLike<number>,
  scale: number,
  T: number,
  C: number,
): void {
  for (let t = 0; t < T; t++) {
    const dst = ids[t] * C;
    const src = t * C;
    for (let c = 0; c < C; c++) dW[dst + c] += dOut[src + c] * scale;
  }
}
