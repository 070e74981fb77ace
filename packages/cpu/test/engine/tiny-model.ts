/**
 * Test helper: a ModelConfig and an in-memory WeightStore with seeded random weights, in Hugging Face's tensor names,
 * for any supported architecture and dtype. For engine unit tests that need no files; the agreement tests use real
 * checkpoint directories instead.
 */
import { InferenceError } from "@dappcore/inference";
import { encodeFloats } from "../../src/dtype.js";
import type { Architecture, DType, ModelConfig, Tensor, WeightStore } from "../../src/model-config.js";
import type { KVCache } from "../../src/engine/kv-cache.js";
import type { Transformer } from "../../src/engine/transformer.js";

export class MemoryWeights implements WeightStore {
  private readonly map = new Map<string, Tensor>();
  byteLength = 0;
  set(t: Tensor): void {
    this.map.set(t.name, t);
    this.byteLength += t.data.byteLength;
  }
  delete(name: string): void {
    this.map.delete(name);
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  get(name: string): Tensor {
    const t = this.map.get(name);
    if (t === undefined) {
      throw new InferenceError({ code: "invalid_model", op: "test.weights", message: `tensor "${name}" is missing` });
    }
    return t;
  }
  names(): string[] {
    return [...this.map.keys()];
  }
}

/** Seeded uniform numbers in [-1, 1) (mulberry32). */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

export function randomArray(n: number, rng: () => number, scale = 1, mean = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = mean + scale * rng();
  return a;
}

export interface TinySpec {
  architecture: Architecture;
  dtype?: DType;
  seed?: number;
  config?: Partial<ModelConfig>;
}

/** A tiny model of `architecture`: C 32, F 48, H 4, G 2, D 8 (16 for qwen3/gemma3), V 50, 2 layers (gemma3: 3). */
export function tinyModel(spec: TinySpec): { config: ModelConfig; weights: MemoryWeights } {
  const arch = spec.architecture;
  const gemma = arch === "gemma3_text";
  const D = arch === "qwen3" || gemma ? 16 : 8;
  const layers = spec.config?.numLayers ?? (gemma ? 3 : 2);
  const base: ModelConfig = {
    modelType: arch,
    architecture: arch,
    vocabSize: 50,
    hiddenSize: 32,
    intermediateSize: 48,
    numLayers: layers,
    numHeads: 4,
    numKVHeads: 2,
    headDim: D,
    rmsNormEps: 1e-6,
    maxPositionEmbeddings: 128,
    tieWordEmbeddings: arch === "qwen3" || gemma,
    activation: gemma ? "gelu_pytorch_tanh" : "silu",
    ropeTheta: gemma ? 1_000_000 : 10_000,
    ropeScaling: { type: "none" },
    attentionBias: arch === "qwen2",
    attentionOutBias: false,
    mlpBias: false,
    qkNorm: arch === "qwen3" || gemma,
    normPlusOne: gemma,
    embeddingScale: gemma ? Math.sqrt(32) : 1,
    sandwichNorms: gemma,
    attentionScale: 1 / Math.sqrt(D),
    layerTypes: Array.from({ length: layers }, (_, i) => (gemma && (i + 1) % 3 !== 0 ? "sliding" : "full")),
    slidingWindow: gemma ? 4 : 0,
    ropeLocalTheta: 10_000,
    finalLogitSoftcap: 0,
    attnLogitSoftcap: 0,
    bosTokenId: 1,
    eosTokenIds: [2],
    torchDtype: "float32",
  };
  const config: ModelConfig = { ...base, ...spec.config };
  // Float storage only: quantised weights are made by the engine from these.
  const dtype = (spec.dtype ?? "F32") as "F32" | "F16" | "BF16";
  const rng = random(spec.seed ?? 1);
  const weights = new MemoryWeights();
  const add = (name: string, shape: number[], scale: number, mean = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    weights.set({ name, dtype, shape, data: encodeFloats(randomArray(n, rng, scale, mean), dtype) });
  };
  const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: Dh, vocabSize: V } = config;
  const normMean = config.normPlusOne ? 0 : 1;
  add("model.embed_tokens.weight", [V, C], 1);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [C], 0.2, normMean);
    add(`${p}.self_attn.q_proj.weight`, [H * Dh, C], 1.5 / Math.sqrt(C));
    add(`${p}.self_attn.k_proj.weight`, [G * Dh, C], 1.5 / Math.sqrt(C));
    add(`${p}.self_attn.v_proj.weight`, [G * Dh, C], 1.5 / Math.sqrt(C));
    add(`${p}.self_attn.o_proj.weight`, [C, H * Dh], 1.5 / Math.sqrt(H * Dh));
    if (config.attentionBias) {
      add(`${p}.self_attn.q_proj.bias`, [H * Dh], 0.2);
      add(`${p}.self_attn.k_proj.bias`, [G * Dh], 0.2);
      add(`${p}.self_attn.v_proj.bias`, [G * Dh], 0.2);
    }
    if (config.qkNorm) {
      add(`${p}.self_attn.q_norm.weight`, [Dh], 0.2, normMean);
      add(`${p}.self_attn.k_norm.weight`, [Dh], 0.2, normMean);
    }
    add(`${p}.post_attention_layernorm.weight`, [C], 0.2, normMean);
    if (config.sandwichNorms) {
      add(`${p}.pre_feedforward_layernorm.weight`, [C], 0.2, normMean);
      add(`${p}.post_feedforward_layernorm.weight`, [C], 0.2, normMean);
    }
    add(`${p}.mlp.gate_proj.weight`, [F, C], 1.5 / Math.sqrt(C));
    add(`${p}.mlp.up_proj.weight`, [F, C], 1.5 / Math.sqrt(C));
    add(`${p}.mlp.down_proj.weight`, [C, F], 1.5 / Math.sqrt(F));
  }
  add("model.norm.weight", [C], 0.2, normMean);
  if (!config.tieWordEmbeddings) add("lm_head.weight", [V, C], 1.5 / Math.sqrt(C));
  return { config, weights };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Catches the InferenceError `fn` throws (fails the test if it throws nothing or something else). */
export function thrown(fn: () => unknown): InferenceError {
  try {
    fn();
  } catch (e) {
    if (e instanceof InferenceError) return e;
    throw e;
  }
  throw new Error("expected an InferenceError, nothing was thrown");
}

/** Logits of a prefill of `prompt` into `cache` at every position, then of one decode step per id of `steps`. */
export function prefillAndSteps(engine: Transformer, cache: KVCache, prompt: readonly number[], steps: readonly number[]): Float32Array[] {
  const V = engine.config.vocabSize;
  const all = new Float32Array(prompt.length * V);
  engine.forward(prompt, cache, all, { allPositions: true });
  const out = [all];
  for (const t of steps) {
    const step = new Float32Array(V);
    engine.forward([t], cache, step);
    out.push(step);
  }
  return out;
}
