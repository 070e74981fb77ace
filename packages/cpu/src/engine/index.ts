/**
 * The engine's public names: the Transformer forward pass and its per-sequence KV cache, the WebAssembly runtime it
 * runs on, load-time quantisation and the backend's engine options. Kernels are reached through
 * kernels/reference/index.ts and kernels/wasm/index.ts by the engine and its tests, not re-exported here.
 */
export { Transformer, type TransformerOptions, type ForwardOptions } from "./transformer.js";
export { KVCache, KV_CACHE_TYPES, kvCacheBytes, type KVCacheType } from "./kv-cache.js";
export { loraModuleShapes, type EngineAdapter, type EngineLoraModule } from "./lora-slots.js";
export { ropeInverseFrequencies } from "./rope-frequencies.js";
export { bindModelWeights, bindEngineWeights, type ModelWeights, type LayerWeights } from "./model-weights.js";
export {
  bindLinear,
  bindAnyLinear,
  bindVector,
  isQuantWeight,
  linear,
  embed,
  type LinearWeight,
  type QuantLinearWeight,
  type AnyLinearWeight,
} from "./linear.js";
export type { KernelSet, F32Buf, I32Buf, ForwardKernels, RopeTables } from "./forward-kernels.js";
export { WasmRuntime, wasmKernelsSupported, type WasmRuntimeOptions } from "./wasm-runtime.js";
export { loadEngineCheckpoint, type EngineCheckpointOptions } from "./arena-checkpoint.js";
export { QUANTIZATIONS, quantBits, quantizedDType, quantizeInPlace, type Quantization, type QuantDType } from "./quantization.js";
export { withKernels, withKVCacheType, withQuantization, withThreads, readEngineOptions, type CpuEngineOptions } from "./engine-options.js";
export { engineMemory, checkFits, type EngineMemory, type EngineMemoryOptions } from "./memory-plan.js";
