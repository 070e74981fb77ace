/**
 * Linear layers for training, with weights as Hugging Face stores `nn.Linear.weight` (O, C): the forward
 * out = x · wᵀ (+ bias) over float32/float64 weights or frozen 16-bit weights read through a lookup table, and the
 * backward: dX += dOut · w, dW += dOutᵀ · x, dBias += Σ_t dOut. Frozen weights (F16/BF16, or any weight in LoRA
 * mode) only pass the gradient through to dX. Not LoRA (lora.ts) and not the engine's float32 kernels.
 */
import type { Floats } from "./floats.js";
import { zeroedRow } from "./scratch.js";

/** out (T, O) = x (T, C) · w (O, C)ᵀ + bias (O) when given. */
export function matmulForward(
  out: Floats,
  x: Floats,
  w: Floats,
  bias: Floats | undefined,
  T: number,
  C: number,
  O: number,
): void {
  for (let o = 0; o < O; o++) {
    const wo = o * C;
    const b = bias === undefined ? 0 : bias[o];
    for (let t = 0; t < T; t++) {
      const xt = t * C;
      let sum = 0;
      for (let c = 0; c < C; c++) sum += x[xt + c] * w[wo + c];
      out[t * O + o] = sum + b;
    }
  }
}

/** out (T, O) = x (T, C) · lut[w (O, C)]ᵀ + bias (O) when given: a frozen F16/BF16 weight, lut (65536). */
export function matmulHalfForward(
  out: Floats,
  x: Floats,
  w: Uint16Array,
  lut: Float32Array,
  bias: Floats | undefined,
  T: number,
  C: number,
  O: number,
): void {
  for (let o = 0; o < O; o++) {
    const wo = o * C;
    const b = bias === undefined ? 0 : bias[o];
    for (let t = 0; t < T; t++) {
      const xt = t * C;
      let sum = 0;
      for (let c = 0; c < C; c++) sum += x[xt + c] * lut[w[wo + c]];
      out[t * O + o] = sum + b;
    }
  }
}

/**
 * The backward of `matmulForward` given dOut (T, O), its input x (T, C) and weight w (O, C):
 * dX (T, C) += dOut · w, dW (O, C) += dOutᵀ · x, dBias (O) += Σ_t dOut. Any output may be undefined to skip it.
 */
export function matmulBackward(
  dX: Floats | undefined,
  dW: Floats | undefined,
  dBias: Floats | undefined,
  dOut: Floats,
  x: Floats,
  w: Floats,
  T: number,
  C: number,
  O: number,
): void {
  if (dX !== undefined) {
    for (let t = 0; t < T; t++) {
      const acc = zeroedRow(C);
      const go = t * O;
      for (let o = 0; o < O; o++) {
        const g = dOut[go + o];
        if (g === 0) continue;
        const wo = o * C;
        for (let c = 0; c < C; c++) acc[c] += g * w[wo + c];
      }
      const xt = t * C;
      for (let c = 0; c < C; c++) dX[xt + c] += acc[c];
    }
  }
  if (dW !== undefined) {
    for (let o = 0; o < O; o++) {
      const acc = zeroedRow(C);
      for (let t = 0; t < T; t++) {
        const g = dOut[t * O + o];
        if (g === 0) continue;
        const xt = t * C;
        for (let c = 0; c < C; c++) acc[c] += g * x[xt + c];
      }
      const wo = o * C;
      for (let c = 0; c < C; c++) dW[wo + c] += acc[c];
    }
  }
  if (dBias !== undefined) {
    for (let o = 0; o < O; o++) {
      let sum = 0;
      for (let t = 0; t < T; t++) sum += dOut[t * O + o];
      dBias[o] += sum;
    }
  }
}

/** dX (T, C) += dOut (T, O) · lut[w (O, C)]: the input gradient through a frozen F16/BF16 weight. */
export function matmulHalfBackwardInput(
  dX: Floats,
  dOut: Floats,
  w: Uint16Array,
  lut: Float32Array,
  T: number,
  C: number,
  O: number,
): void {
  for (let t = 0; t < T; t++) {
    const acc = zeroedRow(C);
    const go = t * O;
    for (let o = 0; o < O; o++) {
      const g = dOut[go + o];
      if (g === 0) continue;
      const wo = o * C;
      for (let c = 0; c < C; c++) acc[c] += g * lut[w[wo + c]];
    }
    const xt = t * C;
    for (let c = 0; c < C; c++) dX[xt + c] += acc[c];
  }
}
