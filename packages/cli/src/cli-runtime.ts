/**
 * What the commands need from the library, as one object: loading, the backend list, conversion, and where the
 * bundled default model lives. `default-runtime.ts` wires it to the real registry and the cpu package; tests may
 * hand in their own. This file is not an abstraction over backends: it only names the calls the command makes.
 */
import type { Capability, LoadOption, Result, TextModel } from "@dappcore/inference";

/** One registered backend as `inference backends` shows it. */
export interface BackendEntry {
  readonly name: string;
  readonly available: boolean;
  readonly capabilities: readonly Capability[];
}

/** The GGUF storage types `inference convert --type` accepts. */
export const convertTypes = ["f32", "f16", "bf16", "q8_0"] as const;
export type ConvertType = (typeof convertTypes)[number];

/** Conversion progress: `done` of `total` units (tensors or bytes, as the converter counts them). */
export interface ConvertProgress {
  readonly done: number;
  readonly total: number;
  /** What is being written now, when the converter says. */
  readonly item?: string;
}

export interface ConvertRequest {
  readonly type: ConvertType;
  readonly onProgress: (progress: ConvertProgress) => void;
  readonly signal: AbortSignal;
}

export interface CliRuntime {
  /** The command's version (package.json). */
  readonly version: string;
  /** The bundled model directory used when neither --model nor INFERENCE_MODEL is given. */
  readonly defaultModelDir: string;
  loadModel(path: string, ...opts: LoadOption[]): Promise<Result<TextModel>>;
  /** Every registered backend, sorted by name. */
  backends(): BackendEntry[];
  /** Converts a Hugging Face directory to a GGUF file; resolves with the bytes written. Throws `InferenceError`s. */
  convert(dir: string, outPath: string, request: ConvertRequest): Promise<number>;
}
