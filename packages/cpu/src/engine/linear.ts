/**
 * Typed views of a checkpoint's weight tensors for the engine, made without copying the matrices: a matrix keeps its
 * stored dtype (F32 as Float32Array, F16/BF16 as Uint16Array bits) and `linear` dispatches to the matching kernel.
 * Vectors (norm weights, biases; O(C) each) are decoded to float32 once. Shapes are checked against the config here,
 * so a malformed checkpoint fails at construction with the tensor's name rather than deep in a kernel.
 */
import { InferenceError } from "@dappcore/inference";
import { decodeFloats } from "../dtype.js";
import type { Tensor, WeightStore } from "../model-config.js";
import {
  addBias,
  embeddingBF16,
  embeddingF16,
  embeddingF32,
  matmulBF16,
  matmulF16,
  matmulF32,
} from "./kernels/reference/index.js";

/** A weight matrix (O, C) read in place in its stored dtype, with an optional float32 bias (O). */
export type LinearWeight =
  | { readonly name: string; readonly dtype: "F32"; readonly data: Float32Array; readonly O: number; readonly C: number; readonly bias?: Float32Array }
  | {
      readonly name: string;
      readonly dtype: "F16" | "BF16";
      readonly data: Uint16Array;
      readonly O: number;
      readonly C: number;
      readonly bias?: Float32Array;
    };

const op = "cpu.engine";

function checkShape(t: Tensor, shape: readonly number[]): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new InferenceError({
      code: "invalid_model",
      op,
      message: `tensor "${t.name}" has shape [${t.shape.join(", ")}], the config implies [${shape.join(", ")}]`,
      details: { tensor: t.name, shape: [...t.shape], expected: [...shape] },
    });
  }
}

function checkAligned(t: Tensor): void {
  const size = t.dtype === "F32" ? 4 : 2;
  if (t.data.byteOffset % size !== 0) {
    throw new InferenceError({
      code: "invalid_model",
      op,
      message: `tensor "${t.name}" is not aligned to ${size} bytes in memory`,
      details: { tensor: t.name },
    });
  }
}

/** The matrix `name` of shape (O, C), and its bias `biasName` (O) when given. */
export function bindLinear(weights: WeightStore, name: string, O: number, C: number, biasName?: string): LinearWeight {
  const t = weights.get(name);
  checkShape(t, [O, C]);
  checkAligned(t);
  const bias = biasName === undefined ? undefined : bindVector(weights, biasName, O);
  const n = O * C;
  if (t.dtype === "F32") {
    return { name, dtype: "F32", data: new Float32Array(t.data.buffer, t.data.byteOffset, n), O, C, bias };
  }
  return { name, dtype: t.dtype, data: new Uint16Array(t.data.buffer, t.data.byteOffset, n), O, C, bias };
}

/** The vector `name` of length N, decoded to float32. */
export function bindVector(weights: WeightStore, name: string, N: number): Float32Array {
  const t = weights.get(name);
  checkShape(t, [N]);
  return decodeFloats(t.data, t.dtype);
}

/** out (T, O) = x (T, C) · wᵀ (+ bias). */
export function linear(out: Float32Array, x: Float32Array, w: LinearWeight, T: number): void {
  if (w.dtype === "F32") matmulF32(out, x, w.data, T, w.C, w.O);
  else if (w.dtype === "F16") matmulF16(out, x, w.data, T, w.C, w.O);
  else matmulBF16(out, x, w.data, T, w.C, w.O);
  if (w.bias !== undefined) addBias(out, w.bias, T, w.O);
}

/** out (T, C) = rows ids (T) of the (V, C) matrix `w`, times `scale`: the token embedding lookup. */
export function embed(out: Float32Array, ids: ArrayLike<number>, w: LinearWeight, scale: number, T: number): void {
  if (w.dtype === "F32") embeddingF32(out, ids, w.data, scale, T, w.C);
  else if (w.dtype === "F16") embeddingF16(out, ids, w.data, scale, T, w.C);
  else embeddingBF16(out, ids, w.data, scale, T, w.C);
}
