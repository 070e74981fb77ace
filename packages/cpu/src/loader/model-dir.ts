/**
 * Loads a Hugging Face model directory: config.json, generation_config.json, and the weights from
 * model.safetensors or the shards named by model.safetensors.index.json. Everything is checked before tensor data is
 * read (shard names stay inside the directory, every tensor the architecture needs is present with its shape and a
 * loadable dtype); nothing in the directory is executed (pickles are refused, `*.py` and `auto_map` ignored).
 * Not the tokenizer loader (see `text/`) and not the engine.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig, WeightStore } from "../model-config.js";
import { readModelConfig, roundToDtype } from "./config.js";
import { isJsonObject } from "./config-fields.js";
import { expectedTensors } from "./expected-tensors.js";
import { GREEDY_DEFAULTS, readGenerationConfig, type GenerationDefaults } from "./generation-config.js";
import { findDuplicateKey } from "./json-duplicate-keys.js";
import { LOADABLE_DTYPES, openSafetensors, type SafetensorsEntry, type SafetensorsFile, type TensorAllocInfo } from "./safetensors-reader.js";
import { MapWeightStore } from "./weight-store.js";

const OP = "model.load";
const MAX_JSON_BYTES = 100_000_000;
const MAX_SHARDS = 10_000;
const INDEX = "model.safetensors.index.json";
const SINGLE = "model.safetensors";

/** Loading progress, reported after every chunk read. */
export interface ModelDirProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
  /** The weight file being read, relative to the directory. */
  readonly file: string;
}

/** Options of `loadModelDir`. */
export interface LoadModelDirOptions {
  /**
   * Called after each chunk of weights is read. Default: none.
   * @example loadModelDir(dir, { onProgress: (p) => console.log(p.loadedBytes / p.totalBytes) })
   */
  onProgress?(p: ModelDirProgress): void;
  /**
   * Aborts loading between chunks with an `aborted` error. Default: none.
   * @example loadModelDir(dir, { signal: AbortSignal.timeout(60_000) })
   */
  signal?: AbortSignal;
  /**
   * Provides the buffer of each tensor (e.g. inside WebAssembly memory); it must return exactly `byteLength` bytes
   * aligned to the element size. It is told the tensor's name, dtype and shape, and is called once per tensor, in
   * reading order, after the previous tensor's bytes are all read. Default: a fresh ArrayBuffer per tensor.
   * @example loadModelDir(dir, { alloc: (n) => arena.take(n) })
   */
  alloc?: (byteLength: number, tensor: TensorAllocInfo) => Uint8Array;
  /**
   * Bytes per read. Default 64 MiB.
   * @example loadModelDir(dir, { chunkBytes: 8 * 1024 * 1024 })
   */
  chunkBytes?: number;
}

/** A loaded checkpoint: its normalised config, generation defaults and weights. */
export interface LoadedCheckpoint {
  readonly dir: string;
  readonly config: ModelConfig;
  readonly rawConfig: Record<string, unknown>;
  readonly generation: GenerationDefaults;
  readonly weights: WeightStore;
  /** Weight files read, relative to `dir`. */
  readonly files: string[];
  /** Things ignored or worth knowing (auto_map, *.py files, unused tensors). */
  readonly warnings: string[];
}

interface Planned {
  readonly name: string;
  readonly file: string;
  readonly entry: SafetensorsEntry;
}

function invalid(message: string, details: Record<string, unknown> = {}): InferenceError {
  return new InferenceError({ code: "invalid_model", op: OP, message, details });
}

/**
 * Loads the model directory `dir`. Throws `InferenceError`: `model_load_failed` when it does not exist,
 * `invalid_model` for a missing or bad file or tensor (naming it), `unsupported` for pickles, unknown architectures
 * and dtypes other than F32/F16/BF16, `aborted` when `signal` fires.
 *
 * @example const ckpt = await loadModelDir("./models/qwen3-0.6b"); ckpt.weights.get("model.norm.weight")
 */
export async function loadModelDir(dir: string, opts: LoadModelDirOptions = {}): Promise<LoadedCheckpoint> {
  checkAborted(opts.signal);
  let listing: string[];
  try {
    const info = await stat(dir);
    if (!info.isDirectory()) throw invalid(`"${dir}" is not a directory`, { path: dir });
    listing = await readdir(dir);
  } catch (cause) {
    if (cause instanceof InferenceError) throw cause;
    throw new InferenceError({
      code: "model_load_failed",
      op: OP,
      message: `model directory "${dir}" cannot be read`,
      cause,
      details: { path: dir },
    });
  }
  const present = new Set(listing);
  const warnings: string[] = [];

  if (!present.has("config.json")) throw invalid(`no config.json in "${dir}"`, { path: join(dir, "config.json") });
  const rawConfig = await readJson(join(dir, "config.json"), "config.json");
  if (!isJsonObject(rawConfig)) throw invalid("config.json is not a JSON object", { path: join(dir, "config.json") });
  let config = readModelConfig(rawConfig, "config.json", warnings);

  let generation: GenerationDefaults = GREEDY_DEFAULTS;
  if (present.has("generation_config.json")) {
    generation = readGenerationConfig(await readJson(join(dir, "generation_config.json"), "generation_config.json"));
  }
  generation = {
    ...generation,
    bosTokenId: generation.bosTokenId ?? config.bosTokenId,
    eosTokenIds: generation.eosTokenIds.length > 0 ? generation.eosTokenIds : config.eosTokenIds,
  };
  config = { ...config, bosTokenId: generation.bosTokenId, eosTokenIds: [...generation.eosTokenIds] };

  const python = listing.filter((n) => n.endsWith(".py"));
  if (python.length > 0) warnings.push(`ignored ${python.length} Python file(s) (${python.join(", ")}); code is never executed`);

  const weightFiles = await planFiles(dir, present);
  const files = "single" in weightFiles ? [weightFiles.single] : [...new Set(weightFiles.index.values())].sort();
  const opened = new Map<string, SafetensorsFile>();
  try {
    for (const file of files) {
      checkAborted(opts.signal);
      opened.set(file, await openSafetensors(join(dir, file), { chunkBytes: opts.chunkBytes }));
    }
    const available = collectTensors(weightFiles, opened, warnings);
    const plan = checkTensors(config, available, warnings);

    const totalBytes = plan.reduce((s, p) => s + (p.entry.end - p.entry.begin), 0);
    const weights = new MapWeightStore();
    let loadedBytes = 0;
    opts.onProgress?.({ loadedBytes, totalBytes, file: plan[0]?.file ?? files[0] ?? SINGLE });
    for (const p of plan) {
      checkAborted(opts.signal);
      const tensor = await opened.get(p.file)!.readTensor(p.name, opts.alloc, {
        signal: opts.signal,
        onBytes: (n) => {
          loadedBytes += n;
          opts.onProgress?.({ loadedBytes, totalBytes, file: p.file });
        },
      });
      weights.add(tensor);
    }
    if (config.architecture === "gemma3_text") {
      // transformers casts embed_scale to the embedding weights' dtype before multiplying.
      const embed = weights.get("model.embed_tokens.weight");
      config = { ...config, embeddingScale: roundToDtype(Math.sqrt(config.hiddenSize), embed.dtype) };
    }
    return { dir, config, rawConfig, generation, weights, files, warnings };
  } catch (err) {
    if (err instanceof InferenceError && err.code === "aborted" && err.op !== OP) {
      throw new InferenceError({ code: "aborted", op: OP, message: `loading "${dir}" was aborted`, cause: opts.signal?.reason });
    }
    throw err;
  } finally {
    for (const f of opened.values()) await f.close().catch(() => undefined);
  }
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new InferenceError({ code: "aborted", op: OP, message: "loading was aborted", cause: signal.reason });
  }
}

async function readJson(path: string, name: string): Promise<unknown> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_JSON_BYTES) throw invalid(`${name} is ${info.size} bytes, over the ${MAX_JSON_BYTES}-byte limit`, { path });
    text = await readFile(path, "utf8");
  } catch (cause) {
    if (cause instanceof InferenceError) throw cause;
    throw new InferenceError({ code: "model_load_failed", op: OP, message: `cannot read ${name}`, cause, details: { path } });
  }
  const dup = findDuplicateKey(text);
  if (dup !== undefined) throw invalid(`${name} has the key "${dup.key}" twice`, { path });
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw invalid(`${name} is not valid JSON (${cause instanceof Error ? cause.message : String(cause)})`, { path });
  }
}

/** Where the weights are: one model.safetensors, or tensor name to shard from the index. */
type WeightFiles = { readonly single: string } | { readonly index: Map<string, string> };

async function planFiles(dir: string, present: Set<string>): Promise<WeightFiles> {
  if (present.has(INDEX)) {
    const index = await readJson(join(dir, INDEX), INDEX);
    const weightMap = isJsonObject(index) ? index.weight_map : undefined;
    if (!isJsonObject(weightMap)) throw invalid(`${INDEX} has no weight_map object`, { path: join(dir, INDEX) });
    const map = new Map<string, string>();
    const shards = new Set<string>();
    for (const tensor of Object.keys(weightMap)) {
      const file = weightMap[tensor];
      checkShardName(file, tensor);
      shards.add(file);
      if (shards.size > MAX_SHARDS) throw invalid(`${INDEX} names more than ${MAX_SHARDS} shards`);
      map.set(tensor, file);
    }
    for (const file of shards) {
      if (!present.has(file)) {
        throw invalid(`shard "${file}" listed in ${INDEX} is missing from "${dir}"`, { path: join(dir, file), shard: file });
      }
      const info = await stat(join(dir, file)).catch(() => undefined);
      if (info === undefined || !info.isFile()) {
        throw invalid(`shard "${file}" listed in ${INDEX} is not a readable file`, { path: join(dir, file), shard: file });
      }
    }
    if (map.size === 0) throw invalid(`${INDEX} lists no tensors`, { path: join(dir, INDEX) });
    return { index: map };
  }
  if (present.has(SINGLE)) return { single: SINGLE };
  const pickles = [...present].filter((n) => /\.(bin|pt|pth|ckpt|pkl)$/.test(n));
  if (pickles.length > 0) {
    throw new InferenceError({
      code: "unsupported",
      op: OP,
      message: `"${dir}" has only pickle weights (${pickles.join(", ")}); pickles are never loaded because they can run code, convert the checkpoint to safetensors`,
      details: { path: dir, files: pickles },
      remedy: "convert to safetensors, e.g. with transformers: model.save_pretrained(out, safe_serialization=True)",
    });
  }
  throw invalid(`no ${SINGLE} or ${INDEX} in "${dir}"`, { path: dir });
}

/** A shard name must be a plain file name: no separators, no "..", not absolute, a .safetensors file. */
function checkShardName(file: unknown, tensor: string): asserts file is string {
  const ok =
    typeof file === "string" &&
    file.length > 0 &&
    !file.includes("/") &&
    !file.includes("\\") &&
    !file.includes("\0") &&
    !file.includes("..") &&
    !file.includes(":") &&
    !isAbsolute(file) &&
    file.endsWith(".safetensors");
  if (!ok) {
    throw invalid(`${INDEX} maps tensor "${tensor}" to ${JSON.stringify(file)}, which is not a .safetensors file name inside the model directory`, {
      tensor,
      shard: typeof file === "string" ? file : null,
    });
  }
}

function collectTensors(
  weightFiles: WeightFiles,
  opened: Map<string, SafetensorsFile>,
  warnings: string[],
): Map<string, Planned> {
  const out = new Map<string, Planned>();
  if ("single" in weightFiles) {
    const file = weightFiles.single;
    for (const [name, entry] of opened.get(file)!.entries) out.set(name, { name, file, entry });
    return out;
  }
  const shardOf = weightFiles.index;
  for (const [name, file] of shardOf) {
    const entry = opened.get(file)!.entries.get(name);
    if (entry === undefined) {
      throw invalid(`tensor "${name}" is listed in ${INDEX} for "${file}" but that file does not contain it`, { tensor: name, shard: file });
    }
    out.set(name, { name, file, entry });
  }
  let unlisted = 0;
  for (const [file, f] of opened) for (const name of f.entries.keys()) if (shardOf.get(name) !== file) unlisted++;
  if (unlisted > 0) warnings.push(`ignored ${unlisted} tensor(s) present in shards but not listed in ${INDEX}`);
  return out;
}

/** Checks the architecture's tensors against what the files hold; returns them in file order. */
function checkTensors(config: ModelConfig, available: Map<string, Planned>, warnings: string[]): Planned[] {
  const expected = expectedTensors(config);
  const missing = expected.filter((e) => !available.has(e.name)).map((e) => e.name);
  if (missing.length > 0) {
    const shown = missing.slice(0, 8).join(", ") + (missing.length > 8 ? `, and ${missing.length - 8} more` : "");
    throw invalid(`missing ${missing.length} tensor(s) that ${config.architecture} needs: ${shown}`, { missing });
  }
  const plan: Planned[] = [];
  for (const e of expected) {
    const p = available.get(e.name)!;
    if (p.entry.shape.length !== e.shape.length || p.entry.shape.some((d, i) => d !== e.shape[i])) {
      throw invalid(`tensor "${e.name}" has shape [${p.entry.shape.join(", ")}], config.json needs [${e.shape.join(", ")}]`, {
        tensor: e.name,
        shape: p.entry.shape,
        expected: e.shape,
      });
    }
    if (!(LOADABLE_DTYPES as readonly string[]).includes(p.entry.dtype)) {
      throw new InferenceError({
        code: "unsupported",
        op: OP,
        message: `unsupported dtype "${p.entry.dtype}" for tensor "${e.name}" (supported: ${LOADABLE_DTYPES.join(", ")})`,
        details: { tensor: e.name, dtype: p.entry.dtype },
      });
    }
    plan.push(p);
  }
  const needed = new Set(expected.map((e) => e.name));
  const extra = [...available.keys()].filter((n) => !needed.has(n));
  if (extra.length > 0) {
    warnings.push(`ignored ${extra.length} tensor(s) the architecture does not use: ${extra.slice(0, 5).join(", ")}${extra.length > 5 ? ", ..." : ""}`);
  }
  // Sequential reads: by file, then by offset.
  return plan.sort((a, b) => (a.file === b.file ? a.entry.begin - b.entry.begin : a.file < b.file ? -1 : 1));
}
