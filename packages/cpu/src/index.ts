/**
 * @dappcore/inference-cpu: the `cpu` backend. Importing this module registers it with the contract's registry.
 *
 * @example
 * import "@dappcore/inference-cpu";
 * import { loadModel } from "@dappcore/inference";
 * const r = await loadModel("./my-model");
 */
import { register } from "@dappcore/inference";
import { CpuBackend } from "./backend.js";

export { CpuBackend } from "./backend.js";
export { CpuTextModel } from "./model/cpu-text-model.js";
export type { ActiveAdapterInfo } from "./model/adapter-loading.js";
export { CpuTrainableModel } from "./training/cpu-trainable-model.js";
export type { SaveWeightsOptions } from "./training/cpu-trainable-model.js";
export { withTraining } from "./training/cpu-trainable-options.js";
export type { TrainableLoadOptions } from "./training/cpu-trainable-options.js";
export type { EngineAdapter, EngineLoraModule } from "./engine/lora-slots.js";
export { makeRandomCheckpoint } from "./checkpoint/random-checkpoint.js";
export type { RandomCheckpointSpec } from "./checkpoint/random-checkpoint.js";
export { byteLevelTokenizer } from "./checkpoint/byte-level-tokenizer.js";
export { writeSafetensors } from "./loader/safetensors-writer.js";
export type { TensorToWrite } from "./loader/safetensors-writer.js";
export type { ModelConfig, Architecture, Tensor, WeightStore, DType } from "./model-config.js";
export { convertCheckpointToGGUF } from "./convert-to-gguf.js";
export { loadModelDir } from "./loader/model-dir.js";
export type { LoadedCheckpoint } from "./loader/model-dir.js";
export { openSafetensors } from "./loader/safetensors-reader.js";
export type { SafetensorsFile } from "./loader/safetensors-reader.js";
export { loadTokenizer } from "./text/tokenizer.js";
export type { Tokenizer, StreamDecoder } from "./text/tokenizer.js";
export { Transformer } from "./engine/transformer.js";
export { withKernels, withKVCacheType, withQuantization, withThreads } from "./engine/engine-options.js";
export type { KVCacheType } from "./engine/kv-cache.js";
export type { KVCache } from "./engine/kv-cache.js";
export { evaluateLoss, runTraining } from "./training/trainer.js";
export type {
  EvalResult,
  TrainerModel,
  TrainingData,
  TrainingHooks,
  TrainingOptions,
  TrainingProgress,
  TrainingScheduleSpec,
  TrainingSplit,
  TrainingSummary,
} from "./training/trainer-options.js";
export { loadJsonlDataset } from "./training/dataset.js";
export type { DatasetOptions, PreparedDataset, PreparedSplit } from "./training/dataset.js";

/** The backend instance this module registered. */
export const cpuBackend = new CpuBackend();
register(cpuBackend);
