/**
 * The forward pass's operations on the plain TypeScript reference kernels, over ordinary Float32Arrays: the
 * fallback where WebAssembly SIMD or shared memory is missing, and the twin the fast path is tested against.
 * Single-threaded. Not the kernels (kernels/reference/) and not the model logic (transformer.ts).
 */
import type { F32Buf, ForwardKernels, I32Buf, KVBuf, RopeTables } from "./forward-kernels.js";
import { add, attention, geglu, rmsNorm, rmsNormPlusOne, rope, swiglu } from "./kernels/reference/index.js";
import { embed, linear, type AnyLinearWeight, type Q8Scratch } from "./linear.js";
import type { ModelWeights } from "./model-weights.js";
import { isRelaidOut, relaidOutError } from "./relayout.js";

export class ReferenceForwardKernels implements ForwardKernels {
  readonly kind = "reference" as const;
  readonly threads = 1;
  private readonly q8: Q8Scratch = { xq: new Int8Array(0), xs: new Float32Array(0) };

  f32(n: number): F32Buf {
    return { view: new Float32Array(n), ptr: -1 };
  }

  i32(n: number): I32Buf {
    return { view: new Int32Array(n), ptr: -1 };
  }

  /** Reference kernels read the weights where they are; matrices an engine has re-laid out are refused. */
  prepare(w: ModelWeights<AnyLinearWeight>): void {
    this.prepareMatrix(w.embedTokens);
    this.prepareMatrix(w.lmHead);
    for (const l of w.layers) for (const m of [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj]) this.prepareMatrix(m);
  }

  /** As prepare, for one matrix. */
  prepareMatrix(m: AnyLinearWeight): void {
    if (isRelaidOut(m.data)) throw relaidOutError("cpu.transformer", m.name, m.dtype);
  }

  embed(out: F32Buf, ids: I32Buf, w: AnyLinearWeight, scale: number, T: number): void {
    embed(out.view, ids.view, w, scale, T);
  }

  linear(outs: readonly F32Buf[], x: F32Buf, ws: readonly AnyLinearWeight[], T: number): void {
    for (let i = 0; i < ws.length; i++) linear(outs[i].view, x.view, ws[i], T, this.q8);
  }

  rmsNorm(out: F32Buf, x: F32Buf, w: Float32Array, N: number, C: number, eps: number, plusOne: boolean): void {
    (plusOne ? rmsNormPlusOne : rmsNorm)(out.view, x.view, w, N, C, eps);
  }

  rope(x: F32Buf, tables: RopeTables, positions: I32Buf, T: number, NH: number, D: number): void {
    rope(x.view, tables.cos.view, tables.sin.view, positions.view, T, NH, D);
  }

  attention(
    out: F32Buf, q: F32Buf, k: KVBuf, v: KVBuf, scores: F32Buf,
    T: number, H: number, G: number, D: number, S: number, pos0: number, window: number, scale: number, softcap: number,
  ): void {
    attention(out.view, q.view, k.view, v.view, scores.view, T, H, G, D, S, pos0, window, scale, softcap);
  }

  add(out: F32Buf, a: F32Buf, b: F32Buf, N: number): void {
    add(out.view, a.view, b.view, N);
  }

  gated(out: F32Buf, gate: F32Buf, up: F32Buf, N: number, activation: "silu" | "gelu_pytorch_tanh"): void {
    (activation === "silu" ? swiglu : geglu)(out.view, gate.view, up.view, N);
  }

  async close(): Promise<void> {
    // Nothing to end.
  }
}
