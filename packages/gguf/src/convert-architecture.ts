/**
 * What the converter knows about each supported architecture, following llama.cpp's convert_hf_to_gguf.py: the GGUF
 * architecture name, the hyperparameter metadata keys, the Hugging Face to GGUF tensor names, the llama/mistral q/k
 * row permutation, gemma3's (1 + w) norm shift, and the Llama 3 `rope_freqs` tensor. Not the writer, not the tokenizer.
 */
import { InferenceError } from "@dappcore/inference";
import type { GGUFMetadataValue } from "./gguf-types.js";

const OP = "gguf.convert";

export type ConvertArchitecture = "llama" | "mistral" | "qwen2" | "qwen3" | "gemma3_text";

const byClass: Record<string, ConvertArchitecture> = {
  LlamaForCausalLM: "llama",
  MistralForCausalLM: "mistral",
  Qwen2ForCausalLM: "qwen2",
  Qwen3ForCausalLM: "qwen3",
  Gemma3ForCausalLM: "gemma3_text",
};

/** The GGUF `general.architecture` of each Hugging Face architecture (mistral runs as llama in llama.cpp). */
export const ggufArchitecture: Readonly<Record<ConvertArchitecture, string>> = {
  llama: "llama",
  mistral: "llama",
  qwen2: "qwen2",
  qwen3: "qwen3",
  gemma3_text: "gemma3",
};

/** Reads the architecture from config.json (`architectures[0]`, else `model_type`); unknown ones are `unsupported`. */
export function detectArchitecture(config: Record<string, unknown>): ConvertArchitecture {
  const classes = Array.isArray(config.architectures) ? config.architectures : [];
  const cls = typeof classes[0] === "string" ? classes[0] : undefined;
  if (cls !== undefined) {
    if (Object.prototype.hasOwnProperty.call(byClass, cls)) return byClass[cls];
    throw new InferenceError({
      code: "unsupported",
      op: OP,
      message: `unsupported architecture "${cls}"`,
      details: { architecture: cls },
    });
  }
  const type = config.model_type;
  if (type === "llama" || type === "mistral" || type === "qwen2" || type === "qwen3" || type === "gemma3_text") return type;
  throw new InferenceError({
    code: "unsupported",
    op: OP,
    message: `unsupported model_type "${String(type)}"`,
    details: { modelType: type },
  });
}

/** Hyperparameters the converter reads, validated. */
export interface ConvertHParams {
  readonly architecture: ConvertArchitecture;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKVHeads: number;
  /** config.json `head_dim` when present. */
  readonly headDim: number | undefined;
  readonly contextLength: number;
  readonly ropeTheta: number | undefined;
  readonly rmsNormEps: number;
  readonly tieWordEmbeddings: boolean;
  readonly ropeScaling: Record<string, unknown> | undefined;
  readonly slidingWindow: number | undefined;
}

function positiveInt(config: Record<string, unknown>, key: string, fallback?: number): number {
  const v = config[key] ?? fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    throw new InferenceError({
      code: "invalid_model",
      op: OP,
      message: `config.json "${key}" must be a positive integer, got ${JSON.stringify(v)}`,
    });
  }
  return v;
}

/** Validates config.json for `arch`. Features llama.cpp cannot run are `unsupported`. */
export function readHParams(config: Record<string, unknown>, arch: ConvertArchitecture): ConvertHParams {
  const gemma = arch === "gemma3_text";
  const numHeads = positiveInt(config, "num_attention_heads", gemma ? 8 : undefined);
  const headDimRaw = config.head_dim;
  const headDim = headDimRaw === undefined || headDimRaw === null ? (gemma ? 256 : undefined) : positiveInt(config, "head_dim");
  const ropeScaling = config.rope_scaling;
  if (ropeScaling !== undefined && ropeScaling !== null) {
    const kind = (ropeScaling as Record<string, unknown>).rope_type ?? (ropeScaling as Record<string, unknown>).type;
    const allowed = arch === "llama" || arch === "mistral" ? ["linear", "llama3"] : ["linear"];
    if (typeof kind !== "string" || !allowed.includes(kind)) {
      throw new InferenceError({
        code: "unsupported",
        op: OP,
        message: `rope_scaling type "${String(kind)}" is not supported for ${arch}`,
      });
    }
  }
  if (gemma) {
    for (const key of ["attn_logit_softcapping", "final_logit_softcapping"]) {
      if (config[key] !== undefined && config[key] !== null) {
        throw new InferenceError({ code: "unsupported", op: OP, message: `gemma3 with ${key} is not supported` });
      }
    }
  }
  const eps = config.rms_norm_eps ?? (gemma ? 1e-6 : undefined);
  if (typeof eps !== "number" || !(eps > 0)) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `config.json "rms_norm_eps" must be a positive number` });
  }
  const theta = config.rope_theta ?? (gemma ? 1_000_000 : undefined);
  if (theta !== undefined && (typeof theta !== "number" || !(theta > 0))) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `config.json "rope_theta" must be a positive number` });
  }
  return {
    architecture: arch,
    vocabSize: positiveInt(config, "vocab_size"),
    hiddenSize: positiveInt(config, "hidden_size"),
    intermediateSize: positiveInt(config, "intermediate_size"),
    numLayers: positiveInt(config, "num_hidden_layers"),
    numHeads,
    numKVHeads: positiveInt(config, "num_key_value_heads", numHeads),
    headDim,
    contextLength: positiveInt(config, "max_position_embeddings", gemma ? 131072 : undefined),
    ropeTheta: theta as number | undefined,
    rmsNormEps: eps,
    tieWordEmbeddings: config.tie_word_embeddings === undefined ? gemma : config.tie_word_embeddings === true,
    ropeScaling: ropeScaling === null || ropeScaling === undefined ? undefined : (ropeScaling as Record<string, unknown>),
    slidingWindow: gemma ? positiveInt(config, "sliding_window") : undefined,
  };
}

const u32 = (value: number): GGUFMetadataValue => ({ type: "uint32", value });
const f32 = (value: number): GGUFMetadataValue => ({ type: "float32", value });

/** The `{arch}.*` hyperparameter keys, as convert_hf_to_gguf.py's `set_gguf_parameters` writes them. */
export function architectureMetadata(h: ConvertHParams): [string, GGUFMetadataValue][] {
  const a = ggufArchitecture[h.architecture];
  const out: [string, GGUFMetadataValue][] = [
    [`${a}.context_length`, u32(h.contextLength)],
    [`${a}.embedding_length`, u32(h.hiddenSize)],
    [`${a}.feed_forward_length`, u32(h.intermediateSize)],
    [`${a}.block_count`, u32(h.numLayers)],
    [`${a}.attention.head_count`, u32(h.numHeads)],
    [`${a}.attention.head_count_kv`, u32(h.numKVHeads)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(h.rmsNormEps)],
  ];
  if (h.ropeTheta !== undefined) out.push([`${a}.rope.freq_base`, f32(h.ropeTheta)]);
  if (h.headDim !== undefined) {
    out.push([`${a}.attention.key_length`, u32(h.headDim)], [`${a}.attention.value_length`, u32(h.headDim)]);
  }
  if (a === "llama") {
    out.push([`${a}.vocab_size`, u32(h.vocabSize)]);
    out.push([`${a}.rope.dimension_count`, u32(h.headDim ?? Math.floor(h.hiddenSize / h.numHeads))]);
  }
  if (h.slidingWindow !== undefined) out.push([`${a}.attention.sliding_window`, u32(h.slidingWindow)]);
  const rs = h.ropeScaling;
  if (rs !== undefined && (rs.rope_type ?? rs.type) === "linear") {
    const factor = rs.factor;
    if (typeof factor !== "number" || !(factor > 0)) {
      throw new InferenceError({ code: "invalid_model", op: OP, message: "rope_scaling.factor must be a positive number" });
    }
    out.push([`${a}.rope.scaling.type`, { type: "string", value: "linear" }], [`${a}.rope.scaling.factor`, f32(factor)]);
  }
  return out;
}

const layerMap: Record<string, string> = {
  "input_layernorm.weight": "attn_norm.weight",
  "self_attn.q_proj.weight": "attn_q.weight",
  "self_attn.k_proj.weight": "attn_k.weight",
  "self_attn.v_proj.weight": "attn_v.weight",
  "self_attn.o_proj.weight": "attn_output.weight",
  "self_attn.q_proj.bias": "attn_q.bias",
  "self_attn.k_proj.bias": "attn_k.bias",
  "self_attn.v_proj.bias": "attn_v.bias",
  "self_attn.o_proj.bias": "attn_output.bias",
  "self_attn.q_norm.weight": "attn_q_norm.weight",
  "self_attn.k_norm.weight": "attn_k_norm.weight",
  "mlp.gate_proj.weight": "ffn_gate.weight",
  "mlp.up_proj.weight": "ffn_up.weight",
  "mlp.down_proj.weight": "ffn_down.weight",
};

/**
 * The GGUF name of a checkpoint tensor, `null` for tensors the converter drops (rotary caches; the lm_head of tied
 * models), or `unsupported` for a name it cannot place.
 */
export function ggufTensorName(name: string, h: ConvertHParams): string | null {
  if (name.endsWith(".rotary_emb.inv_freq")) return null;
  if (name === "model.embed_tokens.weight") return "token_embd.weight";
  if (name === "model.norm.weight") return "output_norm.weight";
  if (name === "lm_head.weight") return h.tieWordEmbeddings ? null : "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (m !== null && Number(m[1]) < h.numLayers) {
    const [, layer, rest] = m;
    const gemma = h.architecture === "gemma3_text";
    let mapped: string | undefined;
    if (rest === "post_attention_layernorm.weight") mapped = gemma ? "post_attention_norm.weight" : "ffn_norm.weight";
    else if (gemma && rest === "pre_feedforward_layernorm.weight") mapped = "ffn_norm.weight";
    else if (gemma && rest === "post_feedforward_layernorm.weight") mapped = "post_ffw_norm.weight";
    else if (Object.prototype.hasOwnProperty.call(layerMap, rest)) mapped = layerMap[rest];
    if (mapped !== undefined) return `blk.${layer}.${mapped}`;
  }
  throw new InferenceError({
    code: "unsupported",
    op: OP,
    message: `cannot map tensor "${name}" for ${h.architecture}`,
    details: { tensor: name },
  });
}

/**
 * The row order convert_hf_to_gguf.py's `permute` gives q/k projections of llama and mistral, whose llama.cpp rope
 * rotates adjacent pairs while Hugging Face rotates the two halves of each head: within each head of `rows/heads`
 * rows, output row 2i + j takes input row j * half + i. Returns the source row of each output row.
 */
export function ropePermutation(rows: number, heads: number): Int32Array {
  const headRows = rows / heads;
  if (!Number.isInteger(headRows) || headRows % 2 !== 0) {
    throw new InferenceError({
      code: "invalid_model",
      op: OP,
      message: `cannot permute ${rows} rows into ${heads} heads of even size`,
    });
  }
  const half = headRows / 2;
  const src = new Int32Array(rows);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      src[h * headRows + 2 * i] = h * headRows + i;
      src[h * headRows + 2 * i + 1] = h * headRows + half + i;
    }
  }
  return src;
}

/** The head count to permute a tensor with, or undefined when it is not permuted. */
export function permuteHeads(name: string, h: ConvertHParams): number | undefined {
  if (h.architecture !== "llama" && h.architecture !== "mistral") return undefined;
  if (/\.self_attn\.q_proj\.(weight|bias)$/.test(name)) return h.numHeads;
  if (/\.self_attn\.k_proj\.(weight|bias)$/.test(name)) return h.numKVHeads;
  return undefined;
}

/** gemma3 stores RMSNorm weights w of a (1 + w) norm; llama.cpp multiplies by the stored weight, so 1 is added. */
export function normShift(name: string, h: ConvertHParams): number {
  return h.architecture === "gemma3_text" && name.endsWith("norm.weight") ? 1 : 0;
}

/**
 * Llama 3 rope scaling as llama.cpp runs it: a `rope_freqs.weight` tensor (head_dim/2 float32 divisors of each rope
 * frequency). Computed in float32 as the converter does with torch; the original context length is read from
 * rope_scaling (as Hugging Face does), falling back to config.json's top level and then 8192.
 */
export function llama3RopeFreqs(h: ConvertHParams, config: Record<string, unknown>): Float32Array | undefined {
  const rs = h.ropeScaling;
  if (rs === undefined || (rs.rope_type ?? rs.type) !== "llama3") return undefined;
  const fr = Math.fround;
  const num = (v: unknown, d: number) => (typeof v === "number" ? v : d);
  const base = h.ropeTheta ?? 10000;
  const dim = h.headDim ?? Math.floor(h.hiddenSize / h.numHeads);
  const factor = num(rs.factor, 8);
  const low = num(rs.low_freq_factor, 1);
  const high = num(rs.high_freq_factor, 4);
  const oldContext = num(rs.original_max_position_embeddings, num(config.original_max_position_embeddings, 8192));
  const lowWavelen = oldContext / low;
  const highWavelen = oldContext / high;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = fr(1 / fr(Math.pow(base, fr(fr(2 * i) / dim))));
    const wavelen = fr((2 * Math.PI) / freq);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = factor;
    else {
      const smooth = fr((fr(oldContext / wavelen) - low) / (high - low));
      out[i] = fr(1 / fr(fr((1 - smooth) / factor) + smooth));
    }
  }
  return out;
}
