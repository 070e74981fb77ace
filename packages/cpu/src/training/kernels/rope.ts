/**
 * Rotary position embedding for training, in Hugging Face's rotate_half layout (dimension i pairs with i + D/2),
 * over float32/float64 activations, and its backward: a rotation is orthogonal, so the gradient turns back by the
 * inverse rotation (the transpose). Both work in place. Not the frequencies or tables: those come from the engine's
 * `ropeInverseFrequencies` and `ropeTable`.
 */
import type { Floats } from "./floats.js";

/**
 * Rotates x (T, NH, D) in place by the angles of positions[t]: x[i] ← x[i]·cos − x[i+D/2]·sin,
 * x[i+D/2] ← x[i+D/2]·cos + x[i]·sin, with cos and sin (P, D/2).
 */
export function ropeForward(
  x: Floats,
  cos: Float32Array,
  sin: Float32Array,
  positions: ArrayLike<number>,
  T: number,
  NH: number,
  D: number,
): void {
  rotate(x, cos, sin, positions, T, NH, D, 1);
}

/**
 * Turns dX (T, NH, D) in place from the gradient of the rotated values into the gradient of the inputs (the
 * inverse rotation): d[i] ← d[i]·cos + d[i+D/2]·sin, d[i+D/2] ← d[i+D/2]·cos − d[i]·sin.
 */
export function ropeBackward(
  dX: Floats,
  cos: Float32Array,
  sin: Float32Array,
  positions: ArrayLike<number>,
  T: number,
  NH: number,
  D: number,
): void {
  rotate(dX, cos, sin, positions, T, NH, D, -1);
}

function rotate(
  x: Floats, // (T, NH, D)
  cos: Float32Array, // (P, D/2)
  sin: Float32Array, // (P, D/2)
  positions: ArrayLike<number>, // (T)
  T: number,
  NH: number,
  D: number,
  sign: 1 | -1,
): void {
  const half = D >>> 1;
  for (let t = 0; t < T; t++) {
    const tr = positions[t] * half;
    for (let h = 0; h < NH; h++) {
      const b = (t * NH + h) * D;
      for (let i = 0; i < half; i++) {
        const c = cos[tr + i];
        const s = sign * sin[tr + i];
        const x1 = x[b + i];
        const x2 = x[b + i + half];
        x[b + i] = x1 * c - x2 * s;
        x[b + i + half] = x2 * c + x1 * s;
      }
    }
  }
}
