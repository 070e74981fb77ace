/**
 * The operations the forward pass runs, as one interface with two implementations: the plain TypeScript reference
 * kernels (reference-forward.ts) and the WebAssembly SIMD kernels on a shared-memory arena, optionally split over
 * worker threads (wasm-forward.ts). The Transformer is written once against this interface; it never sees which
 * set runs. Buffers carry both a typed view (for the JavaScript side: copies, biases, logits) and, on the
 * WebAssembly path, their byte offset in the arena. Not a kernel itself and not the model logic.
 */
import type { AnyLinearWeight } from "./linear.js";
import type { ModelWeights } from "./model-weights.js";

/** Which kernel set runs the forward pass. */
export type KernelSet = "wasm" | "reference";

/** A float32 buffer: its view, and its byte offset in the WebAssembly arena (−1 outside one). */
export interface F32Buf {
  readonly view: Float32Array;
  readonly ptr: number;
}

/** An int32 buffer (token ids, positions), as F32Buf. */
export interface I32Buf {
  readonly view: Int32Array;
  readonly ptr: number;
}

/** Rows [row, row + rows) of a buffer of rows `width` floats wide. */
export function rowsOf(b: F32Buf, row: number, rows: number, width: number): F32Buf {
  const start = row * width;
  return { view: b.view.subarray(start, start + rows * width), ptr: b.ptr < 0 ? -1 : b.ptr + start * 4 };
}

/** A KV cache buffer: float32 values, or the bits of IEEE halves (Uint16Array), with its arena offset. */
export interface KVBuf {
  readonly view: Float32Array | Uint16Array;
  readonly ptr: number;
}

/** The cos/sin tables (P, D/2) of one rope base. */
export interface RopeTables {
  readonly cos: F32Buf;
  readonly sin: F32Buf;
  /** Positions covered (P). */
  readonly positions: number;
}

/** The forward pass's operations; dimension letters as in kernels/README.md. */
export interface ForwardKernels {
  readonly kind: KernelSet;
  /** Threads that run each operation (1 on the reference path). */
  readonly threads: number;
  /** A float32 buffer of n values, held as long as the engine. */
  f32(n: number): F32Buf;
  /** An int32 buffer of n values, held as long as the engine. */
  i32(n: number): I32Buf;
  /** Makes the weights reachable by the kernels (WebAssembly: places what is not in the arena yet). */
  prepare(w: ModelWeights<AnyLinearWeight>): void;
  /** Makes one more matrix reachable by `linear` (a LoRA A or B living in a buffer from `f32`). */
  prepareMatrix(w: AnyLinearWeight): void;
  /** out (T, C) = rows ids (T) of w (V, C) · scale. */
  embed(out: F32Buf, ids: I32Buf, w: AnyLinearWeight, scale: number, T: number): void;
  /** outs[i] (T, O_i) = x (T, C) · ws[i]ᵀ (+ bias); the weights share x (quantised once for Q8_0/Q4_0). */
  linear(outs: readonly F32Buf[], x: F32Buf, ws: readonly AnyLinearWeight[], T: number): void;
  /** out (N, C) = rmsnorm(x) · w, or · (1 + w) with plusOne; out may be x. */
  rmsNorm(out: F32Buf, x: F32Buf, w: Float32Array, N: number, C: number, eps: number, plusOne: boolean): void;
  /** Rotates x (T, NH, D) in place at positions (T). */
  rope(x: F32Buf, tables: RopeTables, positions: I32Buf, T: number, NH: number, D: number): void;
  /**
   * out (T, H, D) = causal attention of q (T, H, D) at positions pos0 .. pos0+T−1 over k, v (G, S, D), S ≥ pos0 + T
   * positions per KV head (the cache's capacity), float32 or IEEE halves (the KVBuf's view). scores: scratch of `threads` × attentionScratchBytes(H, G, D, P)
   * bytes, P ≥ pos0 + T (the reference kernels use P floats of it).
   */
  attention(
    out: F32Buf, q: F32Buf, k: KVBuf, v: KVBuf, scores: F32Buf,
    T: number, H: number, G: number, D: number, S: number, pos0: number, window: number, scale: number, softcap: number,
  ): void;
  /** out (N) = a + b. */
  add(out: F32Buf, a: F32Buf, b: F32Buf, N: number): void;
  /** out (N) = act(gate) · up, act silu (swiglu) or gelu_tanh (geglu). */
  gated(out: F32Buf, gate: F32Buf, up: F32Buf, N: number, activation: "silu" | "gelu_pytorch_tanh"): void;
  /** Ends worker threads, if any; the engine is unusable afterwards. */
  close(): Promise<void>;
}
