/// <reference types="node" />
/**
 * `discover(dir)`: finds model directories under a folder, as Go's `Discover` does: a lazy, recursive, pre-order
 * walk (the base dir first, then subdirectories in name order, recursing into model directories too). A directory
 * is a safetensors model when it holds a `config.json` and at least one `*.safetensors` file, and a GGUF model when
 * it holds exactly one `*.gguf` file (a directory can be both; the safetensors entry comes first).
 *
 * Model type and quantisation come from config.json (`model_type`; bits, group size and method from
 * `quantization`, else `quantization_config`) or from the GGUF header (`general.architecture`,
 * `general.file_type`). An unreadable or invalid config.json or GGUF header still yields the model, with an empty
 * type and zero quantisation. A missing or unreadable directory yields nothing. Symlinked files count (Hugging Face
 * caches are made of them); symlinked directories are not followed, so the walk cannot loop. Paths are absolute.
 *
 * Node only: exported from `@dappcore/inference/node`, never from the main entry.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { ggufQuantization, readGGUFHeader } from "./gguf-header.js";

export interface DiscoveredModel {
  /** Absolute path of the model directory. */
  readonly path: string;
  readonly format: "safetensors" | "gguf";
  /** config.json `model_type`, or GGUF `general.architecture`; "" when unknown. */
  readonly modelType: string;
  /** 0 = unquantised or unknown. */
  readonly quantBits: number;
  readonly quantGroup: number;
  /** e.g. "gptq", "awq", "affine" (safetensors) or "q4_k_m" (gguf); "" when none. */
  readonly quantType: string;
  /** Number of weight files (`*.safetensors`, or 1 for gguf). */
  readonly numFiles: number;
  /** The absolute path of the .gguf file (gguf only). */
  readonly file?: string;
}

/** Directories deeper than this below the base are not visited (a guard against pathological trees). */
export const MAX_DISCOVER_DEPTH = 64;

/**
 * Yields every model directory under `dir` (the directory itself included). A `.gguf` file given directly yields
 * that one model. Breaking out of the loop stops the walk.
 *
 * @example
 * for await (const m of discover("./models")) console.log(m.path, m.modelType, m.quantBits);
 */
export async function* discover(dir: string): AsyncGenerator<DiscoveredModel, void, undefined> {
  const base = resolve(dir);
  const info = await stat(base).catch(() => undefined);
  if (info === undefined) return;
  if (info.isFile()) {
    if (base.toLowerCase().endsWith(".gguf")) yield await ggufModel(resolve(base, ".."), base);
    return;
  }
  if (info.isDirectory()) yield* walk(base, 0);
}

async function* walk(dir: string, depth: number): AsyncGenerator<DiscoveredModel, void, undefined> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (entries === undefined) return;
  const names = entries.map((e) => e.name).sort(byCodePoint);
  const files = new Set<string>();
  const dirs: string[] = [];
  for (const e of entries) {
    if (e.isDirectory()) dirs.push(e.name);
    else if (e.isFile()) files.add(e.name);
    else if (e.isSymbolicLink() && (await stat(join(dir, e.name)).catch(() => undefined))?.isFile()) files.add(e.name);
  }
  const safetensors = names.filter((n) => files.has(n) && n.toLowerCase().endsWith(".safetensors"));
  if (files.has("config.json") && safetensors.length > 0) yield await safetensorsModel(dir, safetensors.length);
  const ggufs = names.filter((n) => files.has(n) && n.toLowerCase().endsWith(".gguf"));
  if (ggufs.length === 1) yield await ggufModel(dir, join(dir, ggufs[0]!));
  if (depth >= MAX_DISCOVER_DEPTH) return;
  for (const name of dirs.sort(byCodePoint)) yield* walk(join(dir, name), depth + 1);
}

async function safetensorsModel(dir: string, numFiles: number): Promise<DiscoveredModel> {
  const q = await readConfig(join(dir, "config.json"));
  return { path: dir, format: "safetensors", numFiles, ...q };
}

async function ggufModel(dir: string, file: string): Promise<DiscoveredModel> {
  let modelType = "";
  let fileType: number | undefined;
  try {
    const h = await readGGUFHeader(file, { keys: ["general.architecture", "general.file_type"] });
    const arch = h.metadata.get("general.architecture");
    const ft = h.metadata.get("general.file_type");
    if (typeof arch === "string") modelType = arch;
    if (typeof ft === "number") fileType = ft;
  } catch {
    // Invalid headers still name a model file; the caller sees empty metadata, as with an invalid config.json.
  }
  const q = ggufQuantization(fileType);
  return {
    path: dir, format: "gguf", numFiles: 1, file,
    modelType, quantBits: q.bits, quantGroup: q.group, quantType: q.type,
  };
}

type ConfigFacts = Pick<DiscoveredModel, "modelType" | "quantBits" | "quantGroup" | "quantType">;

async function readConfig(file: string): Promise<ConfigFacts> {
  const facts = { modelType: "", quantBits: 0, quantGroup: 0, quantType: "" };
  let config: unknown;
  try {
    config = JSON.parse(await readFile(file, "utf8"));
  } catch {
    return facts;
  }
  if (typeof config !== "object" || config === null) return facts;
  const c = config as Record<string, unknown>;
  if (typeof c.model_type === "string") facts.modelType = c.model_type;
  const q = isObject(c.quantization) ? c.quantization : isObject(c.quantization_config) ? c.quantization_config : undefined;
  if (q !== undefined) {
    facts.quantBits = positiveInt(q.bits) ?? (q.load_in_4bit === true ? 4 : q.load_in_8bit === true ? 8 : 0);
    facts.quantGroup = positiveInt(q.group_size) ?? 0;
    facts.quantType = typeof q.quant_method === "string" ? q.quant_method : typeof q.mode === "string" ? q.mode : "";
  }
  return facts;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined;
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
