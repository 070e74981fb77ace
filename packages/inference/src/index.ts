// Provisional entry written by the lead so other packages can import the finished parts; H1 replaces it.
export { InferenceError, isInferenceError, inferenceError, wrapError, toInferenceError, operation, rootCause } from "./errors.js";
export type { ErrorCode, InferenceErrorInit } from "./errors.js";
export { ok, fail, resultOf, unwrap } from "./result.js";
export type { Result } from "./result.js";
export {
  applyGenerateOpts, applyLoadOpts, defaultGenerateConfig, withMaxTokens, withTemperature, withTopK, withTopP, withMinP,
  withSeed, withStopTokens, withStop, withRepeatPenalty, withLogits, withSignal, withBackend, withContextLen,
  withGPULayers, withParallelSlots, withAdapterPath, withProbeBus, withProgress,
} from "./options.js";
export type * from "./options.js";
export type * from "./types.js";
