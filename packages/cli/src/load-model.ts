/**
 * Loads the model a command asked for: resolves the path, checks it exists, shows a progress bar on a terminal while
 * the weights are read, and hands back the model or throws the typed error. This file does not generate.
 */
import type { LoadOptions, TextModel } from "@dappcore/inference";
import type { CliIO } from "./cli-io.js";
import type { CliRuntime } from "./cli-runtime.js";
import type { ModelRequest } from "./model-flags.js";
import { locateModel, requireModel, type ModelLocation } from "./model-path.js";
import { ProgressBar } from "./progress-bar.js";

export interface LoadedModel {
  readonly model: TextModel;
  readonly location: ModelLocation;
}

export async function loadRequestedModel(io: CliIO, runtime: CliRuntime, request: ModelRequest, signal: AbortSignal): Promise<LoadedModel> {
  const location = locateModel(request.model, io.env, io.cwd, runtime.defaultModelDir);
  await requireModel(location);
  const bar = new ProgressBar(io.stderr, { label: "loading", unit: "bytes" });
  const options: LoadOptions = { signal };
  if (request.backend !== undefined) options.backend = request.backend;
  if (request.contextLen !== undefined) options.contextLen = request.contextLen;
  // Backend options ride on the load options by name (the cpu backend reads them; @dappcore/inference-cpu's
  // withThreads / withQuantization / withKVCacheType set the same keys).
  const extra = options as Record<string, unknown>;
  if (request.threads !== undefined) extra.threads = request.threads;
  if (request.quantization !== undefined) extra.quantization = request.quantization;
  if (request.kvCacheType !== undefined) extra.kvCacheType = request.kvCacheType;
  if (bar.enabled) options.onProgress = (p) => bar.update(p.loadedBytes, p.totalBytes);
  let result;
  try {
    result = await runtime.loadModel(location.path, options);
  } finally {
    bar.finish();
  }
  if (!result.ok) throw result.error;
  return { model: result.value, location };
}
