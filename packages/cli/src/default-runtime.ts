/**
 * The runtime the installed command uses: the contract's registry (with the cpu backend registered by importing
 * its package), the GGUF converter, the version from package.json, and the bundled model directory next to dist/.
 * The cpu package is imported when the runtime is made, not at module load, so `--help` and `--version` work and a
 * broken install gives a message instead of a stack trace. Tests may hand the commands a runtime of their own.
 */
import { readFileSync } from "node:fs";
import { stat } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { InferenceError, loadModel } from "@dappcore/inference";
import { CliFailure } from "./cli-failure.js";
import type { CliRuntime, ConvertRequest } from "./cli-runtime.js";
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
  };
}
