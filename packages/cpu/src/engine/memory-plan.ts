/**
 * What an engine needs in the WebAssembly arena besides its weights — KV caches, activations, rope tables, scores
 * — computed from the config before anything is allocated, and the check that fails early with `out_of_memory`
 * when weights plus those cannot fit WebAssembly's 4 GiB memory. Sizes only; allocation is the arena's.
 */
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig } from "../model-config.js";
import { kvCacheBytes, type KVCacheType } from "./kv-cache.js";
import { attentionScratchBytes, prefillScratchBytes, q8ActivationBytes } from "./kernels/wasm/quant-layout.js";

/** The arena bytes of an engine, by kind. */
export interface EngineMemory {
  /** Weights already in the arena. */
  readonly weights: number;
  /** All KV caches: caches · layers · 2 · contextLen · G · D · 4 (· 2, not 4, with an F16 cache). */
  readonly kvCaches: number;
  /**
   * Activations, logits, rope tables, attention scores and norm vectors; with an F16 cache also a prefill's float32
   * copy of one layer's keys and values (2 · G · contextLen · D · 4).
   */
  readonly scratch: number;
  readonly total: number;
}

/**
 * Options of `engineMemory`.
 * @example engineMemory(config, { weightBytes: runtime.arena.used, contextLen: 4096, caches: 1, threads: 2 })
 */
export interface EngineMemoryOptions {
  /** Bytes of weights in the arena (required). Example: `runtime.arena.used` after loading. */
  readonly weightBytes: number;
  /** Positions per KV cache (required). Example: `4096`. */
  readonly contextLen: number;
  /** KV caches held at once, one per parallel slot (required). Example: `2`. */
  readonly caches: number;
  /** The engine's maxBatchTokens. Default 128. Example: `{ maxBatchTokens: 256 }`. */
  readonly maxBatchTokens?: number;
  /** Threads (one attention scratch each). Default 1. Example: `{ threads: 2 }`. */
  readonly threads?: number;
  /** The KV caches' element type. Default "f32". Example: `{ kvCacheType: "f16" }`. */
  readonly kvCacheType?: KVCacheType;
}

/** The arena bytes an engine for `config` needs, by kind (scratch rounded up generously for alignment). */
export function engineMemory(config: ModelConfig, o: EngineMemoryOptions): EngineMemory {
  const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, vocabSize: V, numLayers: L } = config;
  const R = o.maxBatchTokens ?? 128;
  const P = o.contextLen;
  const threads = o.threads ?? 1;
  const activations = R * (3 * C + 2 * H * D + 2 * G * D + 2 * F) * 4 + Math.min(R, 16) * V * 4 + R * 8;
  const quant = q8ActivationBytes(R, Math.ceil(Math.max(C, H * D, F) / 32) * 32);
  const rope = (config.architecture === "gemma3_text" ? 2 : 1) * 2 * P * (D / 2) * 4;
  const scores = threads * attentionScratchBytes(H, G, D, P);
  const prefill = threads * prefillScratchBytes(Math.max(C, H * D, F)); // per-thread widened weight rows
  const vectors = (L * (4 * C + 2 * D) + C) * 4;
  const widened = o.kvCacheType === "f16" ? 2 * G * P * D * 4 : 0; // a prefill's float32 copy of one layer's halves
  const scratch = activations + quant + rope + scores + prefill + vectors + widened + 64 * 64;
  const kvCaches = o.caches * kvCacheBytes(L, P, G * D, o.kvCacheType);
  return { weights: o.weightBytes, kvCaches, scratch, total: o.weightBytes + kvCaches + scratch };
}

/** "1.50 GiB", "12.0 MiB", "512 bytes". */
export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/**
 * Fails with `out_of_memory` when `m` exceeds `limit` (the arena's maximum, at most 4 GiB), naming the limit and
 * every size, before anything is allocated for the caches.
 */
export function checkFits(m: EngineMemory, limit: number, contextLen: number, caches: number): void {
  if (m.total <= limit) return;
  throw new InferenceError({
    code: "out_of_memory",
    op: "cpu.loadModel",
    message:
      `the model needs ${formatBytes(m.total)} of WebAssembly memory — weights ${formatBytes(m.weights)}, ` +
      `KV cache ${formatBytes(m.kvCaches)} (${caches} × ${contextLen} positions), activations and tables ${formatBytes(m.scratch)} — ` +
      `but WebAssembly memory is limited to 4 GiB (a 32-bit address space; this arena may hold ${formatBytes(limit)})`,
    details: { needed: m.total, weights: m.weights, kvCache: m.kvCaches, scratch: m.scratch, limit, contextLen, caches },
    remedy: "load with a smaller withContextLen or fewer parallel slots, or quantise the weights (quantization: \"q8_0\" or \"q4_0\")",
  });
}
