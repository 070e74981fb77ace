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
export { makeRandomCheckpoint } from "./checkpoint/random-checkpoint.js";
export type { RandomCheckpointSpec } from "./checkpoint/random-checkpoint.js";
export { byteLevelTokenizer } from "./checkpoint/byte-level-tokenizer.js";
export { writeSafetensors } from "./loader/safetensors-writer.js";
export type { TensorToWrite } from "./loader/safetensors-writer.js";
export type { ModelConfig, Architecture, Tensor, WeightStore, DType } from "./model-config.js";

/** The backend instance this module registered. */
export const cpuBackend = new CpuBackend();
register(cpuBackend);
