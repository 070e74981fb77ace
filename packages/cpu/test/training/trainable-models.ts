/**
 * Test helper: the tiny models the trainable-transformer tests run (hidden 16, 2 layers, vocabulary 50) for each
 * architecture and variant, built on the engine tests' in-memory checkpoint maker, plus a seeded token batch.
 */
import type { DType, ModelConfig } from "../../src/model-config.js";
import { tinyModel, type MemoryWeights } from "../engine/tiny-model.js";

export interface Variant {
  readonly name: string;
  readonly build: (dtype?: DType, seed?: number) => { config: ModelConfig; weights: MemoryWeights };
}

const small = (D: number): Partial<ModelConfig> => ({
  hiddenSize: 16,
  intermediateSize: 24,
  numHeads: 4,
  numKVHeads: 2,
  headDim: D,
  numLayers: 2,
  attentionScale: 1 / Math.sqrt(D),
});

const gemma = (extra: Partial<ModelConfig> = {}): Partial<ModelConfig> => ({
  ...small(8),
  embeddingScale: 4, // sqrt(16)
  layerTypes: ["sliding", "full"],
  slidingWindow: 3,
  ...extra,
});

/** Every architecture and the variants that change the computation. */
export const variants: Variant[] = [
  { name: "llama", build: (dtype, seed) => tinyModel({ architecture: "llama", dtype, seed, config: small(4) }) },
  {
    name: "llama (llama3 rope scaling, untied)",
    build: (dtype, seed) =>
      tinyModel({
        architecture: "llama",
        dtype,
        seed,
        config: {
          ...small(4),
          ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 4 },
        },
      }),
  },
  { name: "mistral", build: (dtype, seed) => tinyModel({ architecture: "mistral", dtype, seed, config: small(4) }) },
  { name: "qwen2 (q/k/v biases)", build: (dtype, seed) => tinyModel({ architecture: "qwen2", dtype, seed, config: small(4) }) },
  { name: "qwen3 (q/k norm, tied)", build: (dtype, seed) => tinyModel({ architecture: "qwen3", dtype, seed, config: small(8) }) },
  {
    name: "gemma3_text (sandwich norms, GELU, sliding, tied)",
    build: (dtype, seed) => tinyModel({ architecture: "gemma3_text", dtype, seed, config: gemma() }),
  },
  {
    name: "gemma3_text with logit and attention soft-caps",
    build: (dtype, seed) =>
      tinyModel({ architecture: "gemma3_text", dtype, seed, config: gemma({ finalLogitSoftcap: 5, attnLogitSoftcap: 3 }) }),
  },
  {
    name: "llama with tied embeddings",
    build: (dtype, seed) => tinyModel({ architecture: "llama", dtype, seed, config: { ...small(4), tieWordEmbeddings: true } }),
  },
];

/** A seeded (B, T) batch of token ids in [0, V). */
export function batch(B: number, T: number, V: number, seed = 7): Int32Array {
  const out = new Int32Array(B * T);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % V;
  }
  return out;
}
