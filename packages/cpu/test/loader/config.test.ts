// config.json to ModelConfig: transformers' defaults per architecture (LlamaConfig, MistralConfig, Qwen2Config,
// Qwen3Config, Gemma3TextConfig), rope scaling, gemma3 layer types, and a typed error for every bad value.
import { describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { readModelConfig, roundToDtype } from "../../src/loader/config.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { tempDir } from "./raw-safetensors.js";

function fails(raw: unknown, code: string, message: RegExp): InferenceError {
  let err: unknown;
  try {
    readModelConfig(raw);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InferenceError);
  const ie = err as InferenceError;
  expect(ie.code).toBe(code);
  expect(ie.message).toMatch(message);
  return ie;
}

const full = (n: number) => Array.from({ length: n }, () => "full");

describe("defaults per architecture", () => {
  it("llama: LlamaConfig defaults", () => {
    const c = readModelConfig({ model_type: "llama", vocab_size: 32000 });
    expect(c).toMatchObject({
      architecture: "llama", modelType: "llama", hiddenSize: 4096, intermediateSize: 11008, numLayers: 32, numHeads: 32,
      numKVHeads: 32, headDim: 128, rmsNormEps: 1e-6, maxPositionEmbeddings: 2048, tieWordEmbeddings: false,
      activation: "silu", ropeTheta: 10000, ropeScaling: { type: "none" }, attentionBias: false, attentionOutBias: false,
      mlpBias: false, qkNorm: false, normPlusOne: false, embeddingScale: 1, sandwichNorms: false, slidingWindow: 0,
      ropeLocalTheta: 10000, finalLogitSoftcap: 0, attnLogitSoftcap: 0, bosTokenId: 1, eosTokenIds: [2], torchDtype: "float32",
    });
    expect(c.attentionScale).toBeCloseTo(1 / Math.sqrt(128), 15);
    expect(c.layerTypes).toEqual(full(32));
  });

  it("llama: biases, explicit head_dim, null kv heads, dtype", () => {
    const c = readModelConfig({
      model_type: "llama", vocab_size: 10, hidden_size: 64, num_attention_heads: 4, num_key_value_heads: null,
      head_dim: 8, attention_bias: true, mlp_bias: true, torch_dtype: "bfloat16", eos_token_id: [5, 6, 5],
    });
    expect(c).toMatchObject({ numKVHeads: 4, headDim: 8, attentionBias: true, attentionOutBias: true, mlpBias: true, torchDtype: "bfloat16", eosTokenIds: [5, 6] });
    expect(c.attentionScale).toBeCloseTo(8 ** -0.5, 15);
    expect(readModelConfig({ model_type: "llama", vocab_size: 10, dtype: "float16" }).torchDtype).toBe("float16");
  });

  it("llama 3: rope_scaling llama3 (Llama 3.2 1B values), and the old `type` spelling", () => {
    const rope = { rope_type: "llama3", factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const c = readModelConfig({ model_type: "llama", vocab_size: 128256, rope_theta: 500000, rope_scaling: rope, max_position_embeddings: 131072 });
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling).toEqual({ type: "llama3", factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    const old = readModelConfig({ model_type: "llama", vocab_size: 8, rope_scaling: { type: "linear", factor: 2 } });
    expect(old.ropeScaling).toEqual({ type: "linear", factor: 2 });
    expect(readModelConfig({ model_type: "llama", vocab_size: 8, rope_scaling: { rope_type: "default" } }).ropeScaling).toEqual({ type: "none" });
  });

  it("transformers v5 rope_parameters", () => {
    const c = readModelConfig({
      model_type: "llama", vocab_size: 8,
      rope_parameters: { rope_type: "llama3", rope_theta: 500000, factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling.type).toBe("llama3");
  });

  it("mistral: MistralConfig defaults, every layer sliding with window 4096 unless sliding_window is null", () => {
    const warnings: string[] = [];
    const c = readModelConfig({ model_type: "mistral", vocab_size: 32000, num_hidden_layers: 3, layer_types: ["full_attention"] }, "config.json", warnings);
    expect(c).toMatchObject({ numKVHeads: 8, headDim: 128, intermediateSize: 14336, maxPositionEmbeddings: 131072, bosTokenId: 1, eosTokenIds: [2], slidingWindow: 4096, attentionBias: false });
    expect(c.layerTypes).toEqual(["sliding", "sliding", "sliding"]);
    expect(warnings.join()).toMatch(/layer_types is ignored for mistral/);
    const none = readModelConfig({ model_type: "mistral", vocab_size: 8, num_hidden_layers: 2, sliding_window: null, attention_bias: true });
    expect(none.layerTypes).toEqual(full(2));
    expect(none.slidingWindow).toBe(0);
    expect(none.attentionBias).toBe(false); // MistralAttention has no biases whatever the config says
  });

  it("qwen2: Qwen2Config defaults, q/k/v bias, sliding layers only with use_sliding_window", () => {
    const c = readModelConfig({ model_type: "qwen2", vocab_size: 151936, num_hidden_layers: 2 });
    expect(c).toMatchObject({ numKVHeads: 32, headDim: 128, intermediateSize: 22016, maxPositionEmbeddings: 32768, attentionBias: true, attentionOutBias: false, qkNorm: false, bosTokenId: undefined, eosTokenIds: [], slidingWindow: 0 });
    expect(c.layerTypes).toEqual(full(2));
    const s = readModelConfig({ model_type: "qwen2", vocab_size: 8, num_hidden_layers: 4, use_sliding_window: true, sliding_window: 16, max_window_layers: 2 });
    expect(s.layerTypes).toEqual(["full", "full", "sliding", "sliding"]);
    expect(s.slidingWindow).toBe(16);
    const off = readModelConfig({ model_type: "qwen2", vocab_size: 8, num_hidden_layers: 2, use_sliding_window: false, layer_types: ["sliding_attention", "full_attention"] });
    expect(off.layerTypes).toEqual(full(2));
  });

  it("qwen3: Qwen3Config defaults, q/k norm, head_dim independent of hidden_size", () => {
    const c = readModelConfig({ model_type: "qwen3", vocab_size: 151936, hidden_size: 1024, num_attention_heads: 16, num_key_value_heads: 8, num_hidden_layers: 28 });
    expect(c).toMatchObject({ headDim: 128, qkNorm: true, attentionBias: false, attentionOutBias: false, tieWordEmbeddings: false, maxPositionEmbeddings: 32768 });
    expect(readModelConfig({ model_type: "qwen3", vocab_size: 8, attention_bias: true })).toMatchObject({ attentionBias: true, attentionOutBias: true });
  });

  it("gemma3_text: Gemma3TextConfig defaults, 5 sliding : 1 full layers", () => {
    const c = readModelConfig({ model_type: "gemma3_text", vocab_size: 262144 });
    expect(c).toMatchObject({
      hiddenSize: 2304, intermediateSize: 9216, numLayers: 26, numHeads: 8, numKVHeads: 4, headDim: 256,
      maxPositionEmbeddings: 131072, tieWordEmbeddings: true, activation: "gelu_pytorch_tanh", ropeTheta: 1_000_000,
      ropeLocalTheta: 10_000, slidingWindow: 4096, qkNorm: true, normPlusOne: true, sandwichNorms: true,
      finalLogitSoftcap: 0, attnLogitSoftcap: 0, bosTokenId: 2, eosTokenIds: [1], embeddingScale: 48,
    });
    expect(c.attentionScale).toBe(1 / 16);
    const fullLayers = c.layerTypes.flatMap((t, i) => (t === "full" ? [i] : []));
    expect(fullLayers).toEqual([5, 11, 17, 23]);
  });

  it("gemma3_text: explicit values (Gemma 3 1B-like), softcaps, query_pre_attn_scalar, linear rope on full layers", () => {
    const c = readModelConfig({
      model_type: "gemma3_text", vocab_size: 262144, hidden_size: 1152, num_hidden_layers: 4, num_attention_heads: 4,
      num_key_value_heads: 1, head_dim: 256, query_pre_attn_scalar: 144, sliding_window: 512, sliding_window_pattern: 2,
      rope_local_base_freq: 5000, rope_scaling: { rope_type: "linear", factor: 8 }, final_logit_softcapping: 30,
      attn_logit_softcapping: 50, torch_dtype: "bfloat16",
    });
    expect(c.layerTypes).toEqual(["sliding", "full", "sliding", "full"]);
    expect(c).toMatchObject({ slidingWindow: 512, ropeLocalTheta: 5000, ropeScaling: { type: "linear", factor: 8 }, finalLogitSoftcap: 30, attnLogitSoftcap: 50 });
    expect(c.attentionScale).toBeCloseTo(144 ** -0.5, 15);
    // sqrt(1152) = 33.94..., which bfloat16 holds as 34 (transformers casts embed_scale to the weight dtype).
    expect(c.embeddingScale).toBe(34);
    expect(roundToDtype(Math.sqrt(1152), "F16")).toBe(33.9375);
    expect(roundToDtype(Math.sqrt(1152), "F32")).toBe(Math.fround(Math.sqrt(1152)));
  });

  it("gemma3_text: layer_types wins over the pattern; v5 per-layer-type rope_parameters", () => {
    const c = readModelConfig({
      model_type: "gemma3_text", vocab_size: 8, num_hidden_layers: 3, layer_types: ["full_attention", "sliding_attention", "full_attention"],
      rope_parameters: { full_attention: { rope_type: "linear", factor: 4, rope_theta: 1e6 }, sliding_attention: { rope_type: "default", rope_theta: 1e4 } },
    });
    expect(c.layerTypes).toEqual(["full", "sliding", "full"]);
    expect(c).toMatchObject({ ropeTheta: 1e6, ropeLocalTheta: 1e4, ropeScaling: { type: "linear", factor: 4 } });
  });

  it("the configs random checkpoints write, for every architecture", async () => {
    const { dir, cleanup } = await tempDir("cfg");
    try {
      for (const architecture of ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"] as const) {
        const raw = await makeRandomCheckpoint(`${dir}/${architecture}`, { architecture, numLayers: 6 });
        const c = readModelConfig(raw);
        expect(c.architecture).toBe(architecture);
        expect(c.numLayers).toBe(6);
        expect(c.layerTypes).toEqual(architecture === "gemma3_text" ? ["sliding", "sliding", "sliding", "sliding", "sliding", "full"] : full(6));
      }
    } finally {
      await cleanup();
    }
  });

  it("records auto_map as ignored, never acting on it", () => {
    const warnings: string[] = [];
    readModelConfig({ model_type: "llama", vocab_size: 8, auto_map: { AutoModel: "evil.Model" } }, "config.json", warnings);
    expect(warnings).toEqual(["config.json: auto_map is ignored; code in a model directory is never executed"]);
  });
});

describe("rejects", () => {
  it("an unknown model_type, naming it and listing what is supported", () => {
    fails({ model_type: "gpt2", vocab_size: 8 }, "unsupported", /model_type "gpt2" is not supported \(supported: llama, mistral, qwen2, qwen3, gemma3_text\)/);
    fails({ model_type: "constructor", vocab_size: 8 }, "unsupported", /model_type "constructor" is not supported/);
    fails({ model_type: "gemma3", text_config: {} }, "unsupported", /model_type "gemma3" is not supported \(the multimodal Gemma 3 checkpoint/);
  });

  it("an architectures entry that is not a supported causal-LM class", () => {
    fails({ model_type: "llama", vocab_size: 8, architectures: ["LlamaForSequenceClassification"] }, "unsupported",
      /architecture "LlamaForSequenceClassification" is not supported \(supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Gemma3ForCausalLM\)/);
    fails({ model_type: "llama", vocab_size: 8, architectures: "LlamaForCausalLM" }, "invalid_model", /architectures must be a list of class names/);
  });

  it("missing or malformed required fields", () => {
    fails([], "invalid_model", /config\.json: is not a JSON object/);
    fails({ vocab_size: 8 }, "invalid_model", /config\.json: model_type is missing/);
    fails({ model_type: 3 }, "invalid_model", /model_type must be a string/);
    fails({ model_type: "llama" }, "invalid_model", /config\.json: vocab_size is missing/);
    fails({ model_type: "llama", vocab_size: 0 }, "invalid_model", /vocab_size must be a positive integer, got 0/);
    fails({ model_type: "llama", vocab_size: 8, hidden_size: -64 }, "invalid_model", /hidden_size must be a positive integer, got -64/);
    fails({ model_type: "llama", vocab_size: 8, num_hidden_layers: 1.5 }, "invalid_model", /num_hidden_layers must be a positive integer/);
    fails({ model_type: "llama", vocab_size: 8, rms_norm_eps: -1 }, "invalid_model", /rms_norm_eps must be a finite number > 0/);
    fails({ model_type: "llama", vocab_size: 8, tie_word_embeddings: "yes" }, "invalid_model", /tie_word_embeddings must be true or false/);
    fails({ model_type: "llama", vocab_size: 8, eos_token_id: ["x"] }, "invalid_model", /eos_token_id must be a token id or a list of token ids/);
  });

  it("heads that do not divide", () => {
    fails({ model_type: "llama", vocab_size: 8, num_attention_heads: 4, num_key_value_heads: 3 }, "invalid_model",
      /num_key_value_heads \(3\) must divide num_attention_heads \(4\)/);
    fails({ model_type: "mistral", vocab_size: 8, hidden_size: 100, num_attention_heads: 3, num_key_value_heads: 1 }, "invalid_model",
      /num_attention_heads \(3\) must divide hidden_size \(100\)/);
  });

  it("unsupported activations and rope types, naming them", () => {
    fails({ model_type: "llama", vocab_size: 8, hidden_act: "gelu" }, "unsupported", /hidden_act "gelu" is not supported \(supported: silu\)/);
    fails({ model_type: "gemma3_text", vocab_size: 8, hidden_activation: "relu" }, "unsupported", /hidden_activation "relu" is not supported/);
    fails({ model_type: "qwen3", vocab_size: 8, rope_scaling: { rope_type: "yarn", factor: 4 } }, "unsupported", /rope_type "yarn" is not supported \(supported: default, linear, llama3\)/);
    fails({ model_type: "llama", vocab_size: 8, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4 } }, "invalid_model",
      /rope_scaling\.original_max_position_embeddings must be a finite number > 0 for rope_type "llama3"/);
    fails({ model_type: "llama", vocab_size: 8, rope_scaling: { rope_type: "linear" } }, "invalid_model", /rope_scaling\.factor must be a finite number > 0/);
    fails({ model_type: "llama", vocab_size: 8, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8 } },
      "invalid_model", /high_freq_factor \(1\) must be greater than low_freq_factor \(4\)/);
    fails({ model_type: "llama", vocab_size: 8, rope_scaling: "linear" }, "invalid_model", /rope_scaling must be an object or null/);
    fails({ model_type: "mistral", vocab_size: 8, rope_scaling: { rope_type: "linear", factor: 2 } }, "unsupported",
      /rope scaling together with sliding-window layers is supported for gemma3_text only/);
  });

  it("bad layer_types", () => {
    fails({ model_type: "gemma3_text", vocab_size: 8, num_hidden_layers: 2, layer_types: ["full_attention"] }, "invalid_model", /layer_types must be a list of 2 layer types/);
    fails({ model_type: "gemma3_text", vocab_size: 8, num_hidden_layers: 1, layer_types: ["chunked_attention"] }, "unsupported",
      /layer_types\[0\] "chunked_attention" is not supported/);
    fails({ model_type: "gemma3_text", vocab_size: 8, sliding_window_pattern: 0 }, "invalid_model", /sliding_window_pattern must be a positive integer/);
  });
});
