/**
 * Typed views of a checkpoint's weight tensors for the engine, made without copying the matrices: a matrix keeps its
 * stored dtype (F32 as Float32Array, F16/BF16 as Uint16Array bits, Q8_0/Q4_0 as the bytes of llama.cpp's blocks)
 * and `linear` (the reference path; wasm-forward.ts is the fast one) dispatches to the matching kernel.
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
  embeddingQ4_0,
  embeddingQ8_0,
  matmulBF16,
  matmulF16,
  matmulF32,
  matmulQ4_0,
  matmulQ8_0,
  quantizeActivationsQ8,
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

/** A weight matrix (O, C) in llama.cpp's Q8_0 / Q4_0 blocks, with an optional float32 bias (O). */
export type QuantLinearWeight = {
      readonly name: string;
      /** llama.cpp block layouts along C (a multiple of 32): Q8_0 34 bytes, Q4_0 18 bytes per 32 weights. */
      readonly dtype: "Q8_0" | "Q4_0";
      readonly data: Uint8Array;
      readonly O: number;
      readonly C: number;
      readonly bias?: Float32Array;
    };

/** Any weight matrix the engine runs: float (F32/F16/BF16) or block-quantised (Q8_0/Q4_0). */
export type AnyLinearWeight = LinearWeight | QuantLinearWeight;

/** Whether `w` is block-quantised. */
export function isQuantWeight(w: AnyLinearWeight): w is QuantLinearWeight {
  return w.dtype === "Q8_0" || w.dtype === "Q4_0";
}

/** Scratch of the reference quantised products: Q8 activations (T, C) and their scales (T, C/32). */
export interface Q8Scratch {
  xq: Int8Array;
  xs: Float32Array;
}

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
  const size = t.dtype === "F32" ? 4 : t.dtype === "F16" || t.dtype === "BF16" ? 2 : 1;
  if (t.data.byteOffset % size !== 0) {
    throw new InferenceError({
      code: "invalid_model",
      op,
      message: `tensor "${t.name}" is not aligned to ${size} bytes in memory`,
      details: { tensor: t.name },
    });
  }
}

/** The float matrix `name` of shape (O, C), and its bias `biasName` (O) when given; Q8_0/Q4_0 fail (`unsupported`). */
export function bindLinear(weights: WeightStore, name: string, O: number, C: number, biasName?: string): LinearWeight {
  const w = bindAnyLinear(weights, name, O, C, biasName);
  if (isQuantWeight(w)) {
    throw new InferenceError({
      code: "unsupported",
      op,
      message: `tensor "${name}" is ${w.dtype}; this use needs F32, F16 or BF16 weights`,
      details: { tensor: name, dtype: w.dtype },
    });
  }
  return w;
}

/** The matrix `name` of shape (O, C) in any stored dtype, and its bias `biasName` (O) when given. */
export function bindAnyLinear(weights: WeightStore, name: string, O: number, C: number, biasName?: string): AnyLinearWeight {
  const t = weights.get(name);
  checkShape(t, [O, C]);
  checkAligned(t);
  const bias = biasName === undefined ? undefined : bindVector(weights, biasName, O);
  const n = O * C;
  if (t.dtype === "F32") {
    return { name, dtype: "F32", data: new Float32Array(t.data.buffer, t.data.byteOffset, n), O, C, bias };
  }
  if (t.dtype === "Q8_0" || t.dtype === "Q4_0") {
    const blockBytes = t.dtype === "Q8_0" ? 34 : 18;
    if (C % 32 !== 0 || t.data.byteLength !== (O * C * blockBytes) / 32) {
      throw new InferenceError({
        code: "invalid_model",
        op,
        message: `tensor "${name}" is ${t.dtype} with ${t.data.byteLength} bytes; shape [${O}, ${C}] needs C a multiple of 32 and ${(O * Math.ceil(C / 32) * blockBytes)} bytes`,
        details: { tensor: name, dtype: t.dtype, bytes: t.data.byteLength },
      });
    }
    return { name, dtype: t.dtype, data: t.data, O, C, bias };
  }
  return { name, dtype: t.dtype, data: new Uint16Array(t.data.buffer, t.data.byteOffset, n), O, C, bias };
}

/** The vector `name` of length N, decoded to float32. */
export function bindVector(weights: WeightStore, name: string, N: number): Float32Array {
  const t = weights.get(name);
  checkShape(t, [N]);
  if (t.dtype === "Q8_0" || t.dtype === "Q4_0") {
    throw new InferenceError({
      code: "invalid_model",
      op,
      message: `tensor "${name}" is ${t.dtype}; vectors (norms, biases) must be F32, F16 or BF16`,
      details: { tensor: name, dtype: t.dtype },
    });
  }
  return decodeFloats(t.data, t.dtype);
}

/**
 * out (T, O) = x (T, C) · wᵀ (+ bias). Q8_0/Q4_0 weights quantise x to Q8 blocks first (as llama.cpp does), in
 * `scratch` when given (grown as needed), else in fresh arrays.
 */
export function linear(out: Float32Array, x: Float32Array, w: AnyLinearWeight, T: number, scratch?: Q8Scratch): void {
  if (w.dtype === "F32") matmulF32(out, x, w.data, T, w.C, w.O);
  else if (isQuantWeight(w)) {
    const s = scratch ?? { xq: new Int8Array(0), xs: new Float32Array(0) };
    if (s.xq.length < T * w.C) {
      s.xq = new Int8Array(T * w.C);
      s.xs = new Float32Array((T * w.C) / 32);
    }
    quantizeActivationsQ8(s.xq, s.xs, x, T, w.C);
    (w.dtype === "Q8_0" ? matmulQ8_0 : matmulQ4_0)(out, s.xq, s.xs, w.data, T, w.C, w.O);
  } else if (w.dtype === "F16") matmulF16(out, x, w.data, T, w.C, w.O);
  else matmulBF16(out, x, w.data, T, w.C, w.O);
  if (w.bias !== undefined) addBias(out, w.bias, T, w.O);
}

/** out (T, C) = rows ids (T) of the (V, C) matrix `w`, times `scale`: the token embedding lookup. */
export function embed(out: Float32Array, ids: ArrayLike<number>, w: AnyLinearWeight, scale: number, T: number): void {
  if (w.dtype === "F32") embeddingF32(out, ids, w.data, scale, T, w.C);
  else if (isQuantWeight(w)) (w.dtype === "Q8_0" ? embeddingQ8_0 : embeddingQ4_0)(out, ids, w.data, scale, T, w.C);
  else if (w.dtype === "F16") embeddingF16(out, ids, w.data, scale, T, w.C);
  else embeddingBF16(out, ids, w.data, scale, T, w.C);
}
