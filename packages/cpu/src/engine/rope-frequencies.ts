/**
 * Rope inverse frequencies for a head dimension and base, with the scalings the supported checkpoints use
 * (none, linear, Llama 3), computed in float32 as Hugging Face's `modeling_rope_utils` does. Not the rotation
 * itself (kernels/reference/rope.ts).
 */
import type { RopeScaling } from "../model-config.js";

/** The D/2 inverse frequencies base^(−2i/D), scaled. */
export function ropeInverseFrequencies(D: number, base: number, scaling: RopeScaling): Float32Array {
  const half = D >>> 1;
  const inv = new Float32Array(half); // (D/2)
  for (let i = 0; i < half; i++) {
    // torch: 1 / base ** (arange(0, D, 2).float() / D), each step in float32.
    const exponent = Math.fround((2 * i) / D);
    inv[i] = Math.fround(1 / Math.fround(base ** exponent));
  }
  if (scaling.type === "linear") {
    for (let i = 0; i < half; i++) inv[i] = Math.fround(inv[i] / scaling.factor);
  } else if (scaling.type === "llama3") {
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: old } = scaling;
    const lowFreqWavelen = old / lowFreqFactor;
    const highFreqWavelen = old / highFreqFactor;
    for (let i = 0; i < half; i++) {
      const f = inv[i];
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highFreqWavelen) continue; // high frequencies kept
      if (wavelen > lowFreqWavelen) {
        inv[i] = Math.fround(f / factor); // low frequencies scaled down
      } else {
        const smooth = (old / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        inv[i] = Math.fround((1 - smooth) * (f / factor) + smooth * f);
      }
    }
  }
  return inv;
}
