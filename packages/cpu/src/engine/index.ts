/**
 * The engine's public names: the Transformer forward pass and its per-sequence KV cache. Kernels are reached
 * through kernels/reference/index.ts by the engine and its tests, not re-exported here.
 */
export { Transformer, type TransformerOptions, type ForwardOptions } from "./transformer.js";
export { KVCache } from "./kv-cache.js";
export { ropeInverseFrequencies } from "./rope-frequencies.js";
export { bindModelWeights, type ModelWeights, type LayerWeights } from "./model-weights.js";
export { bindLinear, bindVector, linear, embed, type LinearWeight } from "./linear.js";
