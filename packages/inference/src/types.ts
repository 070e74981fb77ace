/**
 * The data types and interfaces of the contract: what a token, a message, a model and a backend are. Nothing here
 * runs; the registry, options and capabilities live in their own files.
 */
import type { Result } from "./result.js";
import type { Capability } from "./capabilities.js";
import type { GenerateOption, LoadOption } from "./options.js";

/** One generated token. `logits` is set only when `withLogits()` is on: the raw logits (vocabulary-sized). */
export interface Token {
  readonly id: number;
  readonly text: string;
  readonly logits?: Float32Array;
}

export type Role = "system" | "user" | "assistant";

/** One chat turn. `content` is always literal text: it never becomes special tokens. */
export interface Message {
  readonly role: Role | (string & {});
  readonly content: string;
}

/** The outcome of `classify` for one prompt: the token sampled at the last position (and its logits on request). */
export interface ClassifyResult {
  readonly token: Token;
  readonly logits?: Float32Array;
}

/** The outcome of `batchGenerate` for one prompt. A failure of one prompt does not fail the batch. */
export type BatchResult =
  | { readonly tokens: readonly Token[]; readonly error?: undefined }
  | { readonly tokens: readonly Token[]; readonly error: import("./errors.js").InferenceError };

/**
 * Measurements of the last completed operation (generate, chat, classify or batchGenerate). Durations are in
 * milliseconds; memory in bytes, 0 where the backend cannot measure it.
 */
export interface GenerateMetrics {
  readonly promptTokens: number;
  readonly generatedTokens: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly totalMs: number;
  readonly timeToFirstTokenMs: number;
  readonly prefillTokensPerSec: number;
  readonly decodeTokensPerSec: number;
  readonly peakMemoryBytes: number;
  readonly activeMemoryBytes: number;
}

/** Static facts about a loaded model. `quantBits` 0 means unquantised; `quantGroup` 0 means no groups. */
export interface ModelInfo {
  readonly architecture: string;
  readonly vocabSize: number;
  readonly numLayers: number;
  readonly hiddenSize: number;
  readonly contextLength: number;
  readonly quantBits: number;
  readonly quantGroup: number;
}

/**
 * A loaded text-generation model. Streams (`generate`, `chat`) end by throwing a typed `InferenceError` on failure,
 * and the same error is recorded for `err()`. Breaking out of a stream cancels it.
 */
export interface TextModel extends AsyncDisposable {
  generate(prompt: string, ...opts: GenerateOption[]): AsyncIterable<Token>;
  chat(messages: readonly Message[], ...opts: GenerateOption[]): AsyncIterable<Token>;
  /** Prefill only: one forward pass per prompt, the token at the last position. One result per prompt. */
  classify(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<ClassifyResult[]>>;
  /** One result per prompt, in order; per-prompt failures are in each result's `error`. */
  batchGenerate(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<BatchResult[]>>;
  /** config.json's `model_type`, e.g. `qwen3`. */
  modelType(): string;
  info(): ModelInfo;
  /** Metrics of the last completed operation. */
  metrics(): GenerateMetrics;
  /** The error of the last stream; ok when it ended cleanly (EOS, maxTokens, stop). */
  err(): Result<void>;
  /** Frees the model. Idempotent; every later call fails with `closed`. */
  close(): Promise<Result<void>>;
  /** Capabilities of this loaded model, when the backend reports them per model. */
  capabilities?(): readonly Capability[];
}

/** A backend: the thing that turns a model path into a `TextModel`. Registered at import time. */
export interface Backend {
  readonly name: string;
  /** The runtime gate: false when the hardware or runtime this backend needs is missing. */
  available(): boolean;
  loadModel(path: string, ...opts: LoadOption[]): Promise<Result<TextModel>>;
  /** What this backend can do. */
  capabilities(): readonly Capability[];
  /** Present on backends that train; the others answer `loadTrainable` with `unsupported`. */
  loadTrainable?(path: string, ...opts: LoadOption[]): Promise<Result<TrainableModel>>;
}

/** LoRA settings. Defaults (`defaultLoRAConfig()`): rank 8, alpha 16, targets q_proj and v_proj, no dropout. */
export interface LoRAConfig {
  readonly rank: number;
  readonly alpha: number;
  readonly dropout?: number;
  readonly targetKeys: readonly string[];
}

/** A LoRA adapter attached to a trainable model. */
export interface Adapter {
  totalParams(): number;
  /** Writes `adapter_config.json` and `adapter_model.safetensors` (PEFT layout) into `dir`. */
  save(dir: string): Promise<Result<void>>;
}

/** A batch for the training surface: token ids per sequence, and optionally a loss mask (1 = counts). */
export interface TrainingBatch {
  readonly tokens: readonly (readonly number[])[];
  readonly lossMask?: readonly (readonly number[])[];
}

/** A loss value produced by `loss(batch)`, to hand to `backward`. */
export interface Loss {
  readonly value: number;
  readonly tokens: number;
}

/** A model that trains: the whole generation surface plus LoRA and the optimiser steps. */
export interface TrainableModel extends TextModel {
  applyLoRA(config?: Partial<LoRAConfig>): Result<Adapter>;
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  numLayers(): number;
  loss(batch: TrainingBatch): Promise<Result<Loss>>;
  backward(loss: Loss): Promise<Result<void>>;
  step(): Promise<Result<void>>;
  zeroGrad(): void;
}
