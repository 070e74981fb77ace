/**
 * Forward and backward of one projection of a TrainableTransformer (a `TrainMatrix`): the base weight, in float or
 * frozen 16-bit storage, its bias, and its LoRA branch when it has one. Float32 forwards go through the engine's
 * reference kernels (so a faster engine kernel speeds training too); float64 ones through the training kernels.
 * Not the kernels themselves (kernels/matmul.ts, kernels/lora.ts) and not the choice of what trains.
 */
import {
  addBias,
  matmulBF16,
  matmulF16,
  matmulF32,
} from "../engine/kernels/reference/index.js";
import type { Floats } from "./kernels/floats.js";
import {
  loraBackward,
  loraForward,
  matmulBackward,
  matmulForward,
  matmulHalfBackwardInput,
  matmulHalfForward,
} from "./kernels/index.js";
import type { Rng } from "../sampling/rng.js";
import type { TrainMatrix } from "./trainable-weights.js";

/**
 * out (T, O) = x (T, C) · wᵀ + bias [+ s · B(A · drop(x))]. With `dropout` > 0 (training), draws the LoRA keep
 * mask from `rng` first.
 */
export function linearForward(m: TrainMatrix, out: Floats, x: Floats, T: number, dropout: number, rng: Rng): void {
  const { O, C } = m;
  if (m.w !== undefined) {
    if (out instanceof Float32Array && x instanceof Float32Array && m.w instanceof Float32Array) {
      matmulF32(out, x, m.w, T, C, O);
      if (m.bias !== undefined) {
        if (m.bias instanceof Float32Array) addBias(out, m.bias, T, O);
        else for (let t = 0; t < T; t++) for (let o = 0; o < O; o++) out[t * O + o] += m.bias[o];
      }
    } else {
      matmulForward(out, x, m.w, m.bias, T, C, O);
    }
  } else if (out instanceof Float32Array && x instanceof Float32Array && !(m.bias instanceof Float64Array)) {
    (m.halfDtype === "F16" ? matmulF16 : matmulBF16)(out, x, m.half!, T, C, O);
    if (m.bias !== undefined) addBias(out, m.bias, T, O);
  } else {
    matmulHalfForward(out, x, m.half!, m.lut!, m.bias, T, C, O);
  }
  const lora = m.lora;
  if (lora === undefined) return;
  let keep: Floats | undefined;
  if (dropout > 0) {
    keep = lora.keep!;
    const kept = 1 / (1 - dropout);
    const n = T * C;
    for (let i = 0; i < n; i++) keep[i] = rng.nextFloat() < dropout ? 0 : kept;
  }
  loraForward(out, lora.xa, x, keep, lora.A, lora.B, lora.scale, T, C, O, lora.r);
}

/**
 * The backward of `linearForward` (the same dropout state): dX (T, C) += the input gradient (may be undefined),
 * and the parameter gradients this projection trains (dW and dBias in full mode, dA and dB of its LoRA branch).
 */
export function linearBackward(
  m: TrainMatrix,
  dX: Floats | undefined,
  dOut: Floats,
  x: Floats,
  dXa: Floats,
  T: number,
  dropout: number,
): void {
  const { O, C } = m;
  if (m.w !== undefined) matmulBackward(dX, m.dW, m.dBias, dOut, x, m.w, T, C, O);
  else if (dX !== undefined) matmulHalfBackwardInput(dX, dOut, m.half!, m.lut!, T, C, O);
  const lora = m.lora;
  if (lora === undefined) return;
  const keep = dropout > 0 ? lora.keep : undefined;
  loraBackward(dX, lora.dA, lora.dB, dXa, dOut, x, keep, lora.xa, lora.A, lora.B, lora.scale, T, C, O, lora.r);
}
