/**
 * LoRA adapters in PEFT's on-disk format: `saveAdapter` writes `adapter_config.json` (the fields and layout of
 * PEFT's `LoraConfig.save_pretrained`: `json.dumps(indent=2, sort_keys=True)`) and `adapter_model.safetensors`
 * (keys `base_model.model.<module>.lora_A.weight` (r, in) and `.lora_B.weight` (out, r), without the adapter name, as
 * PEFT saves them); `loadAdapter` reads such a directory back and validates it against the base model's modules.
 *
 * This file does not attach adapters to a model, merge them, or train them; config checks live in `lora-config.ts`.
 */
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InferenceError } from "@dappcore/inference";
import { decodeFloats } from "../dtype.js";
import { findDuplicateKey } from "../loader/json-duplicate-keys.js";
import { openSafetensors } from "../loader/safetensors-reader.js";
import { writeSafetensors, type TensorToWrite } from "../loader/safetensors-writer.js";
import { loraScale, matchTargets, normalizeLoRAConfig, targetMatches, type NormalizedLoRAConfig } from "./lora-config.js";
import { PyFloat, pythonJsonDumps } from "./python-json.js";

export { PyFloat, pythonJsonDumps } from "./python-json.js";

export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";
/** The prefix PEFT's `PeftModelForCausalLM` puts before the base model's own tensor names. */
export const PEFT_KEY_PREFIX = "base_model.model.";

/** One LoRA tensor to save, named as the base model names it: `model.layers.0.self_attn.q_proj.lora_A.weight`. */
export interface AdapterTensor {
  readonly name: string;
  /** Row-major values: (r, in) for lora_A, (out, r) for lora_B. */
  readonly value: Float32Array;
  readonly shape: readonly number[];
}

/** What `saveAdapter` writes. */
export interface AdapterToSave {
  readonly config: { readonly rank: number; readonly alpha: number; readonly dropout?: number; readonly targetKeys: readonly string[] };
  /** `base_model_name_or_path` of the config. Default: null. @example { baseModelPath: "Qwen/Qwen3-0.6B" } */
  readonly baseModelPath?: string;
  readonly tensors: readonly AdapterTensor[];
}

/** One adapted module of a loaded adapter. */
export interface AdapterModule {
  /** (rank, in) */
  readonly a: Float32Array;
  /** (out, rank) */
  readonly b: Float32Array;
  readonly rank: number;
  readonly in: number;
  readonly out: number;
}

/** The configuration of a loaded adapter. */
export interface LoadedAdapterConfig extends NormalizedLoRAConfig {
  readonly useRslora: boolean;
  /** `target_modules` when the file gives a regular expression instead of a list; `targetKeys` then names the modules' last components. */
  readonly targetRegex?: string;
  readonly baseModelPath?: string;
}

/** A validated adapter: `y = W x + scale * B (A x)` for every module in `modules`. */
export interface LoadedAdapter {
  readonly config: LoadedAdapterConfig;
  /** alpha / r, or alpha / sqrt(r) with `use_rslora`. */
  readonly scale: number;
  /** By module name (`model.layers.0.self_attn.q_proj`), in file order. */
  readonly modules: Map<string, AdapterModule>;
}

/** The base model's adaptable modules and their sizes, for `loadAdapter` to check an adapter against. */
export interface ExpectedModules {
  readonly modules: ReadonlyMap<string, { readonly in: number; readonly out: number }>;
}

const SAVE_OP = "cpu.saveAdapter";
const LOAD_OP = "cpu.loadAdapter";
const TENSOR_NAME = /^(.+)\.lora_([AB])\.weight$/;

/** The PEFT release whose `adapter_config.json` field set `saveAdapter` writes (and records as `peft_version`). */
export const PEFT_FORMAT_VERSION = "0.19.1";

/**
 * The `adapter_config.json` object PEFT writes for a causal-LM LoRA adapter with these settings: every field of
 * PEFT's `LoraConfig`, with `inference_mode` true as `PeftModel.save_pretrained` sets it.
 */
export function peftAdapterConfig(config: NormalizedLoRAConfig, baseModelPath?: string): Record<string, unknown> {
  return {
    alora_invocation_tokens: null,
    alpha_pattern: {},
    arrow_config: null,
    auto_mapping: null,
    base_model_name_or_path: baseModelPath ?? null,
    bias: "none",
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: config.alpha,
    lora_bias: false,
    lora_dropout: new PyFloat(config.dropout),
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: "megatron.core",
    modules_to_save: null,
    peft_type: "LORA",
    peft_version: PEFT_FORMAT_VERSION,
    qalora_group_size: 16,
    r: config.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...config.targetKeys],
    target_parameters: null,
    task_type: "CAUSAL_LM",
    trainable_token_indices: null,
    use_bdlora: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: false,
  };
}

/** `model.layers.0.self_attn.q_proj.lora_A.weight` → `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`. */
export function peftTensorKey(name: string): string {
  return name.startsWith(PEFT_KEY_PREFIX) ? name : PEFT_KEY_PREFIX + name;
}

/**
 * Writes a LoRA adapter into `dir` (created when missing) in PEFT's format. Each file is written beside its final
 * name and renamed into place. Throws `invalid_argument` for a bad config (see `normalizeLoRAConfig`), a tensor name
 * that is not `<module>.lora_A.weight` / `.lora_B.weight`, a lone A or B, shapes that are not (r, in) / (out, r),
 * values that do not fill the shape, or non-finite values.
 *
 * @example await saveAdapter("out/adapter", { config: { rank: 8, alpha: 16, targetKeys: ["q_proj", "v_proj"] }, tensors })
 */
export async function saveAdapter(dir: string, adapter: AdapterToSave): Promise<void> {
  const config = normalizeLoRAConfig(adapter.config);
  const bad = (message: string, tensor?: string) =>
    new InferenceError({ code: "invalid_argument", op: SAVE_OP, message, details: { dir, ...(tensor === undefined ? {} : { tensor }) } });
  const pairs = new Map<string, { a?: AdapterTensor; b?: AdapterTensor }>();
  for (const t of adapter.tensors) {
    const m = TENSOR_NAME.exec(t.name.startsWith(PEFT_KEY_PREFIX) ? t.name.slice(PEFT_KEY_PREFIX.length) : t.name);
    if (m === null) throw bad(`tensor "${t.name}" is not named <module>.lora_A.weight or <module>.lora_B.weight`, t.name);
    if (t.shape.length !== 2 || !t.shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
      throw bad(`tensor "${t.name}" must have a 2-D shape of positive sizes, got [${t.shape.join(", ")}]`, t.name);
    }
    if (t.value.length !== (t.shape[0] as number) * (t.shape[1] as number)) {
      throw bad(`tensor "${t.name}" has ${t.value.length} values, its shape [${t.shape.join(", ")}] needs ${(t.shape[0] as number) * (t.shape[1] as number)}`, t.name);
    }
    for (let i = 0; i < t.value.length; i++) {
      if (!Number.isFinite(t.value[i])) throw bad(`tensor "${t.name}" holds a non-finite value (${t.value[i]}) at index ${i}`, t.name);
    }
    const module = m[1] as string;
    const pair = pairs.get(module) ?? {};
    const side = m[2] === "A" ? "a" : "b";
    if (pair[side] !== undefined) throw bad(`tensor "${t.name}" is given twice`, t.name);
    pair[side] = t;
    pairs.set(module, pair);
  }
  if (pairs.size === 0) throw bad("an adapter needs at least one lora_A/lora_B pair");
  for (const [module, { a, b }] of pairs) {
    if (a === undefined || b === undefined) throw bad(`module "${module}" has lora_${a === undefined ? "B" : "A"} but no lora_${a === undefined ? "A" : "B"}`, module);
    if (a.shape[0] !== config.rank || b.shape[1] !== config.rank) {
      throw bad(
        `module "${module}": lora_A [${a.shape.join(", ")}] must be (r, in) and lora_B [${b.shape.join(", ")}] (out, r) with r = ${config.rank}`,
        module,
      );
    }
  }
  const tensors: TensorToWrite[] = adapter.tensors.map((t) => ({
    name: peftTensorKey(t.name),
    dtype: "F32",
    shape: [...t.shape],
    data: new Uint8Array(Float32Array.from(t.value).buffer),
  }));
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new InferenceError({ code: "invalid_argument", op: SAVE_OP, message: `cannot create adapter directory ${dir}`, cause, details: { dir } });
  }
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  await writeThenRename(weightsPath, (tmp) => writeSafetensors(tmp, tensors, { format: "pt" }));
  await writeThenRename(configPath, (tmp) => writeFile(tmp, pythonJsonDumps(peftAdapterConfig(config, adapter.baseModelPath))));
}

async function writeThenRename(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await write(tmp);
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true });
    if (cause instanceof InferenceError) throw cause;
    throw new InferenceError({ code: "internal", op: SAVE_OP, message: `cannot write ${path}`, cause, details: { path } });
  }
}

type Json = Record<string, unknown>;

/** Fields that change what the adapter computes and that this loader does not implement, with the value that is fine. */
function unsupportedFeature(cfg: Json): string | undefined {
  const set = (v: unknown) => v !== undefined && v !== null && v !== false && !(Array.isArray(v) && v.length === 0) && !(typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0);
  if (cfg["use_dora"] === true) return "use_dora (DoRA)";
  if (cfg["lora_bias"] === true) return "lora_bias";
  if (cfg["bias"] !== undefined && cfg["bias"] !== "none") return `bias "${String(cfg["bias"])}"`;
  if (cfg["fan_in_fan_out"] === true) return "fan_in_fan_out";
  if (cfg["use_qalora"] === true) return "use_qalora";
  const computeChanging = [
    "rank_pattern", "alpha_pattern", "modules_to_save", "layer_replication", "layers_to_transform", "layers_pattern",
    "trainable_token_indices", "megatron_config", "target_parameters", "alora_invocation_tokens", "arrow_config",
    "use_bdlora", "monteclora_config", "velora_config",
  ];
  for (const key of computeChanging) {
    if (set(cfg[key])) return key;
  }
  const init = cfg["init_lora_weights"];
  if (typeof init === "string" && /^(pissa|olora|corda|loftq|lora_ga)/.test(init)) return `init_lora_weights "${init}" (it changes the base weights)`;
  return undefined;
}

function invalidModel(message: string, path: string, extra: Record<string, unknown> = {}, cause?: unknown): InferenceError {
  return new InferenceError({ code: "invalid_model", op: LOAD_OP, message, details: { path, ...extra }, ...(cause === undefined ? {} : { cause }) });
}

async function readAdapterConfig(path: string): Promise<Json> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw invalidModel(`cannot read ${path}`, path, {}, cause);
  }
  let cfg: unknown;
  try {
    cfg = JSON.parse(text);
  } catch (cause) {
    throw invalidModel(`${path} is not valid JSON`, path, {}, cause);
  }
  if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg)) throw invalidModel(`${path} must hold a JSON object`, path);
  const dup = findDuplicateKey(text);
  if (dup !== undefined) throw invalidModel(`${path} has the key "${dup.key}" twice`, path, { key: dup.key });
  return cfg as Json;
}

/** Reads and checks the config fields; throws `invalid_model` or `unsupported` naming the file and field. */
function parseConfig(cfg: Json, path: string): { config: LoadedAdapterConfig; targets: readonly string[] | RegExp | undefined; exclude: readonly string[] | RegExp | undefined } {
  const field = (name: string, message: string) => invalidModel(`${path}: ${name} ${message}`, path, { field: name, value: cfg[name] });
  if (cfg["peft_type"] === undefined) throw field("peft_type", "is missing");
  if (cfg["peft_type"] !== "LORA") {
    throw new InferenceError({ code: "unsupported", op: LOAD_OP, message: `${path}: peft_type ${JSON.stringify(cfg["peft_type"])} is not supported; only "LORA" adapters load`, details: { path, field: "peft_type" } });
  }
  const feature = unsupportedFeature(cfg);
  if (feature !== undefined) {
    throw new InferenceError({ code: "unsupported", op: LOAD_OP, message: `${path}: ${feature} is not supported by the cpu backend's LoRA`, details: { path, feature } });
  }
  const rank = cfg["r"];
  if (typeof rank !== "number" || !Number.isSafeInteger(rank) || rank <= 0) throw field("r", `must be an integer > 0, got ${JSON.stringify(rank)}`);
  const alpha = cfg["lora_alpha"];
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) throw field("lora_alpha", `must be a finite number > 0, got ${JSON.stringify(alpha)}`);
  const dropout = cfg["lora_dropout"] ?? 0;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) throw field("lora_dropout", `must be in [0, 1), got ${JSON.stringify(dropout)}`);
  const useRslora = cfg["use_rslora"] ?? false;
  if (typeof useRslora !== "boolean") throw field("use_rslora", `must be a boolean, got ${JSON.stringify(useRslora)}`);
  const list = (name: string): readonly string[] | RegExp | undefined => {
    const v = cfg[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string") {
      if (v === "all-linear") return /.*/;
      try {
        return new RegExp(`^(?:${v})$`);
      } catch (cause) {
        throw invalidModel(`${path}: ${name} ${JSON.stringify(v)} is not a regular expression this loader can read`, path, { field: name }, cause);
      }
    }
    if (!Array.isArray(v) || !v.every((k) => typeof k === "string" && k.length > 0)) throw field(name, "must be a list of module names or a regular expression");
    return v as string[];
  };
  const targets = list("target_modules");
  const exclude = list("exclude_modules");
  const base = cfg["base_model_name_or_path"];
  const config: LoadedAdapterConfig = {
    rank,
    alpha,
    dropout,
    targetKeys: Array.isArray(targets) ? [...new Set(targets)] : [],
    useRslora,
    ...(targets instanceof RegExp ? { targetRegex: String(cfg["target_modules"]) } : {}),
    ...(typeof base === "string" ? { baseModelPath: base } : {}),
  };
  return { config, targets, exclude };
}

function selects(pattern: readonly string[] | RegExp, module: string): boolean {
  return pattern instanceof RegExp ? pattern.test(module) : pattern.some((k) => targetMatches(module, k));
}

/**
 * Reads a PEFT LoRA adapter directory and validates it. With `expected`, every tensor must belong to one of the base
 * model's modules with matching sizes, every target key must select at least one module, and every selected module
 * must have its A/B pair.
 *
 * Errors: `invalid_model` naming the file (and tensor or field) for a missing or malformed file, r <= 0, non-finite
 * alpha, a missing tensor, a lone A or B, a shape that is not (r, in) / (out, r) or does not match the base module,
 * a tensor for no module, non-finite values, or targets that match no module; `unsupported` for another peft_type or
 * a LoRA variant this backend does not compute (DoRA, LoRA bias, rank/alpha patterns, modules_to_save, ...).
 *
 * @example const adapter = await loadAdapter("out/adapter", { modules: model.loraModules() });
 */
export async function loadAdapter(dir: string, expected?: ExpectedModules): Promise<LoadedAdapter> {
  const configPath = join(dir, ADAPTER_CONFIG_FILE);
  const weightsPath = join(dir, ADAPTER_WEIGHTS_FILE);
  const { config, targets, exclude } = parseConfig(await readAdapterConfig(configPath), configPath);

  const file = await openSafetensors(weightsPath);
  try {
    const bad = (message: string, tensor: string) => invalidModel(`${weightsPath}: ${message}`, weightsPath, { tensor });
    const found = new Map<string, { a?: string; b?: string }>();
    for (const key of file.entries.keys()) {
      if (key.endsWith(".lora_magnitude_vector") || key.includes(".lora_magnitude_vector.")) {
        throw new InferenceError({ code: "unsupported", op: LOAD_OP, message: `${weightsPath}: tensor "${key}" is a DoRA magnitude; DoRA is not supported`, details: { path: weightsPath, tensor: key } });
      }
      const stripped = key.startsWith(PEFT_KEY_PREFIX) ? key.slice(PEFT_KEY_PREFIX.length) : undefined;
      const m = stripped === undefined ? null : TENSOR_NAME.exec(stripped);
      if (m === null) {
        if (/\.lora_(embedding_[AB]|B\.bias)/.test(key)) {
          throw new InferenceError({ code: "unsupported", op: LOAD_OP, message: `${weightsPath}: tensor "${key}" is a LoRA kind this backend does not support`, details: { path: weightsPath, tensor: key } });
        }
        throw bad(`tensor "${key}" is not a LoRA weight (expected ${PEFT_KEY_PREFIX}<module>.lora_A.weight or .lora_B.weight)`, key);
      }
      const module = m[1] as string;
      const pair = found.get(module) ?? {};
      pair[m[2] === "A" ? "a" : "b"] = key;
      found.set(module, pair);
    }
    if (found.size === 0) throw bad("holds no LoRA tensors", "");

    const modules = new Map<string, AdapterModule>();
    for (const [module, pair] of found) {
      if (pair.a === undefined || pair.b === undefined) {
        const missing = `${PEFT_KEY_PREFIX}${module}.lora_${pair.a === undefined ? "A" : "B"}.weight`;
        throw bad(`tensor "${missing}" is missing (its pair ${pair.a ?? pair.b} is present)`, missing);
      }
      const ea = file.entries.get(pair.a)!;
      const eb = file.entries.get(pair.b)!;
      if (ea.shape.length !== 2) throw bad(`tensor "${pair.a}" must be 2-D (r, in), got [${ea.shape.join(", ")}]`, pair.a);
      if (eb.shape.length !== 2) throw bad(`tensor "${pair.b}" must be 2-D (out, r), got [${eb.shape.join(", ")}]`, pair.b);
      const [ra, inDim] = ea.shape as [number, number];
      const [outDim, rb] = eb.shape as [number, number];
      if (ra !== config.rank) throw bad(`tensor "${pair.a}" has shape [${ea.shape.join(", ")}], its first dimension must be r = ${config.rank}`, pair.a);
      if (rb !== config.rank) throw bad(`tensor "${pair.b}" has shape [${eb.shape.join(", ")}], its second dimension must be r = ${config.rank}`, pair.b);
      if (targets !== undefined && !selects(targets, module)) {
        throw bad(`tensor "${pair.a}" adapts "${module}", which target_modules does not select`, pair.a);
      }
      if (exclude !== undefined && selects(exclude, module)) {
        throw bad(`tensor "${pair.a}" adapts "${module}", which exclude_modules excludes`, pair.a);
      }
      if (expected !== undefined) {
        const base = expected.modules.get(module);
        if (base === undefined) throw bad(`tensor "${pair.a}" adapts "${module}", which is not a module of the base model`, pair.a);
        if (base.in !== inDim) throw bad(`tensor "${pair.a}" has shape [${ea.shape.join(", ")}]; the base module takes ${base.in} inputs, so it must be [${config.rank}, ${base.in}]`, pair.a);
        if (base.out !== outDim) throw bad(`tensor "${pair.b}" has shape [${eb.shape.join(", ")}]; the base module gives ${base.out} outputs, so it must be [${base.out}, ${config.rank}]`, pair.b);
      }
      const read = async (key: string) => {
        const t = await file.readTensor(key);
        const values = decodeFloats(t.data, t.dtype as "F32" | "F16" | "BF16"); // readTensor returns only these
        for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) throw bad(`tensor "${key}" holds a non-finite value at index ${i}`, key);
        return values;
      };
      modules.set(module, { a: await read(pair.a), b: await read(pair.b), rank: config.rank, in: inDim, out: outDim });
    }

    if (expected !== undefined && targets !== undefined) {
      const names = [...expected.modules.keys()].filter((n) => exclude === undefined || !selects(exclude, n));
      let selected: string[];
      try {
        selected = targets instanceof RegExp ? names.filter((n) => targets.test(n)) : matchTargets(names, targets);
        if (selected.length === 0) throw new InferenceError({ code: "invalid_argument", op: LOAD_OP, message: `target_modules ${config.targetRegex ?? ""} matches no module` });
      } catch (cause) {
        throw invalidModel(`${configPath}: target_modules do not fit the base model`, configPath, { field: "target_modules" }, cause);
      }
      for (const module of selected) {
        if (!modules.has(module)) {
          const missing = `${PEFT_KEY_PREFIX}${module}.lora_A.weight`;
          throw bad(`tensor "${missing}" is missing: target_modules selects "${module}"`, missing);
        }
      }
    }
    const finalConfig: LoadedAdapterConfig =
      config.targetKeys.length > 0 ? config : { ...config, targetKeys: [...new Set([...modules.keys()].map((n) => n.slice(n.lastIndexOf(".") + 1)))] };
    return { config: finalConfig, scale: loraScale(config.rank, config.alpha, config.useRslora), modules };
  } finally {
    await file.close();
  }
}
