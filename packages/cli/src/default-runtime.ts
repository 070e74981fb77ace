/**
 * The runtime the installed command uses: the contract's registry (with the cpu backend registered by importing
 * its package), the GGUF converter, the training kit, the version from package.json, and the bundled model
 * directory next to dist/.
 * The cpu package is imported when the runtime is made, not at module load, so `--help` and `--version` work and a
 * broken install gives a message instead of a stack trace. Tests may hand the commands a runtime of their own.
 */
import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { fail, InferenceError, loadModel, ok, type Result } from "@dappcore/inference";
import { CliFailure } from "./cli-failure.js";
import type { DatasetOptions, PreparedDataset } from "@dappcore/inference-cpu";
import type { CliRuntime, CliTrainableModel, ConvertRequest, TrainingKit } from "./cli-runtime.js";
import { readConvertProgress } from "./convert-progress.js";
import { registeredBackends } from "./registered-backends.js";

/** The package's version, read from the package.json one level above src/ or dist/. */
export function packageVersion(): string {
  const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  const version = (JSON.parse(text) as { version?: unknown }).version;
  return typeof version === "string" ? version : "0.0.0";
}

/** `packages/cli/model/`: resolved from dist/ (or src/) so it works wherever the package is installed. */
export function bundledModelDir(): string {
  return fileURLToPath(new URL("../model/", import.meta.url));
}

type Converter = (dir: string, outPath: string, options: Record<string, unknown>) => Promise<unknown>;

/** The bundled backend package once imported, or why it could not be. */
export type BundledBackends = { readonly module: Record<string, unknown> } | { readonly error: unknown };

/** Imports @dappcore/inference-cpu, which registers the "cpu" backend. Never throws. */
export async function importBundledBackends(): Promise<BundledBackends> {
  try {
    return { module: (await import("@dappcore/inference-cpu")) as Record<string, unknown> };
  } catch (error) {
    return { error };
  }
}

function bundledModule(bundled: BundledBackends): Record<string, unknown> {
  if ("module" in bundled) return bundled.module;
  const message = bundled.error instanceof Error ? bundled.error.message : String(bundled.error);
  throw new CliFailure(`the bundled cpu backend failed to load: ${message}`, "reinstall @dappcore/inference-cli (npm install), then try again");
}

/** Runs the cpu package's GGUF converter and answers the size of the file written. */
export async function convertWithCpuPackage(cpu: Record<string, unknown>, dir: string, outPath: string, request: ConvertRequest): Promise<number> {
  const convert = cpu.convertCheckpointToGGUF as Converter | undefined;
  if (typeof convert !== "function") {
    throw new InferenceError({
      code: "unsupported",
      op: "inference.convert",
      message: "this build of @dappcore/inference-cpu has no GGUF converter",
      remedy: "update @dappcore/inference-cpu",
    });
  }
  await convert(dir, outPath, {
    type: request.type,
    signal: request.signal,
    onProgress: (p: unknown) => {
      const progress = readConvertProgress(p);
      if (progress !== undefined) request.onProgress(progress);
    },
  });
  return (await stat(outPath)).size;
}

/** The methods `inference train` calls on a trainable model. */
const trainableMethods = ["loss", "backward", "step", "zeroGrad", "setLearningRate", "saveTrainingState", "loadTrainingState", "applyLoRA", "saveWeights", "close"];

function cannotTrain(message: string): InferenceError {
  return new InferenceError({ code: "unsupported", op: "inference.train", message, remedy: "update @dappcore/inference-cpu" });
}

type LoadTrainable = (path: string, options: Record<string, unknown>) => Promise<Result<unknown>>;
type LoadJsonlDataset = (path: string, tokenizer: unknown, options: DatasetOptions) => Promise<PreparedDataset>;

/** The training kit over the cpu package: its backend's loadTrainable, its dataset reader and its training loop. */
export function trainingKitFrom(cpu: Record<string, unknown>): TrainingKit {
  const backend = cpu.cpuBackend as { loadTrainable?: LoadTrainable } | undefined;
  const pieces = { runTraining: cpu.runTraining, loadJsonlDataset: cpu.loadJsonlDataset, loadTokenizer: cpu.loadTokenizer };
  const missing = Object.entries(pieces).filter(([, f]) => typeof f !== "function").map(([k]) => k);
  const loadTrainable = backend?.loadTrainable;
  if (typeof loadTrainable !== "function") missing.unshift("cpuBackend.loadTrainable");
  if (missing.length > 0 || loadTrainable === undefined) {
    throw cannotTrain(`this build of @dappcore/inference-cpu cannot train (missing ${missing.join(", ")})`);
  }
  const load = loadTrainable.bind(backend);
  const loadJsonlDataset = pieces.loadJsonlDataset as LoadJsonlDataset;
  const loadTokenizer = pieces.loadTokenizer as (dir: string) => Promise<unknown>;
  return {
    loadTrainable: async (path, request) => {
      const { trainingMode, seed, threads, signal } = request;
      const r = await load(path, { trainingMode, seed, signal, ...(threads === undefined ? {} : { threads }) });
      if (!r.ok) return r;
      const model = r.value as Record<string, unknown>;
      const lacking = trainableMethods.filter((m) => typeof model[m] !== "function");
      if (lacking.length === 0) return ok(model as unknown as CliTrainableModel);
      if (typeof model.close === "function") await (model.close as () => Promise<unknown>)();
      return fail(cannotTrain(`the cpu backend's trainable model lacks ${lacking.join(", ")}`));
    },
    loadDataset: async (path, modelDir, options) => loadJsonlDataset(path, await loadTokenizer(modelDir), options),
    runTraining: pieces.runTraining as TrainingKit["runTraining"],
  };
}

/** The runtime over the real registry; `bundled` is what `importBundledBackends()` answered. */
export function defaultRuntime(bundled: BundledBackends): CliRuntime {
  return {
    version: packageVersion(),
    defaultModelDir: bundledModelDir(),
    loadModel: async (path, ...opts) => {
      bundledModule(bundled);
      return loadModel(path, ...opts);
    },
    backends: registeredBackends,
    convert: async (dir, outPath, request) => convertWithCpuPackage(bundledModule(bundled), dir, outPath, request),
    training: async () => trainingKitFrom(bundledModule(bundled)),
  };
}
