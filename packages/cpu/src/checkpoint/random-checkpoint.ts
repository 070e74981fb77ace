/**
 * Writes a Hugging Face model directory with deterministic random weights for any supported architecture: the exact
 * config.json, generation_config.json, tokenizer files and safetensors layout that `transformers` would save. It is
 * what tests, benchmarks and the install-time default model are made from; it is not a trainer and not a converter.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InferenceError } from "@dappcore/inference";
import type { Architecture } from "../model-config.js";
import { encodeFloats } from "../dtype.js";
import { writeSafetensors, type TensorToWrite } from "../loader/safetensors-writer.js";
import { byteLevelTokenizer } from "./byte-level-tokenizer.js";

export interface RandomCheckpointSpec {
  readonly architecture: Architecture;
  /** Storage type of the weights. Default "F32". */
  readonly dtype?: "F32" | "F16" | "BF16";
  /** Seed of the weights. Default 1. */
  readonly seed?: number;
  readonly hiddenSize?: number;
  readonly intermediateSize?: number;
  readonly numLayers?: number;
  readonly numHeads?: number;
  readonly numKVHeads?: number;
  readonly headDim?: number;
  /** Default: the tokenizer's size. Must be at least that. */
  readonly vocabSize?: number;
  /** Default: true for qwen3 and gemma3_text, false otherwise. */
  readonly tieWordEmbeddings?: boolean;
  readonly maxPositionEmbeddings?: number;
  readonly ropeTheta?: number;
  /** Llama 3 rope scaling (llama only). */
  readonly llama3RopeScaling?: boolean;
  /** gemma3_text sliding window. Default 8, so short tests cross it. */
  readonly slidingWindow?: number;
  /** Byte-level BPE merges for the tokenizer. Default none (every byte is a token). */
  readonly merges?: readonly (readonly [string, string])[];
  /** Write the weights as this many shards with model.safetensors.index.json. Default 1 (model.safetensors). */
  readonly shards?: number;
  /** Standard deviation of the embedding weights. Default 1. */
  readonly embeddingStd?: number;
}

const architectureClass: Record<Architecture, string> = {
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
  gemma3_text: "Gemma3ForCausalLM",
};

/** Makes the checkpoint in `dir` (created if needed) and returns its config.json as written. */
export async function makeRandomCheckpoint(dir: string, spec: RandomCheckpointSpec): Promise<Record<string, unknown>> {
  const arch = spec.architecture;
  if (!(arch in architectureClass)) {
    throw new InferenceError({ code: "unsupported", op: "checkpoint.make", message: `unsupported architecture "${arch}"` });
  }
  const gemma = arch === "gemma3_text";
  const tok = byteLevelTokenizer(spec.merges ?? []);
  const hidden = spec.hiddenSize ?? 64;
  const heads = spec.numHeads ?? 4;
  const kvHeads = spec.numKVHeads ?? 2;
  const headDim = spec.headDim ?? (arch === "qwen3" || gemma ? 32 : hidden / heads);
  const layers = spec.numLayers ?? (gemma ? 6 : 2);
  const inter = spec.intermediateSize ?? hidden * 2;
  const vocab = spec.vocabSize ?? tok.vocabSize;
  const dtype = spec.dtype ?? "F32";
  const tied = spec.tieWordEmbeddings ?? (arch === "qwen3" || gemma);
  if (vocab < tok.vocabSize) {
    throw new InferenceError({
      code: "invalid_argument",
      op: "checkpoint.make",
      message: `vocabSize ${vocab} is smaller than the tokenizer's ${tok.vocabSize} tokens`,
    });
  }
  const torchDtype = { F32: "float32", F16: "float16", BF16: "bfloat16" }[dtype];
  const eos = tok.specialIds["<|im_end|>"];
  const bos = tok.specialIds["<|endoftext|>"];
  const config: Record<string, unknown> = {
    architectures: [architectureClass[arch]],
    model_type: arch,
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    max_position_embeddings: spec.maxPositionEmbeddings ?? 256,
    rms_norm_eps: 1e-6,
    rope_theta: spec.ropeTheta ?? (gemma ? 1_000_000 : 10_000),
    tie_word_embeddings: tied,
    bos_token_id: bos,
    eos_token_id: eos,
    torch_dtype: torchDtype,
    initializer_range: 0.02,
    use_cache: true,
    attention_dropout: 0,
  };
  if (gemma) {
    const window = spec.slidingWindow ?? 8;
    Object.assign(config, {
      hidden_activation: "gelu_pytorch_tanh",
      query_pre_attn_scalar: headDim,
      sliding_window: window,
      rope_local_base_freq: 10_000,
      rope_scaling: null,
      final_logit_softcapping: null,
      attn_logit_softcapping: null,
      attention_bias: false,
      layer_types: Array.from({ length: layers }, (_, i) => ((i + 1) % 6 === 0 ? "full_attention" : "sliding_attention")),
      pad_token_id: bos,
    });
  } else {
    Object.assign(config, { hidden_act: "silu", attention_bias: arch === "qwen2", mlp_bias: false });
    if (arch === "mistral") config.sliding_window = null;
    if (arch === "qwen2") Object.assign(config, { use_sliding_window: false, sliding_window: null, max_window_layers: layers });
    if (arch === "llama") {
      config.rope_scaling = spec.llama3RopeScaling
        ? { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 }
        : null;
      config.pretraining_tp = 1;
    }
  }

  const rng = gaussian(spec.seed ?? 1);
  const embStd = spec.embeddingStd ?? 1;
  const tensors: TensorToWrite[] = [];
  const add = (name: string, shape: number[], std: number, mean = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = mean + std * rng();
    tensors.push({ name, dtype, shape, data: encodeFloats(values, dtype) });
  };
  // Norm weights: around 1 for w-norms, around 0 for gemma's (1 + w) norms.
  const normMean = gemma ? 0 : 1;
  add("model.embed_tokens.weight", [vocab, hidden], embStd);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [hidden], 0.1, normMean);
    add(`${p}.self_attn.q_proj.weight`, [heads * headDim, hidden], 1 / Math.sqrt(hidden));
    add(`${p}.self_attn.k_proj.weight`, [kvHeads * headDim, hidden], 1 / Math.sqrt(hidden));
    add(`${p}.self_attn.v_proj.weight`, [kvHeads * headDim, hidden], 1 / Math.sqrt(hidden));
    add(`${p}.self_attn.o_proj.weight`, [hidden, heads * headDim], 1 / Math.sqrt(heads * headDim));
    if (arch === "qwen2") {
      add(`${p}.self_attn.q_proj.bias`, [heads * headDim], 0.1);
      add(`${p}.self_attn.k_proj.bias`, [kvHeads * headDim], 0.1);
      add(`${p}.self_attn.v_proj.bias`, [kvHeads * headDim], 0.1);
    }
    if (arch === "qwen3" || gemma) {
      add(`${p}.self_attn.q_norm.weight`, [headDim], 0.1, normMean);
      add(`${p}.self_attn.k_norm.weight`, [headDim], 0.1, normMean);
    }
    add(`${p}.post_attention_layernorm.weight`, [hidden], 0.1, normMean);
    if (gemma) {
      add(`${p}.pre_feedforward_layernorm.weight`, [hidden], 0.1, normMean);
      add(`${p}.post_feedforward_layernorm.weight`, [hidden], 0.1, normMean);
    }
    add(`${p}.mlp.gate_proj.weight`, [inter, hidden], 1 / Math.sqrt(hidden));
    add(`${p}.mlp.up_proj.weight`, [inter, hidden], 1 / Math.sqrt(hidden));
    add(`${p}.mlp.down_proj.weight`, [hidden, inter], 1 / Math.sqrt(inter));
  }
  add("model.norm.weight", [hidden], 0.1, normMean);
  if (!tied) add("lm_head.weight", [vocab, hidden], 1 / Math.sqrt(hidden));

  await mkdir(dir, { recursive: true });
  await writeWeights(dir, tensors, spec.shards ?? 1);
  await writeJson(join(dir, "config.json"), config);
  await writeJson(join(dir, "generation_config.json"), {
    bos_token_id: bos,
    eos_token_id: [eos, tok.specialIds["<|endoftext|>"]],
    do_sample: false,
  });
  await writeJson(join(dir, "tokenizer.json"), tok.tokenizer);
  await writeJson(join(dir, "tokenizer_config.json"), tok.tokenizerConfig);
  return config;
}

async function writeWeights(dir: string, tensors: TensorToWrite[], shards: number): Promise<void> {
  const metadata = { format: "pt" };
  if (shards <= 1) {
    await writeSafetensors(join(dir, "model.safetensors"), tensors, metadata);
    return;
  }
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const part = tensors.slice(s * per, (s + 1) * per);
    for (const t of part) {
      weightMap[t.name] = file;
      total += t.data.byteLength;
    }
    await writeSafetensors(join(dir, file), part, metadata);
  }
  await writeJson(join(dir, "model.safetensors.index.json"), { metadata: { total_size: total }, weight_map: weightMap });
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2) + "\n");
}

/** A seeded standard-normal generator (xorshift128+ and Box-Muller): the same seed gives the same weights everywhere. */
function gaussian(seed: number): () => number {
  let s0 = (seed * 0x9e3779b9) >>> 0 || 1;
  let s1 = (seed ^ 0x85ebca6b) >>> 0 || 2;
  const uniform = () => {
    // xorshift64 on two 32-bit halves, 32 bits of output mapped to (0, 1).
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    s1 = x >>> 0;
    return (((s0 + s1) >>> 0) + 0.5) / 4294967296;
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(uniform()));
    const theta = 2 * Math.PI * uniform();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}
