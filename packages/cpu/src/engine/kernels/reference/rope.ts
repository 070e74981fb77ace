/**
 * Reference rotary position embedding in Hugging Face's rotate_half layout: dimension i pairs with i + D/2 (not the
 * interleaved pairs of the original paper, which llama.cpp's converter reaches by permuting q/k). Tables of cos/sin
 * are filled once per position range; the frequencies themselves (base, llama3/linear scaling) come from
 * engine/rope-frequencies.ts.
 */

/**
 * Fills cos and sin (P, D/2) for positions p0 .. p0+P-1 from the inverse frequencies (D/2).
 * The angle p·f is rounded to float32 before cos/sin, as HF's float32 `inv_freq @ position_ids` does.
 */
export function ropeTable(
  cos: Float32Array,
  sin: Float32Array,
  invFreq: Float32Array,
  p0: number,
  P: number,
  D: number,
): void {
  const half = D >>> 1;
  for (let p = 0; p < P; p++) {
    const pos = p0 + p;
    const r = p * half;
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * invFreq[i]);
      cos[r + i] = Math.cos(angle);
      sin[r + i] = Math.sin(angle);
    }
  }
}

/**
 * Rotates x (T, NH, D) in place: each token t at position positions[t], each head h:
 * x[i] ← x[i]·cos − x[i+D/2]·sin, x[i+D/2] ← x[i+D/2]·cos + x[i]·sin, with cos/sin (P, D/2) rows from ropeTable.
 */
export function rope(
  x: Float32Array,
  cos: Float32Array,
  sin: Float32Array,
  positions: ArrayLike<number>,
  T: number,
  NH: number,
  D: number,
): void {
  const half = D >>> 1;
  for (let t = 0; t < T; t++) {
    const tr = positions[t] * half;
    for (let h = 0; h < NH; h++) {
      const b = (t * NH + h) * D;
      for (let i = 0; i < half; i++) {
        const c = cos[tr + i];
        const s = sin[tr + i];
        const x1 = x[b + i];
        const x2 = x[b + i + half];
        x[b + i] = x1 * c - x2 * s;
        x[b + i + half] = x2 * c + x1 * s;
      }
    }
  }
}
