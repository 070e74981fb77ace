/**
 * The normalised description of a checkpoint that the engine runs: one shape for every supported architecture,
 * produced from config.json by `loader/config.ts` and consumed by `engine/`. Not a parser: no file access here.
 */

export type Architecture = "llama" | "mistral" | "qwen2" | "qwen3" | "gemma3_text";

export type RopeScaling =
  | { readonly type: "none" }
  | { readonly type: "linear"; readonly factor: number }
  | {
      readonly type: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositionEmbeddings: number;
    };

export type Activation = "silu" | "gelu_pytorch_tanh";

export interface ModelConfig {
  /** config.json `model_type` as the checkpoint spells it (e.g. "gemma3_text"). */
  readonly modelType: string;
  readonly architecture: Architecture;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKVHeads: number;
  readonly headDim: number;
  readonly rmsNormEps: number;
  /** Context length the checkpoint was trained for (max_position_embeddings). */
  readonly maxPositionEmbeddings: number;
  readonly tieWordEmbeddings: boolean;
  readonly activation: Activation;
  /** Rope base for full-attention layers. */
  readonly ropeTheta: number;
  readonly ropeScaling: RopeScaling;
  /** q/k/v projections carry biases (qwen2). */
  readonly attentionBias: boolean;
  /** o_proj carries a bias. */
  readonly attentionOutBias: boolean;
  /** MLP projections carry biases. */
  readonly mlpBias: boolean;
  /** Per-head RMSNorm on q and k before rope (qwen3, gemma3). */
  readonly qkNorm: boolean;
  /** RMSNorm multiplies by (1 + w) instead of w (gemma3). */
  readonly normPlusOne: boolean;
  /** Embeddings are multiplied by this (gemma3: sqrt(hidden_size), rounded to the weight dtype as HF does); 1 elsewhere. */
  readonly embeddingScale: number;
  /** Post-attention and pre/post-feedforward norms around each sublayer (gemma3). */
  readonly sandwichNorms: boolean;
  /** Attention scores are multiplied by this (1/sqrt(head_dim), or gemma3's query_pre_attn_scalar^-0.5). */
  readonly attentionScale: number;
  /** Per layer: "sliding" layers attend to the last `slidingWindow` positions only and use `ropeLocalTheta`. */
  readonly layerTypes: readonly ("full" | "sliding")[];
  readonly slidingWindow: number;
  /** Rope base for sliding layers (gemma3 rope_local_base_freq); equals ropeTheta elsewhere. */
  readonly ropeLocalTheta: number;
  /** tanh soft-capping of final logits; 0 = none. */
  readonly finalLogitSoftcap: number;
  /** tanh soft-capping of attention scores; 0 = none. */
  readonly attnLogitSoftcap: number;
  readonly bosTokenId: number | undefined;
  readonly eosTokenIds: readonly number[];
  /** Weight dtype named by config.json (`torch_dtype`/`dtype`), informational. */
  readonly torchDtype: string;
}

/**
 * Storage types of weights. F32/F16/BF16 come from safetensors; Q8_0 and Q4_0 are llama.cpp's block layouts (32
 * weights per block with an f16 scale: 34 and 18 bytes a block), made at load time or read from GGUF files.
 */
export type DType = "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0";

/**
 * One weight tensor, held once. `data` views exactly the tensor's bytes, aligned for its element type:
 * F32 data can be viewed as Float32Array, F16/BF16 as Uint16Array (raw bits); Q8_0/Q4_0 data is blocks along the last
 * dimension of `shape`, which is the logical (unquantised) shape.
 */
export interface Tensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** The weights of a checkpoint by their checkpoint names (`model.layers.0.self_attn.q_proj.weight`). */
export interface WeightStore {
  has(name: string): boolean;
  /** Throws `InferenceError` (`invalid_model`) naming the tensor when absent. */
  get(name: string): Tensor;
  names(): string[];
  /** Total bytes held. */
  readonly byteLength: number;
}
