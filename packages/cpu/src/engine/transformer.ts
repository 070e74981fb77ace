/**
 * The forward pass of the supported decoder-only transformers (llama, mistral, qwen2, qwen3, gemma3_text), written
 * to match Hugging Face transformers' modeling_*.py: batched prefill into a per-sequence KV cache, single-token
 * decode, and a batched decode step over several sequences. All scratch comes from one arena sized from the config
 * at construction; a decode step allocates nothing. Numeric work happens only in kernels/ (see its README for the
 * dimension letters). Not a sampler, not a tokenizer, not a loader.
 */
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig, WeightStore } from "../model-config.js";
import {
  add,
  attention,
  copyRows,
  geglu,
  rmsNorm,
  rmsNormPlusOne,
  rope,
  ropeTable,
  softcap,
  swiglu,
} from "./kernels/reference/index.js";
import { KVCache } from "./kv-cache.js";
import { embed, linear } from "./linear.js";
import { bindModelWeights, type ModelWeights } from "./model-weights.js";
import { ropeInverseFrequencies } from "./rope-frequencies.js";

/** Options of `new Transformer(...)`. */
export interface TransformerOptions {
  /**
   * Most tokens (or sequences, for `forwardBatch`) run through the layers in one pass; longer inputs are chunked.
   * Sizes the scratch arena: about maxBatchTokens · (3C + 2H·D + 2G·D + 2F) floats. Default 128.
   * @example new Transformer(config, weights, { maxBatchTokens: 256 })
   */
  readonly maxBatchTokens?: number;
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

/**
 * One model's forward pass over its weights (held by reference, never copied).
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
  private readonly w: ModelWeights;
  private readonly usesLocalRope: boolean;
  private readonly invFreqGlobal: Float32Array; // (D/2)
  private readonly invFreqLocal: Float32Array; // (D/2)
  private ropePositions = 0;
  private cosGlobal = new Float32Array(0); // (P, D/2)
  private sinGlobal = new Float32Array(0); // (P, D/2)
  private cosLocal = new Float32Array(0); // (P, D/2)
  private sinLocal = new Float32Array(0); // (P, D/2)
  private scores = new Float32Array(0); // (S)

  // Scratch, carved from one arena; R = maxBatchTokens rows.
  private readonly ids: Int32Array; // (R)
  private readonly positions: Int32Array; // (R)
  private readonly x: Float32Array; // (R, C) residual stream
  private readonly xn: Float32Array; // (R, C) normed input of a sublayer
  private readonly proj: Float32Array; // (R, C) output of o_proj / down_proj
  private readonly q: Float32Array; // (R, H, D)
  private readonly k: Float32Array; // (R, G, D)
  private readonly v: Float32Array; // (R, G, D)
  private readonly att: Float32Array; // (R, H, D)
  private readonly gate: Float32Array; // (R, F)
  private readonly up: Float32Array; // (R, F)
  private readonly qRows: Float32Array[]; // R views (H, D) of q, for per-sequence attention in forwardBatch
  private readonly attRows: Float32Array[]; // R views (H, D) of att

  constructor(config: ModelConfig, weights: WeightStore, opts: TransformerOptions = {}) {
    const R = opts.maxBatchTokens ?? 128;
    if (!Number.isInteger(R) || R < 1) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "cpu.transformer",
        message: `maxBatchTokens must be a positive integer, got ${R}`,
      });
    }
    checkConfig(config);
    this.config = config;
    this.maxBatchTokens = R;
    this.w = bindModelWeights(config, weights);
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D } = config;
    this.invFreqGlobal = ropeInverseFrequencies(D, config.ropeTheta, config.ropeScaling);
    // gemma3's sliding layers use their own base and no scaling; elsewhere every layer shares one rope.
    this.usesLocalRope = config.architecture === "gemma3_text";
    this.invFreqLocal = this.usesLocalRope
      ? ropeInverseFrequencies(D, config.ropeLocalTheta, { type: "none" })
      : this.invFreqGlobal;

    const sizes = [C, C, C, H * D, G * D, G * D, H * D, F, F];
    const arena = new Float32Array(R * sizes.reduce((a, b) => a + b, 0));
    let at = 0;
    const take = (n: number) => arena.subarray(at, (at += R * n));
    this.x = take(C);
    this.xn = take(C);
    this.proj = take(C);
    this.q = take(H * D);
    this.k = take(G * D);
    this.v = take(G * D);
    this.att = take(H * D);
    this.gate = take(F);
    this.up = take(F);
    this.ids = new Int32Array(R);
    this.positions = new Int32Array(R);
    this.qRows = Array.from({ length: R }, (_, r) => this.q.subarray(r * H * D, (r + 1) * H * D));
    this.attRows = Array.from({ length: R }, (_, r) => this.att.subarray(r * H * D, (r + 1) * H * D));
  }

  /**
   * A KV cache for one sequence of up to `contextLen` positions. Grows the shared rope tables and attention
   * scratch when needed (here, never during a forward pass).
   */
  createCache(contextLen: number): KVCache {
    const cache = new KVCache(this, this.config.numLayers, contextLen, this.config.numKVHeads * this.config.headDim);
    if (contextLen > this.ropePositions) this.growTables(contextLen);
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
    for (let i = 0; i < T; i++) this.checkToken(tokens[i], i);
    const need = all ? T * V : V;
    if (logits.length < need) {
      throw new InferenceError({
        code: "invalid_argument",
        op,
        message: `logits has ${logits.length} floats, ${need} are needed`,
        details: { length: logits.length, needed: need },
      });
    }

    const R = this.maxBatchTokens;
    for (let start = 0; start < T; start += R) {
      const n = Math.min(R, T - start);
      const pos0 = cache.length;
      for (let i = 0; i < n; i++) {
        this.ids[i] = tokens[start + i];
        this.positions[i] = pos0 + i;
      }
      this.layers(n, cache, undefined, 0);
      cache.advance(n);
      if (all) {
        this.head(start === 0 ? logits : logits.subarray(start * V), 0, n);
      } else if (start + n === T) {
        this.head(logits, n - 1, 1);
      }
    }
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
      this.checkToken(tokens[b], b);
    }
    if (logits.length < B * V) {
      throw new InferenceError({
        code: "invalid_argument",
        op,
        message: `logits has ${logits.length} floats, ${B * V} are needed`,
        details: { length: logits.length, needed: B * V },
      });
    }

    const R = this.maxBatchTokens;
    for (let start = 0; start < B; start += R) {
      const n = Math.min(R, B - start);
      for (let i = 0; i < n; i++) {
        this.ids[i] = tokens[start + i];
        this.positions[i] = caches[start + i].length;
      }
      this.layers(n, undefined, caches, start);
      for (let i = 0; i < n; i++) caches[start + i].advance(1);
      this.head(start === 0 ? logits : logits.subarray(start * V), 0, n);
    }
  }

  /**
   * Runs rows 0 .. T−1 (ids and positions already in scratch) through the embedding and every layer, leaving the
   * residual stream in x. With `cache`, the rows are consecutive positions of one sequence; otherwise row i belongs
   * to caches[batch0 + i].
   */
  private layers(T: number, cache: KVCache | undefined, caches: readonly KVCache[] | undefined, batch0: number): void {
    const cfg = this.config;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, rmsNormEps: eps } = cfg;
    const norm = cfg.normPlusOne ? rmsNormPlusOne : rmsNorm;
    const { x, xn, proj, q, k, v, att, gate, up, positions } = this;
    const GD = G * D;

    embed(x, this.ids, this.w.embedTokens, cfg.embeddingScale, T);

    for (let l = 0; l < cfg.numLayers; l++) {
      const lw = this.w.layers[l];
      const sliding = cfg.layerTypes[l] === "sliding";
      const window = sliding ? cfg.slidingWindow : 0;
      const local = sliding && this.usesLocalRope;

      // Attention sublayer.
      norm(xn, x, lw.inputLayernorm, T, C, eps);
      linear(q, xn, lw.qProj, T);
      linear(k, xn, lw.kProj, T);
      linear(v, xn, lw.vProj, T);
      if (lw.qNorm !== undefined && lw.kNorm !== undefined) {
        norm(q, q, lw.qNorm, T * H, D, eps);
        norm(k, k, lw.kNorm, T * G, D, eps);
      }
      rope(q, local ? this.cosLocal : this.cosGlobal, local ? this.sinLocal : this.sinGlobal, positions, T, H, D);
      rope(k, local ? this.cosLocal : this.cosGlobal, local ? this.sinLocal : this.sinGlobal, positions, T, G, D);
      if (cache !== undefined) {
        const pos0 = positions[0];
        copyRows(cache.keys[l], pos0, k, 0, T, GD);
        copyRows(cache.values[l], pos0, v, 0, T, GD);
        attention(att, q, cache.keys[l], cache.values[l], this.scores, T, H, G, D, pos0, window, cfg.attentionScale, cfg.attnLogitSoftcap);
      } else if (caches !== undefined) {
        for (let i = 0; i < T; i++) {
          const c = caches[batch0 + i];
          copyRows(c.keys[l], positions[i], k, i, 1, GD);
          copyRows(c.values[l], positions[i], v, i, 1, GD);
          attention(
            this.attRows[i],
            this.qRows[i],
            c.keys[l],
            c.values[l],
            this.scores,
            1,
            H,
            G,
            D,
            positions[i],
            window,
            cfg.attentionScale,
            cfg.attnLogitSoftcap,
          );
        }
      }
      linear(proj, att, lw.oProj, T);
      if (lw.preFeedforwardLayernorm !== undefined && lw.postFeedforwardLayernorm !== undefined) {
        // gemma3: norm the sublayer output before the residual add, then pre-norm the MLP input.
        norm(proj, proj, lw.postAttentionLayernorm, T, C, eps);
        add(x, x, proj, T * C);
        norm(xn, x, lw.preFeedforwardLayernorm, T, C, eps);
      } else {
        add(x, x, proj, T * C);
        norm(xn, x, lw.postAttentionLayernorm, T, C, eps);
      }

      // MLP sublayer: down(act(gate(x)) · up(x)).
      linear(gate, xn, lw.gateProj, T);
      linear(up, xn, lw.upProj, T);
      if (cfg.activation === "silu") swiglu(gate, gate, up, T * F);
      else geglu(gate, gate, up, T * F);
      linear(proj, gate, lw.downProj, T);
      if (lw.postFeedforwardLayernorm !== undefined) norm(proj, proj, lw.postFeedforwardLayernorm, T, C, eps);
      add(x, x, proj, T * C);
    }
  }

  /** out (N, V) = lm_head(norm(x rows row0 .. row0+N−1)), soft-capped when the model says so. */
  private head(out: Float32Array, row0: number, N: number): void {
    const cfg = this.config;
    const norm = cfg.normPlusOne ? rmsNormPlusOne : rmsNorm;
    const C = cfg.hiddenSize;
    if (row0 !== 0) copyRows(this.xn, 0, this.x, row0, N, C);
    norm(this.xn, row0 !== 0 ? this.xn : this.x, this.w.norm, N, C, cfg.rmsNormEps);
    linear(out, this.xn, this.w.lmHead, N);
    if (cfg.finalLogitSoftcap > 0) softcap(out, out, cfg.finalLogitSoftcap, N * cfg.vocabSize);
  }

  private growTables(P: number): void {
    const half = this.config.headDim >>> 1;
    this.cosGlobal = new Float32Array(P * half);
    this.sinGlobal = new Float32Array(P * half);
    ropeTable(this.cosGlobal, this.sinGlobal, this.invFreqGlobal, 0, P, this.config.headDim);
    if (this.usesLocalRope) {
      this.cosLocal = new Float32Array(P * half);
      this.sinLocal = new Float32Array(P * half);
      ropeTable(this.cosLocal, this.sinLocal, this.invFreqLocal, 0, P, this.config.headDim);
    }
    this.scores = new Float32Array(P);
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

  private checkToken(id: number, index: number): void {
    const V = this.config.vocabSize;
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new InferenceError({
        code: "invalid_argument",
        op,
        message: `token id ${id} at index ${index} is outside the vocabulary [0, ${V})`,
        details: { tokenId: id, index, vocabSize: V },
      });
    }
  }
}

/** Rejects configs whose dimensions the kernels cannot run, naming the field. */
function checkConfig(c: ModelConfig): void {
  const fail = (message: string) => {
    throw new InferenceError({ code: "invalid_model", op: "cpu.transformer", message });
  };
  const positive = ["vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKVHeads", "headDim"] as const;
  for (const key of positive) {
    if (!Number.isInteger(c[key]) || c[key] < 1) fail(`${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.headDim % 2 !== 0) fail(`headDim must be even for rope, got ${c.headDim}`);
  if (c.numHeads % c.numKVHeads !== 0) {
    fail(`numHeads (${c.numHeads}) must be a multiple of numKVHeads (${c.numKVHeads})`);
  }
  if (c.layerTypes.length !== c.numLayers) {
    fail(`layerTypes has ${c.layerTypes.length} entries for ${c.numLayers} layers`);
  }
  if (c.layerTypes.includes("sliding") && !(c.slidingWindow >= 1)) {
    fail(`sliding layers need a positive slidingWindow, got ${c.slidingWindow}`);
  }
}
