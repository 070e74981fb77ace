/**
 * Generate and load options. Both the seed's functional options (`withMaxTokens(256)`) and plain objects
 * (`{ temperature: 0.7 }`) are accepted, and may be mixed; they apply in order and the last write wins. Options the
 * caller did not set stay distinguishable (`config.explicit`), so a backend can fill them from the checkpoint's
 * generation_config. Out-of-range values fail with `invalid_argument` naming the option when applied.
 */
import { InferenceError } from "./errors.js";
import type { ProbeBus } from "./probe.js";

/** What a caller can set for one generation. Every field is optional; see each `with*` for its default. */
export interface GenerateOptions {
  /** Cap on generated tokens. Default: until EOS or the context is full. */
  maxTokens?: number;
  /** Sampling temperature; 0 = greedy (the default). */
  temperature?: number;
  /** Keep only the K most likely tokens; 0 = off (the default). */
  topK?: number;
  /** Nucleus sampling threshold in (0, 1]; 0 or 1 = off (the default). */
  topP?: number;
  /** Drop tokens below minP times the top probability; 0 = off (the default). */
  minP?: number;
  /** Seed for the sampler; the same seed and inputs give the same tokens. Default: random. */
  seed?: number;
  /** Halt when one of these token ids is generated (it is not emitted). Default: the model's EOS ids only. */
  stopTokens?: readonly number[];
  /** Halt when the output contains one of these strings (it is not emitted). Default: none. */
  stop?: readonly string[];
  /** Penalise tokens already in the context (Hugging Face semantics); 1 = none (the default). */
  repeatPenalty?: number;
  /** Attach the raw logits to every token. Default: off. */
  logits?: boolean;
  /** Abort the request; the stream ends with an `aborted` error within one token. */
  signal?: AbortSignal;
}

/** A functional option: mutates the draft it is given. */
export type GenerateOptionFn = (draft: GenerateOptions) => void;
/** What `generate`, `chat`, `classify` and `batchGenerate` accept: functions, objects, or nothing. */
export type GenerateOption = GenerateOptionFn | GenerateOptions | null | undefined;

/** Options resolved with defaults. `explicit` names the options the caller set. */
export interface GenerateConfig {
  /** 0 = until EOS or the context is full. */
  readonly maxTokens: number;
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly seed: number | undefined;
  readonly stopTokens: readonly number[];
  readonly stop: readonly string[];
  readonly repeatPenalty: number;
  readonly logits: boolean;
  readonly signal: AbortSignal | undefined;
  readonly explicit: ReadonlySet<keyof GenerateOptions>;
}

/** How loading went, for progress bars: bytes read of the total. */
export interface LoadProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
  /** The file being read. */
  readonly file: string;
}

/** What a caller can set when loading a model. Backends may accept more keys of their own. */
export interface LoadOptions {
  /** Pin a backend by name instead of the automatic choice. */
  backend?: string;
  /** KV-cache length in tokens; 0 = the model's own context length (the default). */
  contextLen?: number;
  /** Layers placed on the GPU; -1 = all (the default), 0 = none. */
  gpuLayers?: number;
  /** Concurrent generation slots; 0 = the backend's default (1). */
  parallelSlots?: number;
  /** A LoRA adapter directory (PEFT layout) layered over the base weights. */
  adapterPath?: string;
  /** Probe events of every generation go to this bus. */
  probeBus?: ProbeBus;
  /** Called while weights are read. */
  onProgress?: (progress: LoadProgress) => void;
  /** Abort a load in progress. */
  signal?: AbortSignal;
  [backendSpecific: string]: unknown;
}

export type LoadOptionFn = (draft: LoadOptions) => void;
export type LoadOption = LoadOptionFn | LoadOptions | null | undefined;

/** Load options resolved with defaults; `explicit` names those the caller set. */
export interface LoadConfig extends Readonly<LoadOptions> {
  readonly backend: string;
  readonly contextLen: number;
  readonly gpuLayers: number;
  readonly parallelSlots: number;
  readonly adapterPath: string;
  readonly explicit: ReadonlySet<string>;
}

/** The defaults of every generate option (Go's `DefaultGenerateConfig` at HEAD: greedy, no penalty, no cap). */
export function defaultGenerateConfig(): GenerateConfig {
  return {
    maxTokens: 0,
    temperature: 0,
    topK: 0,
    topP: 0,
    minP: 0,
    seed: undefined,
    stopTokens: [],
    stop: [],
    repeatPenalty: 1,
    logits: false,
    signal: undefined,
    explicit: new Set(),
  };
}

/**
 * Applies options in order over the defaults. Throws `InferenceError` (`invalid_argument`, naming the option) for an
 * out-of-range value; backends call it at the start of each operation and report that error through the stream or
 * the Result.
 */
export function applyGenerateOpts(opts: readonly GenerateOption[]): GenerateConfig {
  const draft: GenerateOptions = {};
  for (const opt of opts) {
    if (opt === null || opt === undefined) continue;
    if (typeof opt === "function") opt(draft);
    else if (typeof opt === "object") Object.assign(draft, opt);
    else throw invalid("generate", `an option must be a function or an object, got ${typeof opt}`);
  }
  const explicit = new Set<keyof GenerateOptions>();
  for (const key of Object.keys(draft) as (keyof GenerateOptions)[]) {
    if (draft[key] !== undefined) explicit.add(key);
  }
  const d = defaultGenerateConfig();
  const config: GenerateConfig = {
    maxTokens: draft.maxTokens ?? d.maxTokens,
    temperature: draft.temperature ?? d.temperature,
    topK: draft.topK ?? d.topK,
    topP: draft.topP ?? d.topP,
    minP: draft.minP ?? d.minP,
    seed: draft.seed ?? d.seed,
    stopTokens: draft.stopTokens ? [...draft.stopTokens] : d.stopTokens,
    stop: draft.stop ? [...draft.stop] : d.stop,
    repeatPenalty: draft.repeatPenalty ?? d.repeatPenalty,
    logits: draft.logits ?? d.logits,
    signal: draft.signal ?? d.signal,
    explicit,
  };
  validateGenerateConfig(config);
  return config;
}

/** Applies load options in order over the defaults (`gpuLayers` -1, everything else unset). */
export function applyLoadOpts(opts: readonly LoadOption[]): LoadConfig {
  const draft: LoadOptions = {};
  for (const opt of opts) {
    if (opt === null || opt === undefined) continue;
    if (typeof opt === "function") opt(draft);
    else if (typeof opt === "object") Object.assign(draft, opt);
    else throw invalid("load", `an option must be a function or an object, got ${typeof opt}`);
  }
  const explicit = new Set<string>(Object.keys(draft).filter((k) => draft[k] !== undefined));
  const config: LoadConfig = {
    ...draft,
    backend: draft.backend ?? "",
    contextLen: draft.contextLen ?? 0,
    gpuLayers: draft.gpuLayers ?? -1,
    parallelSlots: draft.parallelSlots ?? 0,
    adapterPath: draft.adapterPath ?? "",
    explicit,
  };
  validateLoadConfig(config);
  return config;
}

function validateGenerateConfig(c: GenerateConfig): void {
  nonNegativeInt("withMaxTokens", "maxTokens", c.maxTokens);
  finiteInRange("withTemperature", "temperature", c.temperature, 0, Number.POSITIVE_INFINITY);
  nonNegativeInt("withTopK", "topK", c.topK);
  finiteInRange("withTopP", "topP", c.topP, 0, 1);
  finiteInRange("withMinP", "minP", c.minP, 0, 1);
  if (c.seed !== undefined && !(Number.isSafeInteger(c.seed) && c.seed >= 0)) {
    throw invalid("withSeed", `seed must be a non-negative safe integer, got ${c.seed}`);
  }
  for (const id of c.stopTokens) {
    if (!Number.isInteger(id) || id < 0) throw invalid("withStopTokens", `stop token ids must be non-negative integers, got ${id}`);
  }
  for (const s of c.stop) {
    if (typeof s !== "string" || s.length === 0) throw invalid("withStop", "stop strings must be non-empty strings");
  }
  if (!(Number.isFinite(c.repeatPenalty) && c.repeatPenalty > 0)) {
    throw invalid("withRepeatPenalty", `repeatPenalty must be a finite number > 0, got ${c.repeatPenalty}`);
  }
  if (typeof c.logits !== "boolean") throw invalid("withLogits", `logits must be a boolean, got ${typeof c.logits}`);
  if (c.signal !== undefined && !isAbortSignal(c.signal)) throw invalid("withSignal", "signal must be an AbortSignal");
}

function validateLoadConfig(c: LoadConfig): void {
  if (typeof c.backend !== "string") throw invalid("withBackend", `backend must be a string, got ${typeof c.backend}`);
  nonNegativeInt("withContextLen", "contextLen", c.contextLen);
  if (!Number.isInteger(c.gpuLayers) || c.gpuLayers < -1) {
    throw invalid("withGPULayers", `gpuLayers must be an integer >= -1, got ${c.gpuLayers}`);
  }
  nonNegativeInt("withParallelSlots", "parallelSlots", c.parallelSlots);
  if (typeof c.adapterPath !== "string") throw invalid("withAdapterPath", "adapterPath must be a string");
  if (c.onProgress !== undefined && typeof c.onProgress !== "function") {
    throw invalid("load", "onProgress must be a function");
  }
  if (c.signal !== undefined && !isAbortSignal(c.signal)) throw invalid("load", "signal must be an AbortSignal");
}

function nonNegativeInt(option: string, field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalid(option, `${field} must be a non-negative integer, got ${value}`);
  }
}

function finiteInRange(option: string, field: string, value: number, lo: number, hi: number): void {
  if (typeof value !== "number" || Number.isNaN(value) || value < lo || value > hi || value === Number.POSITIVE_INFINITY) {
    const range = hi === Number.POSITIVE_INFINITY ? `>= ${lo}` : `in [${lo}, ${hi}]`;
    throw invalid(option, `${field} must be a finite number ${range}, got ${value}`);
  }
}

function isAbortSignal(value: unknown): value is AbortSignal {
  return typeof value === "object" && value !== null && typeof (value as AbortSignal).aborted === "boolean" &&
    typeof (value as AbortSignal).addEventListener === "function";
}

function invalid(option: string, message: string): InferenceError {
  return new InferenceError({ code: "invalid_argument", op: `inference.${option}`, message, details: { option } });
}

// Functional options, in the seed's names.

/** Cap output length. Default: until EOS or the context is full. `withMaxTokens(256)` */
export const withMaxTokens = (n: number): GenerateOptionFn => (d) => void (d.maxTokens = n);
/** Sampling temperature; 0 = greedy (default). `withTemperature(0.7)` */
export const withTemperature = (t: number): GenerateOptionFn => (d) => void (d.temperature = t);
/** Keep the K most likely tokens; 0 = off (default). `withTopK(40)` */
export const withTopK = (k: number): GenerateOptionFn => (d) => void (d.topK = k);
/** Nucleus threshold; 0 = off (default). `withTopP(0.9)` */
export const withTopP = (p: number): GenerateOptionFn => (d) => void (d.topP = p);
/** Min-p threshold relative to the top token; 0 = off (default). `withMinP(0.05)` */
export const withMinP = (p: number): GenerateOptionFn => (d) => void (d.minP = p);
/** Sampler seed; default random. `withSeed(42)` */
export const withSeed = (seed: number): GenerateOptionFn => (d) => void (d.seed = seed);
/** Halt on any of these token ids (copied; a later call replaces the list). Default: EOS only. `withStopTokens(2, 7)` */
export const withStopTokens = (...ids: number[]): GenerateOptionFn => {
  const copy = [...ids];
  return (d) => void (d.stopTokens = [...copy]);
};
/** Halt when the output contains one of these strings. Default: none. `withStop("\n\n")` */
export const withStop = (...strings: string[]): GenerateOptionFn => {
  const copy = [...strings];
  return (d) => void (d.stop = [...copy]);
};
/** Penalise repeated tokens; 1 = none (default). `withRepeatPenalty(1.1)` */
export const withRepeatPenalty = (p: number): GenerateOptionFn => (d) => void (d.repeatPenalty = p);
/** Attach raw logits to each token. Default off. `withLogits()` */
export const withLogits = (on = true): GenerateOptionFn => (d) => void (d.logits = on);
/** Abort through a signal. `withSignal(AbortSignal.timeout(5000))` */
export const withSignal = (signal: AbortSignal): GenerateOptionFn => (d) => void (d.signal = signal);

/** Pin a backend instead of the automatic choice. `withBackend("cpu")` */
export const withBackend = (name: string): LoadOptionFn => (d) => void (d.backend = name);
/** KV-cache length; 0 = the model's context length (default). `withContextLen(4096)` */
export const withContextLen = (n: number): LoadOptionFn => (d) => void (d.contextLen = n);
/** Layers on the GPU; -1 = all (default). `withGPULayers(0)` */
export const withGPULayers = (n: number): LoadOptionFn => (d) => void (d.gpuLayers = n);
/** Concurrent generation slots; 0 = backend default. `withParallelSlots(4)` */
export const withParallelSlots = (n: number): LoadOptionFn => (d) => void (d.parallelSlots = n);
/** Layer a LoRA adapter (PEFT directory) over the base model. `withAdapterPath("lora/")` */
export const withAdapterPath = (path: string): LoadOptionFn => (d) => void (d.adapterPath = path);
/** Send probe events of every generation to this bus. `withProbeBus(newProbeBus(sink))` */
export const withProbeBus = (bus: ProbeBus): LoadOptionFn => (d) => void (d.probeBus = bus);
/** Progress callback for weight loading. `withProgress(p => bar.update(p.loadedBytes / p.totalBytes))` */
export const withProgress = (fn: (p: LoadProgress) => void): LoadOptionFn => (d) => void (d.onProgress = fn);
