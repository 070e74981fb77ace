/**
 * What the commands need from the library, as one object: loading, the backend list, conversion, and where the
 * bundled default model lives. `default-runtime.ts` wires it to the real registry and the cpu package; tests may
 * hand in their own. This file is not an abstraction over backends: it only names the calls the command makes.
 */
import type { Adapter, Capability, LoadOption, LoRAConfig, Result, TextModel } from "@dappcore/inference";
import type { DatasetOptions, PreparedDataset, runTraining, TrainerModel } from "@dappcore/inference-cpu";

/** One registered backend as `inference backends` shows it. */
export interface BackendEntry {
  readonly name: string;
  readonly available: boolean;
  readonly capabilities: readonly Capability[];
}

/** The GGUF storage types `inference convert --type` accepts. */
export const convertTypes = ["f32", "f16", "bf16", "q8_0", "q4_0"] as const;
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

/** How `inference train` asks for a trainable model. */
export interface TrainableLoadRequest {
  /** "lora": the base stays frozen and an adapter trains; "full": every weight trains. */
  readonly trainingMode: "lora" | "full";
  /** Seed of the LoRA initialisation and dropout. */
  readonly seed: number;
  /** Worker threads of the kernels; undefined lets the backend choose. */
  readonly threads?: number;
  readonly signal: AbortSignal;
}

/** A trainable model as `inference train` drives it: the training loop's surface and the ways to write the result. */
export interface CliTrainableModel extends TrainerModel {
  applyLoRA(config?: Partial<LoRAConfig>): Result<Adapter>;
  /** Writes the trained weights as a complete Hugging Face model directory (full mode). */
  saveWeights(dir: string): Promise<Result<void>>;
  close(): Promise<Result<void>>;
}

/** What `inference train` needs from the bundled cpu package. */
export interface TrainingKit {
  loadTrainable(path: string, request: TrainableLoadRequest): Promise<Result<CliTrainableModel>>;
  /** Reads a JSONL dataset with the tokenizer of the model directory `modelDir`. Throws `InferenceError`s. */
  loadDataset(path: string, modelDir: string, options: DatasetOptions): Promise<PreparedDataset>;
  readonly runTraining: typeof runTraining;
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
  /** The training kit for `inference train`; absent where the runtime cannot train. Throws when it cannot be loaded. */
  training?(): Promise<TrainingKit>;
}
