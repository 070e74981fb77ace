/**
 * The inverse of the GGUF converter's architecture step: GGUF `{arch}.*` metadata (and the tensors' presence) become a
 * Hugging Face style config.json object, which `readModelConfig` then validates into the same `ModelConfig` a model
 * directory gives. Also the GGUF → Hugging Face tensor names and the Llama 3 rope scaling recovered from the
 * `rope_freqs.weight` tensor. What GGUF does not record takes llama.cpp's fixed values (see `ggufRawConfig`).
 * Not the tensor reader (gguf-checkpoint.ts) and not the tokenizer (gguf-tokenizer.ts).
 */
import { InferenceError } from "@dappcore/inference";
import type { GGUFTensorInfo } from "@dappcore/inference-gguf";
import type { Architecture, RopeScaling } from "../model-config.js";
import { ropeInverseFrequencies } from "../engine/rope-frequencies.js";
import { GGUF_LOAD_OP, ggufInvalid, shortestFloat32, type GGUFMetadata } from "./gguf-metadata.js";

/** GGUF `general.architecture` names this loader reads, and the architecture each runs as. */
export const GGUF_ARCHITECTURES: Readonly<Record<string, Architecture>> = Object.freeze({
  llama: "llama",
  qwen2: "qwen2",
  qwen3: "qwen3",
  gemma3: "gemma3_text",
});

const classOf: Record<Architecture, string> = {
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
  gemma3_text: "Gemma3ForCausalLM",
};

/** The architecture of a GGUF file; others fail with `unsupported` naming them. */
export function ggufArchitectureOf(meta: GGUFMetadata): { gguf: string; architecture: Architecture } {
  const gguf = meta.requireString("general.architecture");
  if (!Object.hasOwn(GGUF_ARCHITECTURES, gguf)) {
    throw new InferenceError({
      code: "unsupported",
      op: GGUF_LOAD_OP,
      message: `${meta.path}: GGUF architecture "${gguf}" is not supported (supported: ${Object.keys(GGUF_ARCHITECTURES).join(", ")})`,
      details: { path: meta.path, architecture: gguf },
    });
  }
  return { gguf, architecture: GGUF_ARCHITECTURES[gguf] };
}

const layerNames: Record<string, string> = {
  "attn_norm.weight": "input_layernorm.weight",
  "attn_q.weight": "self_attn.q_proj.weight",
  "attn_k.weight": "self_attn.k_proj.weight",
  "attn_v.weight": "self_attn.v_proj.weight",
  "attn_output.weight": "self_attn.o_proj.weight",
  "attn_q.bias": "self_attn.q_proj.bias",
  "attn_k.bias": "self_attn.k_proj.bias",
  "attn_v.bias": "self_attn.v_proj.bias",
  "attn_output.bias": "self_attn.o_proj.bias",
  "attn_q_norm.weight": "self_attn.q_norm.weight",
  "attn_k_norm.weight": "self_attn.k_norm.weight",
  "ffn_gate.weight": "mlp.gate_proj.weight",
  "ffn_up.weight": "mlp.up_proj.weight",
  "ffn_down.weight": "mlp.down_proj.weight",
  "ffn_gate.bias": "mlp.gate_proj.bias",
  "ffn_up.bias": "mlp.up_proj.bias",
  "ffn_down.bias": "mlp.down_proj.bias",
};

/**
 * The Hugging Face name of a GGUF tensor, or undefined for a tensor this loader does not use (`rope_freqs.weight` is
 * read separately). gemma3's `ffn_norm` is its pre-feedforward norm; elsewhere it is the post-attention norm.
 */
export function hfTensorName(name: string, architecture: Architecture): string | undefined {
  if (name === "token_embd.weight") return "model.embed_tokens.weight";
  if (name === "output_norm.weight") return "model.norm.weight";
  if (name === "output.weight") return "lm_head.weight";
  const m = /^blk\.(0|[1-9]\d{0,5})\.(.+)$/.exec(name);
  if (m === null) return undefined;
  const [, layer, rest] = m;
  const gemma = architecture === "gemma3_text";
  let mapped: string | undefined;
  if (rest === "ffn_norm.weight") mapped = gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight";
  else if (gemma && rest === "post_attention_norm.weight") mapped = "post_attention_layernorm.weight";
  else if (gemma && rest === "post_ffw_norm.weight") mapped = "post_feedforward_layernorm.weight";
  else if (Object.hasOwn(layerNames, rest)) mapped = layerNames[rest];
  return mapped === undefined ? undefined : `model.layers.${layer}.${mapped}`;
}

/** Tensors by GGUF name, for the config step. */
export type GGUFTensorIndex = ReadonlyMap<string, GGUFTensorInfo>;

/**
 * A config.json object equivalent to the GGUF metadata. Where GGUF records nothing, llama.cpp's own fixed values are
 * used, so the engine runs the file as llama.cpp does:
 * - gemma3: sliding-window layers are every layer but each 6th (llama.cpp `set_swa_pattern(6)`), the local rope base
 *   is 10000, and attention scores are scaled by head_dim^-0.5 (hidden/heads for the 62-layer 27B model), i.e.
 *   `query_pre_attn_scalar` = head_dim.
 * - llama: a Mistral checkpoint converts to GGUF "llama" and loads back as llama (full attention, as llama.cpp runs it).
 * - vocab_size is the row count of `token_embd.weight`; biases are present when the file holds them.
 * - Llama 3 rope scaling is recovered from `rope_freqs.weight` (`ropeFreqs`, already read).
 */
export function ggufRawConfig(
  meta: GGUFMetadata,
  tensors: GGUFTensorIndex,
  ropeFreqs: Float32Array | undefined,
): Record<string, unknown> {
  const { gguf: a, architecture } = ggufArchitectureOf(meta);
  const gemma = architecture === "gemma3_text";
  const embed = tensors.get("token_embd.weight");
  if (embed === undefined) {
    throw ggufInvalid(meta.path, `missing tensor "token_embd.weight" (model.embed_tokens.weight)`, { tensor: "token_embd.weight" });
  }
  if (embed.shape.length !== 2) {
    throw ggufInvalid(meta.path, `tensor "token_embd.weight" has shape [${embed.shape.join(", ")}], expected 2 dimensions`, { tensor: "token_embd.weight" });
  }
  const hidden = meta.requirePositiveInt(`${a}.embedding_length`);
  const vocab = embed.shape[0];
  const declaredVocab = meta.uint(`${a}.vocab_size`);
  if (declaredVocab !== undefined && declaredVocab !== vocab) {
    throw ggufInvalid(meta.path, `${a}.vocab_size is ${declaredVocab} but token_embd.weight has ${vocab} rows`, { key: `${a}.vocab_size` });
  }
  const heads = meta.uniformUint(`${a}.attention.head_count`);
  if (heads === undefined || heads === 0) throw ggufInvalid(meta.path, `metadata "${a}.attention.head_count" is missing or 0`);
  const kvHeads = meta.uniformUint(`${a}.attention.head_count_kv`) ?? heads;
  const keyLength = meta.uint(`${a}.attention.key_length`);
  const valueLength = meta.uint(`${a}.attention.value_length`);
  if (keyLength !== undefined && valueLength !== undefined && keyLength !== valueLength) {
    throw new InferenceError({
      code: "unsupported",
      op: GGUF_LOAD_OP,
      message: `${meta.path}: key_length ${keyLength} differs from value_length ${valueLength}, which the cpu backend does not run`,
      details: { path: meta.path },
    });
  }
  const headDim = keyLength ?? valueLength ?? (gemma ? 256 : hidden / heads);
  if (!Number.isInteger(headDim)) throw ggufInvalid(meta.path, `${a}.attention.head_count (${heads}) does not divide ${a}.embedding_length (${hidden})`);
  const layers = meta.requirePositiveInt(`${a}.block_count`);
  const has = (n: string) => tensors.has(n);

  const config: Record<string, unknown> = {
    architectures: [classOf[architecture]],
    model_type: architecture,
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: meta.uniformUint(`${a}.feed_forward_length`) ?? missing(meta, `${a}.feed_forward_length`),
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    max_position_embeddings: meta.requirePositiveInt(`${a}.context_length`),
    rms_norm_eps: meta.positiveNumber(`${a}.attention.layer_norm_rms_epsilon`) ?? missing(meta, `${a}.attention.layer_norm_rms_epsilon`),
    rope_theta: meta.positiveNumber(`${a}.rope.freq_base`) ?? (gemma ? 1_000_000 : 10_000),
    tie_word_embeddings: !has("output.weight"),
    torch_dtype: torchDtypeOf(embed.type),
  };
  const name = meta.string("general.name");
  if (name !== undefined) config._name_or_path = name;

  const ropeDims = meta.uint(`${a}.rope.dimension_count`);
  if (ropeDims !== undefined && ropeDims !== headDim) {
    throw new InferenceError({
      code: "unsupported",
      op: GGUF_LOAD_OP,
      message: `${meta.path}: partial rope (${a}.rope.dimension_count ${ropeDims} of head size ${headDim}) is not supported`,
      details: { path: meta.path },
    });
  }
  const scaling = ropeScaling(meta, a, architecture, headDim, config.rope_theta as number, ropeFreqs);
  config.rope_scaling = scaling;

  const qBias = has("blk.0.attn_q.bias");
  const oBias = has("blk.0.attn_output.bias");
  if (gemma) {
    Object.assign(config, {
      hidden_activation: "gelu_pytorch_tanh",
      query_pre_attn_scalar: layers === 62 ? hidden / heads : headDim,
      sliding_window: meta.uint(`${a}.attention.sliding_window`) ?? missing(meta, `${a}.attention.sliding_window`),
      rope_local_base_freq: 10_000,
      final_logit_softcapping: null,
      attn_logit_softcapping: null,
      attention_bias: false,
      layer_types: Array.from({ length: layers }, (_, i) => ((i + 1) % 6 === 0 ? "full_attention" : "sliding_attention")),
    });
  } else {
    config.hidden_act = "silu";
    if (architecture === "llama") {
      config.attention_bias = qBias || oBias;
      config.mlp_bias = has("blk.0.ffn_up.bias");
    } else if (architecture === "qwen3") {
      config.attention_bias = qBias;
    }
  }
  return config;
}

function missing(meta: GGUFMetadata, key: string): never {
  throw ggufInvalid(meta.path, `metadata "${key}" is missing`, { key });
}

function torchDtypeOf(type: string): string {
  if (type === "BF16") return "bfloat16";
  if (type === "F16") return "float16";
  return "float32";
}

/** config.json `rope_scaling` from the rope metadata, or from `rope_freqs.weight` for Llama 3. */
function ropeScaling(
  meta: GGUFMetadata,
  a: string,
  architecture: Architecture,
  headDim: number,
  theta: number,
  ropeFreqs: Float32Array | undefined,
): Record<string, unknown> | null {
  const type = meta.string(`${a}.rope.scaling.type`);
  const factor = meta.positiveNumber(`${a}.rope.scaling.factor`) ?? meta.positiveNumber(`${a}.rope.scale_linear`);
  if (ropeFreqs !== undefined) {
    if (architecture !== "llama") {
      throw new InferenceError({
        code: "unsupported",
        op: GGUF_LOAD_OP,
        message: `${meta.path}: rope_freqs.weight is supported for llama only, not ${a}`,
        details: { path: meta.path, tensor: "rope_freqs.weight" },
      });
    }
    if (type !== undefined && type !== "none") {
      throw new InferenceError({
        code: "unsupported",
        op: GGUF_LOAD_OP,
        message: `${meta.path}: rope_freqs.weight together with rope scaling "${type}" is not supported`,
        details: { path: meta.path },
      });
    }
    return llama3ScalingFromFreqs(ropeFreqs, headDim, theta, meta.path);
  }
  if (type === undefined || type === "none") {
    if (type === undefined && factor !== undefined && factor !== 1) return { rope_type: "linear", factor };
    return null;
  }
  if (type === "linear") {
    if (factor === undefined) missing(meta, `${a}.rope.scaling.factor`);
    return { rope_type: "linear", factor };
  }
  throw new InferenceError({
    code: "unsupported",
    op: GGUF_LOAD_OP,
    message: `${meta.path}: rope scaling "${type}" is not supported (supported: none, linear, and Llama 3 rope_freqs)`,
    details: { path: meta.path, ropeScaling: type },
  });
}

/**
 * Recovers Llama 3 rope scaling parameters from llama.cpp's `rope_freqs` (the divisor of each rope frequency): the
 * factor is the largest divisor; low/high frequency factors are Llama 3's 1 and 4 when a smoothed frequency pins the
 * original context length, else any values that classify every frequency the same way. The parameters are accepted
 * only if recomputing the frequencies from them reproduces the tensor; otherwise `unsupported`.
 */
export function llama3ScalingFromFreqs(freqs: Float32Array, headDim: number, theta: number, path: string): Record<string, unknown> {
  const half = headDim >>> 1;
  const fail = (why: string) =>
    new InferenceError({
      code: "unsupported",
      op: GGUF_LOAD_OP,
      message: `${path}: rope_freqs.weight is not a Llama 3 rope scaling (${why})`,
      details: { path, tensor: "rope_freqs.weight" },
    });
  if (freqs.length !== half) throw ggufInvalid(path, `rope_freqs.weight has ${freqs.length} values, head size ${headDim} needs ${half}`, { tensor: "rope_freqs.weight" });
  const base = ropeInverseFrequencies(headDim, theta, { type: "none" });
  const wavelen = Array.from(base, (f) => (2 * Math.PI) / f);
  let factor = 1;
  for (const f of freqs) {
    if (!(Number.isFinite(f) && f >= 1)) throw fail(`divisor ${f} is below 1`);
    factor = Math.max(factor, f);
  }
  factor = shortestFloat32(factor);
  if (factor === 1) return { rope_type: "llama3", factor: 1, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
  const tol = 1e-4;
  const near = (x: number, y: number) => Math.abs(x - y) <= tol * Math.max(1, Math.abs(y));
  const candidates: Record<string, unknown>[] = [];
  // A smoothed divisor f gives s = (1/f - 1/factor) / (1 - 1/factor) and, with low = 1 and high = 4, old = wavelen * (3s + 1).
  const smoothAt = [...freqs.keys()].find((i) => !near(freqs[i], 1) && !near(freqs[i], factor));
  if (smoothAt !== undefined) {
    const s = (1 / freqs[smoothAt] - 1 / factor) / (1 - 1 / factor);
    candidates.push({ low: 1, high: 4, old: Math.round(wavelen[smoothAt] * (3 * s + 1)) });
  } else {
    const ones = wavelen.filter((_, i) => near(freqs[i], 1));
    const scaled = wavelen.filter((_, i) => near(freqs[i], factor));
    const maxOne = ones.length > 0 ? Math.max(...ones) : 0;
    const minScaled = scaled.length > 0 ? Math.min(...scaled) : Infinity;
    if (!(maxOne < minScaled)) throw fail("scaled and unscaled frequencies interleave");
    // Any original length between them with high/low spanning the gap gives the same table.
    const old = Number.isFinite(minScaled) ? Math.floor(minScaled * 0.999) : Math.ceil(maxOne * 8);
    const high = maxOne > 0 ? Math.max(1.001, (old / maxOne + 1) / 2) : 4;
    candidates.push({ low: 1, high: shortestFloat32(high), old: Math.max(1, old) });
  }
  for (const c of candidates) {
    const scaling: RopeScaling = {
      type: "llama3",
      factor,
      lowFreqFactor: c.low as number,
      highFreqFactor: c.high as number,
      originalMaxPositionEmbeddings: c.old as number,
    };
    if (!(scaling.highFreqFactor > scaling.lowFreqFactor) || !(scaling.originalMaxPositionEmbeddings > 0)) continue;
    const scaled = ropeInverseFrequencies(headDim, theta, scaling);
    if (scaled.every((f, i) => near(base[i] / f, freqs[i]))) {
      return {
        rope_type: "llama3",
        factor,
        low_freq_factor: scaling.lowFreqFactor,
        high_freq_factor: scaling.highFreqFactor,
        original_max_position_embeddings: scaling.originalMaxPositionEmbeddings,
      };
    }
  }
  throw fail("no factor, low/high frequency factors and original context reproduce it");
}
