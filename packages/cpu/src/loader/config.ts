/**
 * Turns a checkpoint's config.json into the normalised `ModelConfig`, and generation_config.json into
 * `GenerationDefaults`. Missing fields take the defaults of transformers' configuration_<arch>.py classes (read from
 * transformers' sources: LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config, Gemma3TextConfig), so a config that
 * transformers accepts means the same here. Never executes anything the config names (`auto_map` is only reported).
 * Not a file reader: `model-dir.ts` reads the files and passes their parsed JSON.
 */
import { InferenceError } from "@dappcore/inference";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../dtype.js";
import type { Activation, Architecture, DType, ModelConfig } from "../model-config.js";
import { FieldReader, isJsonObject } from "./config-fields.js";
import { readRope, ropeParams } from "./rope-config.js";

/** The transformers class of each supported architecture, as config.json `architectures` names it. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<Architecture, string>> = Object.freeze({
  llama: "LlamaForCausalLM",
  mistral: "MistralForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
  gemma3_text: "Gemma3ForCausalLM",
});

interface ArchDefaults {
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  /** undefined: num_attention_heads. */
  readonly numKVHeads: number | undefined;
  /** undefined: hidden_size / num_attention_heads. */
  readonly headDim: number | undefined;
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  readonly ropeTheta: number;
  readonly bos: number | undefined;
  readonly eos: readonly number[];
}

// The defaults of each transformers configuration class.
const defaults: Readonly<Record<Architecture, ArchDefaults>> = {
  llama: { hiddenSize: 4096, intermediateSize: 11008, numLayers: 32, numHeads: 32, numKVHeads: undefined, headDim: undefined,
    maxPositionEmbeddings: 2048, tieWordEmbeddings: false, ropeTheta: 10_000, bos: 1, eos: [2] },
  mistral: { hiddenSize: 4096, intermediateSize: 14336, numLayers: 32, numHeads: 32, numKVHeads: 8, headDim: undefined,
    maxPositionEmbeddings: 4096 * 32, tieWordEmbeddings: false, ropeTheta: 10_000, bos: 1, eos: [2] },
  qwen2: { hiddenSize: 4096, intermediateSize: 22016, numLayers: 32, numHeads: 32, numKVHeads: 32, headDim: undefined,
    maxPositionEmbeddings: 32768, tieWordEmbeddings: false, ropeTheta: 10_000, bos: undefined, eos: [] },
  qwen3: { hiddenSize: 4096, intermediateSize: 22016, numLayers: 32, numHeads: 32, numKVHeads: 32, headDim: 128,
    maxPositionEmbeddings: 32768, tieWordEmbeddings: false, ropeTheta: 10_000, bos: undefined, eos: [] },
  gemma3_text: { hiddenSize: 2304, intermediateSize: 9216, numLayers: 26, numHeads: 8, numKVHeads: 4, headDim: 256,
    maxPositionEmbeddings: 131_072, tieWordEmbeddings: true, ropeTheta: 1_000_000, bos: 2, eos: [1] },
};

const OP = "config.read";

/**
 * Reads config.json (already parsed) into a `ModelConfig`. Throws `InferenceError`: `unsupported` for an unknown
 * `model_type`, `architectures` class, activation or rope type (naming it and what is supported); `invalid_model`
 * naming the field for missing or bad values. Notes such as an ignored `auto_map` are pushed onto `warnings`.
 *
 * @example readModelConfig(JSON.parse(await readFile("model/config.json", "utf8")))
 */
export function readModelConfig(raw: unknown, source = "config.json", warnings: string[] = []): ModelConfig {
  if (!isJsonObject(raw)) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `${source}: is not a JSON object`, details: { source } });
  }
  const f = new FieldReader(raw, source, OP);
  const modelType = f.value("model_type");
  if (modelType === undefined) throw f.invalid("model_type", "is missing");
  if (typeof modelType !== "string") throw f.invalid("model_type", `must be a string, got ${JSON.stringify(modelType)}`);
  if (!Object.hasOwn(SUPPORTED_ARCHITECTURES, modelType)) {
    const hint = modelType === "gemma3"
      ? " (the multimodal Gemma 3 checkpoint; use a text-only gemma3_text checkpoint such as gemma-3-1b)"
      : "";
    throw new InferenceError({
      code: "unsupported",
      op: OP,
      message: `${source}: model_type "${modelType}" is not supported${hint} (supported: ${Object.keys(SUPPORTED_ARCHITECTURES).join(", ")})`,
      details: { source, modelType },
    });
  }
  const arch = modelType as Architecture;
  checkArchitectures(f, arch, warnings);
  if (f.has("auto_map")) warnings.push(`${source}: auto_map is ignored; code in a model directory is never executed`);

  const d = defaults[arch];
  const gemma = arch === "gemma3_text";
  const vocabSize = f.positiveInt("vocab_size");
  const hiddenSize = f.positiveInt("hidden_size", d.hiddenSize);
  const intermediateSize = f.positiveInt("intermediate_size", d.intermediateSize);
  const numLayers = f.positiveInt("num_hidden_layers", d.numLayers);
  const numHeads = f.positiveInt("num_attention_heads", d.numHeads);
  // An explicit null means "same as num_attention_heads" in every one of these classes.
  const kvFallback = raw.num_key_value_heads === null ? numHeads : (d.numKVHeads ?? numHeads);
  const numKVHeads = f.positiveInt("num_key_value_heads", kvFallback);
  if (numHeads % numKVHeads !== 0) {
    throw f.invalid("num_key_value_heads", `(${numKVHeads}) must divide num_attention_heads (${numHeads})`);
  }
  const explicitHeadDim = f.has("head_dim");
  if ((!explicitHeadDim && d.headDim === undefined) || arch === "llama") {
    if (hiddenSize % numHeads !== 0) {
      throw f.invalid("num_attention_heads", `(${numHeads}) must divide hidden_size (${hiddenSize})`);
    }
  }
  const headDim = f.positiveInt("head_dim", d.headDim ?? hiddenSize / numHeads);
  const rmsNormEps = f.positiveNumber("rms_norm_eps", 1e-6);
  const maxPositionEmbeddings = f.positiveInt("max_position_embeddings", d.maxPositionEmbeddings);
  const tieWordEmbeddings = f.bool("tie_word_embeddings", d.tieWordEmbeddings);
  const torchDtype = f.string("torch_dtype", f.string("dtype", "float32"));
  const activation = readActivation(f, gemma);

  const legacyTheta = f.positiveNumber("rope_theta", d.ropeTheta);
  const rp = ropeParams(f);
  const fullRope = readRope(f, rp.fullField, rp.full, legacyTheta);
  const localFallback = gemma ? f.positiveNumber("rope_local_base_freq", 10_000) : fullRope.theta;
  const localRope = gemma ? readRope(f, rp.slidingField, rp.sliding, localFallback) : fullRope;
  if (gemma && localRope.scaling.type !== "none") {
    throw new InferenceError({
      code: "unsupported",
      op: OP,
      message: `${source}: rope scaling on sliding-window layers is not supported`,
      details: { source, field: rp.slidingField },
    });
  }

  const { layerTypes, slidingWindow } = readLayerTypes(f, arch, numLayers, warnings);
  if (!gemma && fullRope.scaling.type !== "none" && layerTypes.includes("sliding")) {
    throw new InferenceError({
      code: "unsupported",
      op: OP,
      message: `${source}: rope scaling together with sliding-window layers is supported for gemma3_text only`,
      details: { source, field: rp.fullField },
    });
  }

  const attentionBias = arch === "qwen2" ? true : arch === "mistral" ? false : f.bool("attention_bias", false);
  const attentionOutBias = arch === "qwen2" || arch === "mistral" ? false : attentionBias;
  const mlpBias = arch === "llama" ? f.bool("mlp_bias", false) : false;

  let attentionScale = 1 / Math.sqrt(headDim);
  let embeddingScale = 1;
  let finalLogitSoftcap = 0;
  let attnLogitSoftcap = 0;
  if (gemma) {
    attentionScale = f.positiveNumber("query_pre_attn_scalar", 256) ** -0.5;
    embeddingScale = roundToDtype(Math.sqrt(hiddenSize), dtypeOfTorch(torchDtype));
    finalLogitSoftcap = f.positiveNumber("final_logit_softcapping", 0, true);
    attnLogitSoftcap = f.positiveNumber("attn_logit_softcapping", 0, true);
  }

  return {
    modelType: arch,
    architecture: arch,
    vocabSize,
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKVHeads,
    headDim,
    rmsNormEps,
    maxPositionEmbeddings,
    tieWordEmbeddings,
    activation,
    ropeTheta: fullRope.theta,
    ropeScaling: fullRope.scaling,
    attentionBias,
    attentionOutBias,
    mlpBias,
    qkNorm: arch === "qwen3" || gemma,
    normPlusOne: gemma,
    embeddingScale,
    sandwichNorms: gemma,
    attentionScale,
    layerTypes,
    slidingWindow,
    ropeLocalTheta: localRope.theta,
    finalLogitSoftcap,
    attnLogitSoftcap,
    bosTokenId: f.tokenId("bos_token_id", d.bos),
    eosTokenIds: f.tokenIds("eos_token_id", d.eos),
    torchDtype,
  };
}

function checkArchitectures(f: FieldReader, arch: Architecture, warnings: string[]): void {
  const list = f.value("architectures");
  if (list === undefined) return;
  if (!Array.isArray(list) || !list.every((a) => typeof a === "string")) {
    throw f.invalid("architectures", `must be a list of class names, got ${JSON.stringify(list)}`);
  }
  const supported = Object.values(SUPPORTED_ARCHITECTURES);
  for (const cls of list as string[]) {
    if (!supported.includes(cls)) {
      throw new InferenceError({
        code: "unsupported",
        op: OP,
        message: `${f.source}: architecture "${cls}" is not supported (supported: ${supported.join(", ")})`,
        details: { source: f.source, architecture: cls },
      });
    }
    if (cls !== SUPPORTED_ARCHITECTURES[arch]) {
      warnings.push(`${f.source}: architectures names ${cls} but model_type is "${arch}"; loading it as ${SUPPORTED_ARCHITECTURES[arch]}`);
    }
  }
}

function readActivation(f: FieldReader, gemma: boolean): Activation {
  const field = gemma ? "hidden_activation" : "hidden_act";
  const act = f.string(field, gemma ? "gelu_pytorch_tanh" : "silu");
  // transformers' ACT2FN maps "swish" to the same SiLU module.
  if (!gemma && (act === "silu" || act === "swish")) return "silu";
  if (gemma && act === "gelu_pytorch_tanh") return "gelu_pytorch_tanh";
  throw new InferenceError({
    code: "unsupported",
    op: OP,
    message: `${f.source}: ${field} "${act}" is not supported (supported: ${gemma ? "gelu_pytorch_tanh" : "silu"})`,
    details: { source: f.source, field, activation: act },
  });
}

/**
 * Which layers use a sliding window, following each class: gemma3 `layer_types` or every `sliding_window_pattern`-th
 * layer full (default 6); qwen2/qwen3 `layer_types` or layers from `max_window_layers` on, and only when
 * `use_sliding_window`; mistral all layers when `sliding_window` is set (default 4096); llama none.
 */
function readLayerTypes(
  f: FieldReader,
  arch: Architecture,
  numLayers: number,
  warnings: string[],
): { layerTypes: ("full" | "sliding")[]; slidingWindow: number } {
  const full = (): ("full" | "sliding")[] => Array.from({ length: numLayers }, () => "full" as const);
  const windowOf = (fallback: number | undefined) =>
    f.raw.sliding_window === null ? undefined : f.has("sliding_window") ? f.positiveInt("sliding_window") : fallback;
  const explicit = (): ("full" | "sliding")[] | undefined => {
    const v = f.value("layer_types");
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length !== numLayers) {
      throw f.invalid("layer_types", `must be a list of ${numLayers} layer types (one per layer)`);
    }
    return v.map((t, i) => {
      if (t === "full_attention") return "full";
      if (t === "sliding_attention") return "sliding";
      throw new InferenceError({
        code: "unsupported",
        op: OP,
        message: `${f.source}: layer_types[${i}] "${String(t)}" is not supported (supported: full_attention, sliding_attention)`,
        details: { source: f.source, field: "layer_types" },
      });
    });
  };
  switch (arch) {
    case "llama":
      return { layerTypes: full(), slidingWindow: 0 };
    case "mistral": {
      if (f.has("layer_types")) warnings.push(`${f.source}: layer_types is ignored for mistral, as transformers does`);
      const window = windowOf(4096);
      return window === undefined
        ? { layerTypes: full(), slidingWindow: 0 }
        : { layerTypes: Array.from({ length: numLayers }, () => "sliding" as const), slidingWindow: window };
    }
    case "qwen2":
    case "qwen3": {
      const window = f.bool("use_sliding_window", false) ? windowOf(4096) : undefined;
      const types = explicit();
      if (window === undefined) return { layerTypes: full(), slidingWindow: 0 };
      const maxWindowLayers = f.positiveInt("max_window_layers", 28);
      const layerTypes = types ?? Array.from({ length: numLayers }, (_, i) => (i >= maxWindowLayers ? "sliding" : "full"));
      return { layerTypes, slidingWindow: layerTypes.includes("sliding") ? window : 0 };
    }
    case "gemma3_text": {
      let types = explicit();
      if (types === undefined) {
        const pattern = f.positiveInt("sliding_window_pattern", 6);
        types = Array.from({ length: numLayers }, (_, i) => ((i + 1) % pattern === 0 ? "full" : "sliding"));
      }
      const window = windowOf(4096);
      if (window === undefined) return { layerTypes: full(), slidingWindow: 0 };
      return { layerTypes: types, slidingWindow: types.includes("sliding") ? window : 0 };
    }
  }
}

/** The storage type a config.json `torch_dtype` names; F32 for anything else. */
export function dtypeOfTorch(torchDtype: string): DType {
  if (torchDtype === "bfloat16") return "BF16";
  if (torchDtype === "float16") return "F16";
  return "F32";
}

/** `value` as transformers holds it in `dtype`: a float32 tensor cast to the weights' type (gemma3's embed_scale). */
export function roundToDtype(value: number, dtype: DType): number {
  const f32 = Math.fround(value);
  if (dtype === "BF16") return bf16ToF32(f32ToBf16(f32));
  if (dtype === "F16") return f16ToF32(f32ToF16(f32));
  return f32;
}

export { readGenerationConfig, GREEDY_DEFAULTS } from "./generation-config.js";
export type { GenerationDefaults } from "./generation-config.js";
