/**
 * The tensors a `ModelConfig` needs, by checkpoint name and shape, in the Hugging Face layout of each supported
 * architecture. Used to check a checkpoint before its data is read; it is not a loader and holds no weights.
 */
import type { ModelConfig } from "../model-config.js";

export interface ExpectedTensor {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Every tensor `config` needs (lm_head.weight only when the embeddings are not tied). */
export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  const H = config.hiddenSize;
  const I = config.intermediateSize;
  const V = config.vocabSize;
  const D = config.headDim;
  const q = config.numHeads * D;
  const kv = config.numKVHeads * D;
  const out: ExpectedTensor[] = [{ name: "model.embed_tokens.weight", shape: [V, H] }];
  const add = (name: string, shape: number[]) => out.push({ name, shape });
  for (let l = 0; l < config.numLayers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H]);
    add(`${p}.self_attn.q_proj.weight`, [q, H]);
    add(`${p}.self_attn.k_proj.weight`, [kv, H]);
    add(`${p}.self_attn.v_proj.weight`, [kv, H]);
    add(`${p}.self_attn.o_proj.weight`, [H, q]);
    if (config.attentionBias) {
      add(`${p}.self_attn.q_proj.bias`, [q]);
      add(`${p}.self_attn.k_proj.bias`, [kv]);
      add(`${p}.self_attn.v_proj.bias`, [kv]);
    }
    if (config.attentionOutBias) add(`${p}.self_attn.o_proj.bias`, [H]);
    if (config.qkNorm) {
      add(`${p}.self_attn.q_norm.weight`, [D]);
      add(`${p}.self_attn.k_norm.weight`, [D]);
    }
    add(`${p}.post_attention_layernorm.weight`, [H]);
    if (config.sandwichNorms) {
      add(`${p}.pre_feedforward_layernorm.weight`, [H]);
      add(`${p}.post_feedforward_layernorm.weight`, [H]);
    }
    add(`${p}.mlp.gate_proj.weight`, [I, H]);
    add(`${p}.mlp.up_proj.weight`, [I, H]);
    add(`${p}.mlp.down_proj.weight`, [H, I]);
    if (config.mlpBias) {
      add(`${p}.mlp.gate_proj.bias`, [I]);
      add(`${p}.mlp.up_proj.bias`, [I]);
      add(`${p}.mlp.down_proj.bias`, [H]);
    }
  }
  add("model.norm.weight", [H]);
  if (!config.tieWordEmbeddings) add("lm_head.weight", [V, H]);
  return out;
}
