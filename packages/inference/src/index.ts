/**
 * `@dappcore/inference`: the contract every text-generation backend implements (types, Result, errors, options,
 * registry, capabilities, probe bus and sinks, the Core service). Zero runtime dependencies and no `node:` imports
 * anywhere in this entry's graph; Node-only helpers (`discover`) are in `@dappcore/inference/node`.
 */
export {
  InferenceError,
  inferenceError,
  isInferenceError,
  operation,
  rootCause,
  toInferenceError,
  wrapError,
} from "./errors.js";
export type { ErrorCode, InferenceErrorInit } from "./errors.js";

export { fail, ok, resultOf, unwrap } from "./result.js";
export type { Result } from "./result.js";

export type {
  Adapter,
  Backend,
  BatchResult,
  ClassifyResult,
  GenerateMetrics,
  Loss,
  LoRAConfig,
  Message,
  ModelInfo,
  Role,
  TextModel,
  Token,
  TrainableModel,
  TrainingBatch,
} from "./types.js";

export {
  applyGenerateOpts,
  applyLoadOpts,
  defaultGenerateConfig,
  withAdapterPath,
  withBackend,
  withContextLen,
  withGPULayers,
  withLogits,
  withMaxTokens,
  withMinP,
  withParallelSlots,
  withProbeBus,
  withProgress,
  withRepeatPenalty,
  withSeed,
  withSignal,
  withStop,
  withStopTokens,
  withTemperature,
  withTopK,
  withTopP,
} from "./options.js";
export type {
  GenerateConfig,
  GenerateOption,
  GenerateOptionFn,
  GenerateOptions,
  LoadConfig,
  LoadOption,
  LoadOptionFn,
  LoadOptions,
  LoadProgress,
} from "./options.js";

export {
  baseModelCapabilities,
  capabilitiesOf,
  capabilityIds,
  CapabilityId,
  experimentalCapability,
  findCapability,
  isUsable,
  plannedCapability,
  supportedCapability,
  supportedCapabilityIds,
  supports,
  unsupportedCapability,
} from "./capabilities.js";
export type {
  Capability,
  CapabilityGroup,
  CapabilityIdValue,
  CapabilityReport,
  CapabilityStatus,
} from "./capabilities.js";

export { isProbeSink, newProbeBus, ProbeBus, probeSinkFunc } from "./probe.js";
export type {
  ProbeCachePressure,
  ProbeCachePressureEvent,
  ProbeEntropy,
  ProbeEntropyEvent,
  ProbeEvent,
  ProbeEventBase,
  ProbeEventKind,
  ProbeLogit,
  ProbeLogits,
  ProbeLogitsEvent,
  ProbeMemoryPressure,
  ProbeMemoryPressureEvent,
  ProbePhase,
  ProbeScheduler,
  ProbeSchedulerEvent,
  ProbeSchedulerEventName,
  ProbeSink,
  ProbeSinkErrorHandler,
  ProbeToken,
  ProbeTokenEvent,
  ProbeTraining,
  ProbeTrainingEvent,
} from "./probe.js";

export { newLogitSink } from "./sinks/logit-sink.js";
export type { LogitCallback } from "./sinks/logit-sink.js";
export { newTelemetrySink, TELEMETRY_MESSAGE_TYPE } from "./sinks/telemetry-sink.js";
export type {
  GenerationOutcome,
  GenerationTelemetry,
  TelemetryMessage,
  TelemetrySink,
  TelemetrySinkOptions,
  TelemetrySnapshot,
  TelemetryTarget,
} from "./sinks/telemetry-sink.js";

export {
  all,
  backendCaps,
  defaultBackend,
  get,
  list,
  loadModel,
  loadTrainable,
  PREFERRED_BACKEND_ORDER,
  register,
  resetRegistry,
  unregister,
} from "./registry.js";

export { defaultLoRAConfig, isTextModel, isTrainableModel } from "./trainable.js";
export { findInChain, MAX_UNWRAP_DEPTH, unwrapChain } from "./wrapped-model.js";
export type { Unwrappable } from "./wrapped-model.js";

export { Core } from "./core/core.js";
export type { Action, ActionHandler, ActionOptions, MessageHandler } from "./core/core.js";
export { InferenceService, newService, registerCore, SERVICE_ACTIONS, SERVICE_NAME } from "./service.js";
export type {
  ActionRequest,
  BackendSummary,
  GenerationOutput,
  LoadedModel,
  ServiceOptions,
} from "./service.js";
