/**
 * Binds a checkpoint's tensors, by their Hugging Face names, to the roles the forward pass needs for one
 * architecture, checking each shape against the config. Views only: matrices are not copied (see linear.ts).
 * Not the forward pass (transformer.ts) and not file loading (loader/).
 */
import type { ModelConfig, WeightStore } from "../model-config.js";
import { bindAnyLinear, bindLinear, bindVector, type AnyLinearWeight, type LinearWeight } from "./linear.js";

/** One layer's weights; W is the matrix type (float only, or float and block-quantised). */
export interface LayerWeights<W extends AnyLinearWeight = LinearWeight> {
  readonly inputLayernorm: Float32Array; // (C)
  readonly qProj: W; // (H·D, C)
  readonly kProj: W; // (G·D, C)
  readonly vProj: W; // (G·D, C)
  readonly oProj: W; // (C, H·D)
  readonly qNorm: Float32Array | undefined; // (D)
  readonly kNorm: Float32Array | undefined; // (D)
  readonly postAttentionLayernorm: Float32Array; // (C)
  readonly preFeedforwardLayernorm: Float32Array | undefined; // (C)
  readonly postFeedforwardLayernorm: Float32Array | undefined; // (C)
  readonly gateProj: W; // (F, C)
  readonly upProj: W; // (F, C)
  readonly downProj: W; // (C, F)
}

/** The weights of the whole model by role; W as in LayerWeights. */
export interface ModelWeights<W extends AnyLinearWeight = LinearWeight> {
  readonly embedTokens: W; // (V, C)
  readonly layers: readonly LayerWeights<W>[];
  readonly norm: Float32Array; // (C)
  /** lm_head, or embed_tokens when the embeddings are tied. */
  readonly lmHead: W; // (V, C)
}

/** The float weights (F32/F16/BF16 matrices; Q8_0/Q4_0 fail with `unsupported`), e.g. for training. */
export function bindModelWeights(config: ModelConfig, weights: WeightStore): ModelWeights<LinearWeight> {
  return bindWith(config, weights, bindLinear);
}

/** The weights the inference engine runs: matrices in any stored dtype, Q8_0/Q4_0 included. */
export function bindEngineWeights(config: ModelConfig, weights: WeightStore): ModelWeights<AnyLinearWeight> {
  return bindWith<AnyLinearWeight>(config, weights, bindAnyLinear);
}

function bindWith<W extends AnyLinearWeight>(
  config: ModelConfig,
  weights: WeightStore,
  bindLinear: (weights: WeightStore, name: string, O: number, C: number, biasName?: string) => W,
): ModelWeights<W> {
  const C = config.hiddenSize;
  const F = config.intermediateSize;
  const V = config.vocabSize;
  const HD = config.numHeads * config.headDim;
  const GD = config.numKVHeads * config.headDim;
  const D = config.headDim;
  const bias = (p: string, on: boolean) => (on ? `${p}.bias` : undefined);
  const layers: LayerWeights<W>[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const m = `${p}.mlp`;
    layers.push({
      inputLayernorm: bindVector(weights, `${p}.input_layernorm.weight`, C),
      qProj: bindLinear(weights, `${a}.q_proj.weight`, HD, C, bias(`${a}.q_proj`, config.attentionBias)),
      kProj: bindLinear(weights, `${a}.k_proj.weight`, GD, C, bias(`${a}.k_proj`, config.attentionBias)),
      vProj: bindLinear(weights, `${a}.v_proj.weight`, GD, C, bias(`${a}.v_proj`, config.attentionBias)),
      oProj: bindLinear(weights, `${a}.o_proj.weight`, C, HD, bias(`${a}.o_proj`, config.attentionOutBias)),
      qNorm: config.qkNorm ? bindVector(weights, `${a}.q_norm.weight`, D) : undefined,
      kNorm: config.qkNorm ? bindVector(weights, `${a}.k_norm.weight`, D) : undefined,
      postAttentionLayernorm: bindVector(weights, `${p}.post_attention_layernorm.weight`, C),
      preFeedforwardLayernorm: config.sandwichNorms ? bindVector(weights, `${p}.pre_feedforward_layernorm.weight`, C) : undefined,
      postFeedforwardLayernorm: config.sandwichNorms
        ? bindVector(weights, `${p}.post_feedforward_layernorm.weight`, C)
        : undefined,
      gateProj: bindLinear(weights, `${m}.gate_proj.weight`, F, C, bias(`${m}.gate_proj`, config.mlpBias)),
      upProj: bindLinear(weights, `${m}.up_proj.weight`, F, C, bias(`${m}.up_proj`, config.mlpBias)),
      downProj: bindLinear(weights, `${m}.down_proj.weight`, C, F, bias(`${m}.down_proj`, config.mlpBias)),
    });
  }
  const embedTokens = bindLinear(weights, "model.embed_tokens.weight", V, C);
  // Some tied checkpoints still ship lm_head.weight (a duplicate); reading embed_tokens is what HF's tying means.
  const lmHead = config.tieWordEmbeddings ? embedTokens : bindLinear(weights, "lm_head.weight", V, C);
  return { embedTokens, layers, norm: bindVector(weights, "model.norm.weight", C), lmHead };
}
