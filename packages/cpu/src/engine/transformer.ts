/**
 * The forward pass of the supported decoder-only transformers (llama, mistral, qwen2, qwen3, gemma3_text), written
 * to match Hugging Face transformers' modeling_*.py: batched prefill into a per-sequence KV cache (matrix-matrix
 * work through the T > 1 matmul tiles), single-token decode, and a batched decode step over several sequences.
 * Numeric work happens only in a ForwardKernels implementation: the WebAssembly SIMD kernels on a shared-memory
 * arena, split over worker threads (the default), or the TypeScript reference kernels. All scratch is allocated at
 * construction; a decode step allocates nothing. Not a sampler, not a tokenizer, not a loader.
 */
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig, WeightStore } from "../model-config.js";
import { checkConfig, checkLogits, checkToken, trapsAsErrors } from "./forward-checks.js";
import { rowsOf, type F32Buf, type ForwardKernels, type I32Buf, type KernelSet, type RopeTables } from "./forward-kernels.js";
import { ropeTable, softcap } from "./kernels/reference/index.js";
import { attentionScratchBytes } from "./kernels/wasm/quant-layout.js";
import { KV_CACHE_TYPES, KVCache, type KVCacheType } from "./kv-cache.js";
import { bindEngineWeights, type ModelWeights } from "./model-weights.js";
import type { AnyLinearWeight } from "./linear.js";
import { CacheBlocks } from "./cache-blocks.js";
import { LoraSlots, type BoundLora, type EngineAdapter, type LayerLora } from "./lora-slots.js";
import { ReferenceForwardKernels } from "./reference-forward.js";
import { ropeInverseFrequencies } from "./rope-frequencies.js";
import { WasmForwardKernels } from "./wasm-forward.js";
import { WasmRuntime, wasmKernelsSupported } from "./wasm-runtime.js";

/** Options of `new Transformer(...)`. */
export interface TransformerOptions {
  /**
   * Most tokens (or sequences, for `forwardBatch`) run through the layers in one pass; longer inputs are chunked.
   * Sizes the scratch: about maxBatchTokens · (3C + 2H·D + 2G·D + 2F) floats. Default 128.
   * @example new Transformer(config, weights, { maxBatchTokens: 256 })
   */
  readonly maxBatchTokens?: number;
  /**
   * The kernel set: "wasm" (WebAssembly SIMD on a shared-memory arena) or "reference" (plain TypeScript).
   * Default "wasm" where WebAssembly SIMD and threads work (wasmKernelsSupported()), else "reference".
   * @example new Transformer(config, weights, { kernels: "reference" })
   */
  readonly kernels?: KernelSet;
  /**
   * The WebAssembly runtime to run on (arena, kernels, thread pool); weights already in its arena are used in
   * place, others are copied in. The caller keeps ownership and closes it. Default: a new one-thread runtime.
   * @example new Transformer(config, weights, { runtime: WasmRuntime.create({ threads: 2 }) })
   */
  readonly runtime?: WasmRuntime;
  /**
   * Whether the WebAssembly kernels may rewrite F16/BF16 matrices wider than 3072 input channels in place, panel by
   * panel (relayout.ts: about twice the decode bandwidth on such rows). Only for weights nothing else reads in
   * their stored layout: training and the reference kernels refuse a rewritten matrix. Quantised matrices are
   * always rewritten (row-interleaved). Default false.
   * @example new Transformer(config, weights, { runtime, relayoutFloats: true })
   */
  readonly relayoutFloats?: boolean;
  /**
   * The element type of the caches `createCache` makes: "f32", or "f16" (IEEE halves: half the memory; keys and
   * values rounded to nearest-even when stored). Default "f32".
   * @example new Transformer(config, weights, { kvCacheType: "f16" })
   */
  readonly kvCacheType?: KVCacheType;
}

/** Options of `Transformer.forward`. */
export interface ForwardOptions {
  /**
   * Write the logits of every input position ((T, V) floats) instead of only the last one (V floats).
   * Default false.
   * @example transformer.forward(tokens, cache, new Float32Array(tokens.length * vocab), { allPositions: true })
   */
  readonly allPositions?: boolean;
}

const op = "cpu.forward";
/** Rows of logits computed per lm_head call (bounds the logits scratch to HEAD_ROWS · V floats). */
const HEAD_ROWS = 16;

/**
 * One model's forward pass over its weights (held by reference, never copied on the reference path).
 *
 * @example
 * const engine = new Transformer(config, weights);
 * const cache = engine.createCache(2048);
 * const logits = new Float32Array(config.vocabSize);
 * engine.forward(promptIds, cache, logits); // prefill: logits of the last prompt token
 * engine.forward([nextId], cache, logits); // decode one token
 */
export class Transformer {
  readonly config: ModelConfig;
  readonly maxBatchTokens: number;
  /** The kernel set in use. */
  readonly kernelSet: KernelSet;
  private readonly k: ForwardKernels;
  private readonly ownsKernels: boolean;
  private readonly w: ModelWeights<AnyLinearWeight>;
  private readonly usesLocalRope: boolean;
  private readonly invFreqGlobal: Float32Array; // (D/2)
  private readonly invFreqLocal: Float32Array; // (D/2)
  private ropePositions = 0;
  private ropeGlobal!: RopeTables; // (P, D/2) each
  private ropeLocal!: RopeTables; // (P, D/2) each
  private scores!: F32Buf; // (threads, P)
  private readonly blocks: CacheBlocks | undefined; // KV-cache memory reuse (WebAssembly arena only)
  private readonly kvCacheType: KVCacheType;
  private loraSlots: LoraSlots | undefined; // made by the first setAdapter
  private lora: readonly LayerLora[] | undefined; // (numLayers), the current adapter

  // Scratch; R = maxBatchTokens rows.
  private readonly ids: I32Buf; // (R)
  private readonly positions: I32Buf; // (R)
  private readonly x: F32Buf; // (R, C) residual stream
  private readonly xn: F32Buf; // (R, C) normed input of a sublayer
  private readonly proj: F32Buf; // (R, C) output of o_proj / down_proj
  private readonly q: F32Buf; // (R, H, D)
  private readonly kk: F32Buf; // (R, G, D)
  private readonly v: F32Buf; // (R, G, D)
  private readonly att: F32Buf; // (R, H, D)
  private readonly gate: F32Buf; // (R, F)
  private readonly up: F32Buf; // (R, F)
  private readonly logits: F32Buf; // (min(R, HEAD_ROWS), V)
  private readonly qRows: F32Buf[]; // R views (H, D) of q, for per-sequence attention in forwardBatch
  private readonly attRows: F32Buf[]; // R views (H, D) of att

  constructor(config: ModelConfig, weights: WeightStore, opts: TransformerOptions = {}) {
    const R = opts.maxBatchTokens ?? 128;
    if (!Number.isInteger(R) || R < 1) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "cpu.transformer",
        message: `maxBatchTokens must be a positive integer, got ${R}`,
      });
    }
    const kvCacheType = opts.kvCacheType ?? "f32";
    if (!KV_CACHE_TYPES.includes(kvCacheType)) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "cpu.transformer",
        message: `kvCacheType must be "f32" or "f16", got ${JSON.stringify(kvCacheType)}`,
        details: { option: "kvCacheType" },
      });
    }
    this.kvCacheType = kvCacheType;
    const set = opts.kernels ?? (opts.runtime !== undefined || wasmKernelsSupported() ? "wasm" : "reference");
    if (set !== "wasm" && set !== "reference") {
      throw new InferenceError({
        code: "invalid_argument",
        op: "cpu.transformer",
        message: `kernels must be "wasm" or "reference", got ${JSON.stringify(set)}`,
        details: { option: "kernels" },
      });
    }
    if (set === "reference" && opts.runtime !== undefined) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "cpu.transformer",
        message: `a WebAssembly runtime was given with kernels "reference"`,
        details: { option: "kernels" },
      });
    }
    checkConfig(config);
    this.config = config;
    this.maxBatchTokens = R;
    this.w = bindEngineWeights(config, weights);
    this.kernelSet = set;
    this.ownsKernels = opts.runtime === undefined;
    const wasm = set === "wasm" ? new WasmForwardKernels(opts.runtime ?? WasmRuntime.create(), opts.relayoutFloats === true) : undefined;
    this.k = wasm ?? new ReferenceForwardKernels();
    this.k.prepare(this.w);
    this.blocks = wasm !== undefined ? new CacheBlocks((n) => wasm.f32(n)) : undefined;

    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, vocabSize: V } = config;
    wasm?.reserveScratch(R, Math.max(C, H * D, F));
    this.invFreqGlobal = ropeInverseFrequencies(D, config.ropeTheta, config.ropeScaling);
    // gemma3's sliding layers use their own base and no scaling; elsewhere every layer shares one rope.
    this.usesLocalRope = config.architecture === "gemma3_text";
    this.invFreqLocal = this.usesLocalRope
      ? ropeInverseFrequencies(D, config.ropeLocalTheta, { type: "none" })
      : this.invFreqGlobal;

    this.x = this.k.f32(R * C);
    this.xn = this.k.f32(R * C);
    this.proj = this.k.f32(R * C);
    this.q = this.k.f32(R * H * D);
    this.kk = this.k.f32(R * G * D);
    this.v = this.k.f32(R * G * D);
    this.att = this.k.f32(R * H * D);
    this.gate = this.k.f32(R * F);
    this.up = this.k.f32(R * F);
    this.logits = this.k.f32(Math.min(R, HEAD_ROWS) * V);
    this.ids = this.k.i32(R);
    this.positions = this.k.i32(R);
    this.qRows = Array.from({ length: R }, (_, r) => rowsOf(this.q, r, 1, H * D));
    this.attRows = Array.from({ length: R }, (_, r) => rowsOf(this.att, r, 1, H * D));
  }

  /** Threads each kernel call uses (1 on the reference path). */
  get threads(): number {
    return this.k.threads;
  }

  /**
   * A KV cache for one sequence of up to `contextLen` positions. Grows the shared rope tables and attention
   * scratch when needed (here, never during a forward pass). On the WebAssembly path the cache lives in the arena
   * (an `out_of_memory` error names the 4 GiB limit when it cannot fit) and its memory is reused once the cache is
   * garbage-collected.
   */
  createCache(contextLen: number): KVCache {
    const { numLayers, numKVHeads, headDim } = this.config;
    const blocks = this.blocks;
    const cache = new KVCache(this, numLayers, contextLen, numKVHeads, headDim, blocks && ((n) => blocks.take(n)), this.kvCacheType);
    if (contextLen > this.ropePositions) this.growTables(contextLen);
    blocks?.track(cache);
    return cache;
  }

  /**
   * Runs `tokens` at positions cache.length, cache.length+1, ... as one batched prefill (chunked by
   * maxBatchTokens), appends their keys and values to `cache`, and writes logits: those of the last position
   * (V floats) or, with `allPositions`, of every position ((T, V) floats).
   *
   * Throws `context_length_exceeded` if the tokens do not fit in the cache, and `invalid_argument` for an empty
   * input, a token id outside [0, V), a foreign cache or a too-short `logits`; the cache is unchanged then.
   */
  forward(tokens: ArrayLike<number>, cache: KVCache, logits: Float32Array, opts: ForwardOptions = {}): void {
    const T = tokens.length;
    const V = this.config.vocabSize;
    const all = opts.allPositions === true;
    if (T === 0) {
      throw new InferenceError({ code: "invalid_argument", op, message: "forward needs at least one token" });
    }
    this.checkCache(cache, 0);
    if (cache.length + T > cache.capacity) {
      throw new InferenceError({
        code: "context_length_exceeded",
        op,
        message: `${cache.length + T} tokens (${cache.length} cached + ${T} new) exceed the context length of ${cache.capacity}`,
        details: { tokens: cache.length + T, cached: cache.length, newTokens: T, contextLength: cache.capacity },
      });
    }
    for (let i = 0; i < T; i++) checkToken(tokens[i], i, V);
    checkLogits(logits, all ? T * V : V);

    trapsAsErrors(() => {
      const R = this.maxBatchTokens;
      for (let start = 0; start < T; start += R) {
        const n = Math.min(R, T - start);
        const pos0 = cache.length;
        for (let i = 0; i < n; i++) {
          this.ids.view[i] = tokens[start + i];
          this.positions.view[i] = pos0 + i;
        }
        this.layers(n, cache, undefined, 0);
        cache.advance(n);
        if (all) this.head(logits.subarray(start * V), 0, n);
        else if (start + n === T) this.head(logits, n - 1, 1);
      }
    });
  }

  /**
   * Decodes one token for each of several sequences in one pass: tokens[b] goes at position caches[b].length of
   * caches[b]; logits (B, V) receives each sequence's next-token logits. Equals B separate `forward` calls.
   * Throws `context_length_exceeded` naming the sequence whose cache is full, `invalid_argument` for mismatched
   * lengths, a repeated or foreign cache, a bad token id or a too-short `logits`; no cache changes then.
   */
  forwardBatch(tokens: ArrayLike<number>, caches: readonly KVCache[], logits: Float32Array): void {
    const B = tokens.length;
    const V = this.config.vocabSize;
    if (B === 0 || caches.length !== B) {
      throw new InferenceError({
        code: "invalid_argument",
        op,
        message: `forwardBatch needs one cache per token and at least one token, got ${B} tokens and ${caches.length} caches`,
        details: { tokens: B, caches: caches.length },
      });
    }
    for (let b = 0; b < B; b++) {
      const cache = caches[b];
      this.checkCache(cache, b);
      for (let c = 0; c < b; c++) {
        if (caches[c] === cache) {
          throw new InferenceError({
            code: "invalid_argument",
            op,
            message: `sequences ${c} and ${b} share one cache`,
            details: { sequences: [c, b] },
          });
        }
      }
      if (cache.length + 1 > cache.capacity) {
        throw new InferenceError({
          code: "context_length_exceeded",
          op,
          message: `sequence ${b}: ${cache.length + 1} tokens exceed the context length of ${cache.capacity}`,
          details: { sequence: b, tokens: cache.length + 1, cached: cache.length, newTokens: 1, contextLength: cache.capacity },
        });
      }
      checkToken(tokens[b], b, V);
    }
    checkLogits(logits, B * V);

    trapsAsErrors(() => {
      const R = this.maxBatchTokens;
      for (let start = 0; start < B; start += R) {
        const n = Math.min(R, B - start);
        for (let i = 0; i < n; i++) {
          this.ids.view[i] = tokens[start + i];
          this.positions.view[i] = caches[start + i].length;
        }
        this.layers(n, undefined, caches, start);
        for (let i = 0; i < n; i++) caches[start + i].advance(1);
        this.head(logits.subarray(start * V), 0, n);
      }
    });
  }

  /**
   * Layers a LoRA adapter over the base weights, unmerged: after each targeted projection, y += scale · B (A x)
   * (two small matmuls per target). The adapter's A and B are copied (into the arena on the WebAssembly path; the
   * buffers of a replaced adapter with the same shapes are reused), so the caller may change its arrays afterwards
   * and call again to sync. `undefined` removes the adapter. Applies from the next forward call; KV caches filled
   * under another adapter keep the keys and values computed then.
   * Throws `invalid_argument` naming the module for a module that is not a projection of this model, a bad rank or
   * scale, sizes that do not fit, or non-finite values; the current adapter stays then.
   */
  setAdapter(adapter: EngineAdapter | undefined): void {
    if (adapter === undefined) {
      this.lora = undefined;
      this.loraSlots?.releaseAll();
      return;
    }
    this.loraSlots ??= new LoraSlots(this.config, this.k, this.maxBatchTokens);
    const layers = this.loraSlots.bind(adapter);
    this.lora = adapter.modules.size > 0 ? layers : undefined;
  }

  /** Whether an adapter is set. */
  get hasAdapter(): boolean {
    return this.lora !== undefined;
  }

  /** Ends the worker threads of a runtime this engine made itself (not one passed in). Idempotent. */
  async close(): Promise<void> {
    if (this.ownsKernels) await this.k.close();
  }

  /**
   * Runs rows 0 .. T−1 (ids and positions already in scratch) through the embedding and every layer, leaving the
   * residual stream in x. With `cache`, the rows are consecutive positions of one sequence; otherwise row i belongs
   * to caches[batch0 + i].
   */
  private layers(T: number, cache: KVCache | undefined, caches: readonly KVCache[] | undefined, batch0: number): void {
    const cfg = this.config;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, rmsNormEps: eps } = cfg;
    const plusOne = cfg.normPlusOne;
    const { k, x, xn, proj, q, kk, v, att, gate, up, positions } = this;
    const lora = this.lora;

    k.embed(x, this.ids, this.w.embedTokens, cfg.embeddingScale, T);

    for (let l = 0; l < cfg.numLayers; l++) {
      const lw = this.w.layers[l];
      const sliding = cfg.layerTypes[l] === "sliding";
      const window = sliding ? cfg.slidingWindow : 0;
      const tables = sliding && this.usesLocalRope ? this.ropeLocal : this.ropeGlobal;

      // Attention sublayer.
      k.rmsNorm(xn, x, lw.inputLayernorm, T, C, eps, plusOne);
      k.linear([q, kk, v], xn, [lw.qProj, lw.kProj, lw.vProj], T);
      const ll = lora?.[l];
      if (ll !== undefined) {
        this.loraDelta(q, xn, ll.qProj, T);
        this.loraDelta(kk, xn, ll.kProj, T);
        this.loraDelta(v, xn, ll.vProj, T);
      }
      if (lw.qNorm !== undefined && lw.kNorm !== undefined) {
        k.rmsNorm(q, q, lw.qNorm, T * H, D, eps, plusOne);
        k.rmsNorm(kk, kk, lw.kNorm, T * G, D, eps, plusOne);
      }
      k.rope(q, tables, positions, T, H, D);
      k.rope(kk, tables, positions, T, G, D);
      if (cache !== undefined) {
        const pos0 = positions.view[0];
        cache.store(l, kk.view, v.view, 0, T, pos0);
        k.attention(att, q, cache.keyBufs[l], cache.valueBufs[l], this.scores, T, H, G, D, cache.capacity, pos0, window, cfg.attentionScale, cfg.attnLogitSoftcap);
      } else if (caches !== undefined) {
        for (let i = 0; i < T; i++) {
          const c = caches[batch0 + i];
          const p = positions.view[i];
          c.store(l, kk.view, v.view, i, 1, p);
          k.attention(this.attRows[i], this.qRows[i], c.keyBufs[l], c.valueBufs[l], this.scores, 1, H, G, D, c.capacity, p, window, cfg.attentionScale, cfg.attnLogitSoftcap);
        }
      }
      k.linear([proj], att, [lw.oProj], T);
      if (ll !== undefined) this.loraDelta(proj, att, ll.oProj, T);
      if (lw.preFeedforwardLayernorm !== undefined && lw.postFeedforwardLayernorm !== undefined) {
        // gemma3: norm the sublayer output before the residual add, then pre-norm the MLP input.
        k.rmsNorm(proj, proj, lw.postAttentionLayernorm, T, C, eps, plusOne);
        k.add(x, x, proj, T * C);
        k.rmsNorm(xn, x, lw.preFeedforwardLayernorm, T, C, eps, plusOne);
      } else {
        k.add(x, x, proj, T * C);
        k.rmsNorm(xn, x, lw.postAttentionLayernorm, T, C, eps, plusOne);
      }

      // MLP sublayer: down(act(gate(x)) · up(x)).
      k.linear([gate, up], xn, [lw.gateProj, lw.upProj], T);
      if (ll !== undefined) {
        this.loraDelta(gate, xn, ll.gateProj, T);
        this.loraDelta(up, xn, ll.upProj, T);
      }
      k.gated(gate, gate, up, T * F, cfg.activation);
      k.linear([proj], gate, [lw.downProj], T);
      if (ll !== undefined) this.loraDelta(proj, gate, ll.downProj, T);
      if (lw.postFeedforwardLayernorm !== undefined) k.rmsNorm(proj, proj, lw.postFeedforwardLayernorm, T, C, eps, plusOne);
      k.add(x, x, proj, T * C);
    }
  }

  /** out (T, O) += (scale·B) (A x): h (T, r) = x (T, in) · Aᵀ, delta (T, O) = h · (scale·B)ᵀ. */
  private loraDelta(out: F32Buf, x: F32Buf, pair: BoundLora | undefined, T: number): void {
    if (pair === undefined) return;
    const slots = this.loraSlots!;
    this.k.linear([slots.h], x, [pair.a], T);
    this.k.linear([slots.delta], slots.h, [pair.b], T);
    this.k.add(out, out, slots.delta, T * pair.b.O);
  }

  /** out (N, V) = lm_head(norm(x rows row0 .. row0+N−1)), soft-capped when the model says so. */
  private head(out: Float32Array, row0: number, N: number): void {
    const cfg = this.config;
    const { hiddenSize: C, vocabSize: V } = cfg;
    const chunk = this.logits.view.length / V;
    for (let r = 0; r < N; r += chunk) {
      const n = Math.min(chunk, N - r);
      this.k.rmsNorm(this.xn, rowsOf(this.x, row0 + r, n, C), this.w.norm, n, C, cfg.rmsNormEps, cfg.normPlusOne);
      this.k.linear([this.logits], this.xn, [this.w.lmHead], n);
      out.set(this.logits.view.subarray(0, n * V), r * V);
    }
    if (cfg.finalLogitSoftcap > 0) softcap(out, out, cfg.finalLogitSoftcap, N * V);
  }

  private growTables(P: number): void {
    const D = this.config.headDim;
    const half = D >>> 1;
    const table = (invFreq: Float32Array): RopeTables => {
      const cos = this.k.f32(P * half);
      const sin = this.k.f32(P * half);
      ropeTable(cos.view, sin.view, invFreq, 0, P, D);
      return { cos, sin, positions: P };
    };
    this.ropeGlobal = table(this.invFreqGlobal);
    this.ropeLocal = this.usesLocalRope ? table(this.invFreqLocal) : this.ropeGlobal;
    // One attention scratch per thread (the pool hands thread t the t-th); the reference path uses P floats of it.
    const { numHeads: H, numKVHeads: G } = this.config;
    this.scores = this.k.f32(this.k.threads * (attentionScratchBytes(H, G, this.config.headDim, P) / 4));
    if (this.kvCacheType === "f16" && this.k instanceof WasmForwardKernels) this.k.reserveKVWiden(G, P, this.config.headDim);
    this.ropePositions = P;
  }

  private checkCache(cache: KVCache, index: number): void {
    if (!(cache instanceof KVCache) || cache.owner !== this) {
      throw new InferenceError({
        code: "invalid_argument",
        op,
        message: `cache ${index} was not made by this model's createCache`,
        details: { sequence: index },
      });
    }
  }
}
