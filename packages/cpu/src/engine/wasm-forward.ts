/**
 * The forward pass's operations on the WebAssembly SIMD kernels: every buffer lives in the runtime's arena and every
 * hot operation is one kernel call, made through one small executor that calls the kernel directly when there is
 * no pool (or the call is too small to be worth splitting) and otherwise splits it by rows over the worker
 * threads: matmuls by output rows, attention by query heads, norms and rope by rows, element-wise work by
 * elements. The kernels give the same bits for any split (assembly/README.md), so results do not depend on the
 * thread count. Weights already in the arena are used in place; others are copied in once by `prepare`.
 * Not the kernels (assembly/), not the pool (threads/), not the model logic (transformer.ts).
 */
import { InferenceError } from "@dappcore/inference";
import type { F32Buf, ForwardKernels, I32Buf, KVBuf, RopeTables } from "./forward-kernels.js";
import type { KernelExports } from "./kernels/wasm/wasm-kernels.js";
import { interleaveScratchBytes, prefillScratchBytes, q8ActivationBytes, quantPrefillScratchBytes } from "./kernels/wasm/quant-layout.js";
import { PANEL_MIN_C, isRelaidOut, markRelaidOut, toPanels } from "./relayout.js";
import { isQuantWeight, type AnyLinearWeight } from "./linear.js";
import type { ModelWeights } from "./model-weights.js";
import type { WasmRuntime } from "./wasm-runtime.js";

/** Below this much work (multiply-adds or elements) a call runs on the calling thread: dispatch costs more. */
const PARALLEL_MIN_WORK = 1 << 15;

/**
 * From this many tokens on, F16/BF16 matmuls take the prefill kernels (matmul*Prefill): each block of weight rows
 * is widened to float32 once per call instead of once per pair of tokens, then runs matmulF32's tile.
 */
const PREFILL_MIN_TOKENS = 8;

/**
 * From this many tokens (or sequences of a batch step) on, Q8_0/Q4_0 matmuls take matmulQ8_0Prefill /
 * matmulQ4_0Prefill: each group of 4 weight rows is widened to int16 once and met by every token's Q8
 * activations, summed block by block as llama.cpp's reference does; matmulQ8_0 / matmulQ4_0, which stream one row
 * at a time (decode), keep per-lane sums, so the two agree to float32 rounding.
 * (Float32 activations over dequantised weights would be faster still, but broke the llama.cpp Q8 agreement test's
 * identical greedy continuation: llama.cpp quantises the activations of these types.)
 */
const QUANT_PREFILL_MIN_TOKENS = 2;

type RawKernel = (...args: number[]) => void;

export class WasmForwardKernels implements ForwardKernels {
  readonly kind = "wasm" as const;
  readonly threads: number;
  private readonly raw: KernelExports;
  private readonly matrices = new Map<AnyLinearWeight, number>();
  private readonly vectors = new Map<Float32Array, number>();
  private xq = 0; // Q8 activations of the widest input: q8ActivationBytes(rows, C)
  private xqBytes = 0;
  private kvWide = 0; // (2, G, P, D) float32: a prefill's widened copy of a cache of halves (`reserveKVWiden`)
  private kvWideBytes = 0;
  private prefillScratch = 0; // threads × prefillScratchStride bytes: one block of widened weight rows per thread
  private prefillScratchStride = 0;
  private readonly panelled = new Set<AnyLinearWeight>(); // F16/BF16 matrices in the panel-major layout
  private panelTmp: Uint8Array | undefined; // toPanels' copy, reused while `prepare` runs, then dropped

  /**
   * @param relayoutFloats whether wide F16/BF16 matrices may be rewritten panel by panel in place (only when nothing
   *   else reads the weights: training reads them row by row).
   */
  constructor(
    readonly runtime: WasmRuntime,
    private readonly relayoutFloats = false,
  ) {
    this.threads = runtime.threads;
    this.raw = runtime.kernels.raw;
  }

  f32(n: number): F32Buf {
    const ptr = this.runtime.alloc(n * 4);
    return { view: this.runtime.f32(ptr, n), ptr };
  }

  i32(n: number): I32Buf {
    const ptr = this.runtime.alloc(n * 4);
    return { view: this.runtime.i32(ptr, n), ptr };
  }

  /** Finds each matrix in the arena (or copies it in), and copies the float32 vectors (norm weights) in. */
  prepare(w: ModelWeights<AnyLinearWeight>): void {
    const matrix = (m: AnyLinearWeight) => this.prepareMatrix(m);
    const vector = (v: Float32Array | undefined) => {
      if (v === undefined || this.vectors.has(v)) return;
      const ptr = this.runtime.alloc(v.byteLength);
      this.runtime.f32(ptr, v.length).set(v);
      this.vectors.set(v, ptr);
    };
    this.prepareMatrix(w.embedTokens, true);
    matrix(w.lmHead);
    vector(w.norm);
    for (const l of w.layers) {
      for (const m of [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj]) matrix(m);
      for (const v of [l.inputLayernorm, l.qNorm, l.kNorm, l.postAttentionLayernorm, l.preFeedforwardLayernorm, l.postFeedforwardLayernorm]) {
        vector(v);
      }
    }
    this.panelTmp = undefined;
  }

  /**
   * Finds the matrix in the arena (or copies it in, once), and puts it in the layout its kernels read fastest, in
   * place (relayout.ts): Q8_0/Q4_0 rows interleaved in groups of 4, always; F16/BF16 matrices wider than PANEL_MIN_C
   * panel by panel, when this engine may re-lay out float weights (`relayoutFloats`; never the embedding table,
   * which lookups read by rows: `rows`). The engine takes over weights that live in its arena: their views no longer
   * hold the checkpoint's layout (`isRelaidOut`); engines sharing a runtime find such a matrix already rewritten.
   */
  prepareMatrix(m: AnyLinearWeight, rows = false): void {
    if (this.matrices.has(m)) return;
    const bytes = new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength);
    let ptr = this.runtime.offsetOf(bytes);
    const inArena = ptr >= 0;
    if (!inArena) {
      ptr = this.runtime.alloc(bytes.byteLength);
      this.runtime.u8(ptr, bytes.byteLength).set(bytes);
    }
    // A fresh copy is rewritten unless its source already was; a matrix in place unless an engine did it already.
    const done = isRelaidOut(m.data) || (inArena && this.runtime.relaidOut.has(ptr));
    const wide = (m.dtype === "F16" || m.dtype === "BF16") && m.C > PANEL_MIN_C;
    if (isQuantWeight(m) && !done) {
      const mark = this.runtime.arena.mark();
      const tmp = this.runtime.alloc(interleaveScratchBytes(m.C));
      if (m.dtype === "Q8_0") this.runtime.kernels.interleaveQ8_0(ptr, tmp, m.O, m.C);
      else this.runtime.kernels.interleaveQ4_0(ptr, tmp, m.O, m.C);
      this.runtime.arena.release(mark);
    } else if (wide && !done && !rows && this.relayoutFloats) {
      if (this.panelTmp === undefined || this.panelTmp.byteLength < bytes.byteLength) this.panelTmp = new Uint8Array(bytes.byteLength);
      toPanels(this.runtime.u8(ptr, bytes.byteLength), m.O, m.C, this.panelTmp);
    }
    const rewritten = isQuantWeight(m) || (wide && (done || (!rows && this.relayoutFloats)));
    if (rewritten) {
      if (inArena) markRelaidOut(m.data);
      this.runtime.relaidOut.add(ptr);
      if (wide) this.panelled.add(m);
    }
    this.matrices.set(m, ptr);
  }

  /**
   * Runs kernel `name` over [0, total): on the pool, split in multiples of `grain`, when there is one and `work` is
   * large enough; else in one direct call. `scratchArg`/`scratchStride`: a per-thread scratch argument.
   */
  private run(name: keyof KernelExports, args: number[], total: number, grain: number, work: number, scratchArg = -1, scratchStride = 0): void {
    const pool = this.runtime.pool;
    if (pool !== undefined && work >= PARALLEL_MIN_WORK && total > grain) {
      pool.run(name, args, total, grain, scratchArg < 0 ? undefined : { arg: scratchArg, stride: scratchStride });
      return;
    }
    args.push(0, total);
    (this.raw[name] as RawKernel)(...args);
  }

  private matrixPtr(w: AnyLinearWeight): number {
    const ptr = this.matrices.get(w);
    if (ptr === undefined) throw unprepared(w.name);
    return ptr;
  }

  private vectorPtr(v: Float32Array): number {
    const ptr = this.vectors.get(v);
    if (ptr === undefined) throw unprepared(`a norm vector of ${v.length} values`);
    return ptr;
  }

  embed(out: F32Buf, ids: I32Buf, w: AnyLinearWeight, scale: number, T: number): void {
    const name = `embedding${w.dtype}` as const;
    this.run(name, [out.ptr, ids.ptr, this.matrixPtr(w), scale, w.C, w.O], T, 1, 0);
  }

  linear(outs: readonly F32Buf[], x: F32Buf, ws: readonly AnyLinearWeight[], T: number): void {
    let quantised = false;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i];
      const out = outs[i];
      const work = T * w.O * w.C;
      if (this.panelled.has(w)) {
        // Panel-major F16/BF16: the panel kernels, the prefill one for any T ≥ 2 (the plain tiles read rows).
        if (T >= 2) {
          const stride = prefillScratchBytes(w.C);
          this.run(`matmul${w.dtype as "F16" | "BF16"}PanelsPrefill`, [out.ptr, x.ptr, this.matrixPtr(w), this.scratchFor(stride), T, w.C, w.O], w.O, 4, work, 3, stride);
        } else {
          this.run(`matmul${w.dtype as "F16" | "BF16"}Panels`, [out.ptr, x.ptr, this.matrixPtr(w), T, w.C, w.O], w.O, 4, work);
        }
      } else if (T >= PREFILL_MIN_TOKENS && (w.dtype === "BF16" || w.dtype === "F16")) {
        const name = w.dtype === "BF16" ? "matmulBF16Prefill" : "matmulF16Prefill";
        const stride = prefillScratchBytes(w.C);
        this.run(name, [out.ptr, x.ptr, this.matrixPtr(w), this.scratchFor(stride), T, w.C, w.O], w.O, 4, work, 3, stride);
      } else if (isQuantWeight(w)) {
        if (!quantised) {
          this.quantizeInput(x, T, w.C);
          quantised = true;
        }
        if (T >= QUANT_PREFILL_MIN_TOKENS) {
          const name = w.dtype === "Q8_0" ? "matmulQ8_0Prefill" : "matmulQ4_0Prefill";
          const stride = quantPrefillScratchBytes(w.C);
          this.run(name, [out.ptr, this.xq, this.matrixPtr(w), this.scratchFor(stride), T, w.C, w.O], w.O, 4, work, 3, stride);
        } else {
          this.run(w.dtype === "Q8_0" ? "matmulQ8_0" : "matmulQ4_0", [out.ptr, this.xq, this.matrixPtr(w), T, w.C, w.O], w.O, 4, work);
        }
      } else {
        this.run(`matmul${w.dtype}`, [out.ptr, x.ptr, this.matrixPtr(w), T, w.C, w.O], w.O, 4, work);
      }
      if (w.bias !== undefined) {
        const o = out.view;
        const b = w.bias;
        for (let t = 0; t < T; t++) for (let j = 0, r = t * w.O; j < w.O; j++) o[r + j] += b[j];
      }
    }
  }

  /** The prefill kernels' scratch, `stride` bytes per thread (grown when needed, rarely: once per model). */
  private scratchFor(stride: number): number {
    if (stride > this.prefillScratchStride) {
      this.prefillScratchStride = stride;
      this.prefillScratch = this.runtime.alloc(this.threads * stride);
    }
    return this.prefillScratch;
  }

  /** Quantises x (T, C) to Q8 blocks in the shared xq scratch (grown when needed). */
  private quantizeInput(x: F32Buf, T: number, C: number): void {
    const bytes = q8ActivationBytes(T, C);
    if (bytes > this.xqBytes) {
      // Grows rarely (the first call at each new size); the engine calls once at its largest size first.
      this.xqBytes = Math.max(bytes, this.xqBytes * 2);
      this.xq = this.runtime.alloc(this.xqBytes);
    }
    this.run("quantizeQ8Activations", [this.xq, x.ptr, T, C], T, 1, T * C);
  }

  /**
   * Reserves the Q8 activation scratch for inputs of up to `rows` × `C` and the prefill kernels' per-thread scratch
   * for up to C input channels (call once at construction, so no forward pass allocates).
   */
  reserveScratch(rows: number, C: number): void {
    const bytes = q8ActivationBytes(rows, Math.ceil(C / 32) * 32);
    if (bytes > this.xqBytes) {
      this.xqBytes = bytes;
      this.xq = this.runtime.alloc(bytes);
    }
    this.scratchFor(Math.max(prefillScratchBytes(C), quantPrefillScratchBytes(Math.ceil(C / 32) * 32)));
  }

  rmsNorm(out: F32Buf, x: F32Buf, w: Float32Array, N: number, C: number, eps: number, plusOne: boolean): void {
    this.run(plusOne ? "rmsNormPlusOne" : "rmsNorm", [out.ptr, x.ptr, this.vectorPtr(w), C, eps], N, 1, N * C);
  }

  rope(x: F32Buf, tables: RopeTables, positions: I32Buf, T: number, NH: number, D: number): void {
    this.run("rope", [x.ptr, tables.cos.ptr, tables.sin.ptr, positions.ptr, NH, D], T * NH, 1, T * NH * D);
  }

  attention(
    out: F32Buf, q: F32Buf, k: KVBuf, v: KVBuf, scores: F32Buf,
    T: number, H: number, G: number, D: number, S: number, pos0: number, window: number, scale: number, softcap: number,
  ): void {
    const perThread = Math.floor(scores.view.length / this.threads) * 4;
    const span = window > 0 ? Math.min(window, pos0 + T) : pos0 + T;
    const work = T * H * span * D * 2;
    let name: "attention" | "attentionF16" = k.view instanceof Uint16Array ? "attentionF16" : "attention";
    let kp = k.ptr;
    let vp = v.ptr;
    if (name === "attentionF16" && T >= 2 && 2 * G * S * D * 4 <= this.kvWideBytes) {
      // A prefill over a cache of halves: widen the positions it reads once, then attention over the float32 copy
      // (the bits of attentionF16, which would widen each block again for every query).
      const seen = pos0 + T;
      kp = this.kvWide;
      vp = this.kvWide + G * S * D * 4;
      this.run("widenKVF16", [kp, k.ptr, S, D, seen], G, 1, G * seen * D);
      this.run("widenKVF16", [vp, v.ptr, S, D, seen], G, 1, G * seen * D);
      name = "attention";
    }
    this.run(name, [out.ptr, q.ptr, kp, vp, scores.ptr, T, H, G, D, S, pos0, window, scale, softcap], H, 1, work, 4, perThread);
  }

  /**
   * Reserves the float32 copy a prefill over a KV cache of IEEE halves attends over: keys and values of `G` KV heads
   * × `P` positions × `D` (call when the longest cache grows, so no forward pass allocates). Without it, prefills run
   * attentionF16 directly.
   */
  reserveKVWiden(G: number, P: number, D: number): void {
    const bytes = 2 * G * P * D * 4;
    if (bytes <= this.kvWideBytes) return;
    this.kvWide = this.runtime.alloc(bytes);
    this.kvWideBytes = bytes;
  }

  add(out: F32Buf, a: F32Buf, b: F32Buf, N: number): void {
    this.run("add", [out.ptr, a.ptr, b.ptr], N, 16, N);
  }

  gated(out: F32Buf, gate: F32Buf, up: F32Buf, N: number, activation: "silu" | "gelu_pytorch_tanh"): void {
    // An element costs an exponential and a division, about as much as 64 multiply-adds of a matmul (2 ns): at
    // decode a 1536-wide MLP's activation (3 µs) is worth splitting.
    this.run(activation === "silu" ? "swiglu" : "geglu", [out.ptr, gate.ptr, up.ptr], N, 16, N * 64);
  }

  async close(): Promise<void> {
    await this.runtime.close();
  }
}

function unprepared(what: string): InferenceError {
  return new InferenceError({
    code: "internal",
    op: "cpu.forward",
    message: `${what} was not placed in the WebAssembly arena (prepare() was not called with these weights)`,
  });
}
