/**
 * `convertCheckpointToGGUF(dir, out, opts)`: reads a Hugging Face model directory (config.json,
 * generation_config.json, tokenizer.json, tokenizer_config.json, chat_template.jinja, and model.safetensors or the
 * shards of model.safetensors.index.json) and hands it to `convertToGGUF` of @dappcore/inference-gguf, which writes
 * the GGUF. Tensors are read one at a time through the safetensors reader, so memory stays at about one tensor.
 * Not a model loader for inference (see loader/model-dir.ts) and not the GGUF writer.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InferenceError } from "@dappcore/inference";
import { convertToGGUF, type CheckpointSource, type ConvertOptions, type ConvertResult } from "@dappcore/inference-gguf";
import { openSafetensors, type SafetensorsFile } from "./loader/safetensors-reader.js";

const OP = "cpu.convertToGGUF";

async function readJson(path: string, required: boolean): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    if (!required && (cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new InferenceError({ code: "invalid_model", op: OP, message: `cannot read ${path}`, cause, details: { path } });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `${path} is not valid JSON`, cause, details: { path } });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `${path} is not a JSON object`, details: { path } });
  }
  return value as Record<string, unknown>;
}

/** Shard file names from model.safetensors.index.json; each must be a plain file name inside `dir`. */
function shardNames(index: Record<string, unknown>, indexPath: string): Map<string, string> {
  const map = index.weight_map;
  if (map === null || typeof map !== "object" || Array.isArray(map)) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `${indexPath} has no weight_map object` });
  }
  const out = new Map<string, string>();
  for (const [tensor, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== "string" || !/^[^/\\]+\.safetensors$/.test(file) || file.startsWith(".")) {
      throw new InferenceError({
        code: "invalid_model",
        op: OP,
        message: `${indexPath}: shard name ${JSON.stringify(file)} for "${tensor}" is not a safetensors file in the directory`,
      });
    }
    out.set(tensor, file);
  }
  return out;
}

/**
 * Converts the Hugging Face model directory `dir` into a GGUF file at `outPath`.
 * Errors: `invalid_model` for missing or malformed files, `unsupported` for what llama.cpp's converter would refuse.
 *
 * @example
 * await convertCheckpointToGGUF("./SmolLM2-135M", "smollm2-bf16.gguf", { type: "bf16" });
 */
export async function convertCheckpointToGGUF(dir: string, outPath: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const config = (await readJson(join(dir, "config.json"), true))!;
  const generationConfig = await readJson(join(dir, "generation_config.json"), false);
  const tokenizer = await readJson(join(dir, "tokenizer.json"), false);
  if (tokenizer === undefined) {
    throw new InferenceError({
      code: "unsupported",
      op: OP,
      message: `${dir} has no tokenizer.json (tokenizer.model alone is not supported)`,
      details: { path: dir },
    });
  }
  const tokenizerConfig = await readJson(join(dir, "tokenizer_config.json"), false);
  let chatTemplate: string | undefined;
  try {
    chatTemplate = await readFile(join(dir, "chat_template.jinja"), "utf8");
  } catch {
    chatTemplate = undefined;
  }

  const files = new Map<string, SafetensorsFile>();
  const fileOf = new Map<string, string>();
  try {
    const indexPath = join(dir, "model.safetensors.index.json");
    const index = await readJson(indexPath, false);
    if (index !== undefined) {
      for (const [tensor, file] of shardNames(index, indexPath)) fileOf.set(tensor, file);
    }
    const fileNames = index !== undefined ? [...new Set(fileOf.values())] : ["model.safetensors"];
    for (const name of fileNames) {
      files.set(name, await openSafetensors(join(dir, name)));
    }
    if (index === undefined) for (const tensor of files.get("model.safetensors")!.entries.keys()) fileOf.set(tensor, "model.safetensors");
    for (const [tensor, file] of fileOf) {
      if (!files.get(file)!.entries.has(tensor)) {
        throw new InferenceError({ code: "invalid_model", op: OP, message: `tensor "${tensor}" is not in ${file}` });
      }
    }
    const source: CheckpointSource = {
      config,
      generationConfig,
      tokenizer,
      tokenizerConfig,
      chatTemplate,
      tensorNames: [...fileOf.keys()],
      async tensorInfo(name) {
        const e = files.get(fileOf.get(name)!)!.entries.get(name)!;
        return { dtype: e.dtype as "F32" | "F16" | "BF16", shape: e.shape };
      },
      async readTensor(name) {
        const t = await files.get(fileOf.get(name)!)!.readTensor(name);
        // safetensors files hold float tensors only; block-quantised dtypes exist only after load-time quantisation.
        if (t.dtype === "Q8_0" || t.dtype === "Q4_0") {
          throw new InferenceError({ code: "unsupported", op: "cpu.convert", message: `tensor "${name}" is ${t.dtype}` });
        }
        return { dtype: t.dtype, shape: t.shape, data: t.data };
      },
    };
    return await convertToGGUF(source, outPath, opts);
  } finally {
    for (const f of files.values()) await f.close().catch(() => undefined);
  }
}
