/**
 * The files a `CpuTrainableModel` writes and reads: its training state for resuming (`training-state.json` with the
 * mode, step, learning rate and LoRA settings, and `training-state.safetensors` with every trainable tensor and its
 * two AdamW moments), and a complete Hugging Face model directory of fully fine-tuned weights. Not the model and not
 * the optimiser: this file only moves checked arrays between memory and disk.
 */
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InferenceError } from "@dappcore/inference";
import { decodeFloats, encodeFloats } from "../dtype.js";
import { openSafetensors } from "../loader/safetensors-reader.js";
import { writeSafetensors, type TensorToWrite } from "../loader/safetensors-writer.js";
import type { LoadedCheckpoint } from "../loader/model-dir.js";
import type { NormalizedLoRAConfig } from "./lora-config.js";

export const STATE_CONFIG_FILE = "training-state.json";
export const STATE_TENSORS_FILE = "training-state.safetensors";
const FORMAT = "dappcore-cpu-training-state";

/** One trainable tensor as saved: its name, shape, values and AdamW moments. */
export interface SavedParameter {
  readonly name: string;
  readonly shape: readonly number[];
  readonly value: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

/** Everything a resumed run needs (pending, not yet stepped gradients are not part of it). */
export interface TrainingStateFiles {
  readonly mode: "lora" | "full";
  /** Optimiser steps taken. */
  readonly step: number;
  readonly learningRate: number;
  readonly epoch: number;
  /** LoRA mode: the adapter's settings. */
  readonly lora: NormalizedLoRAConfig | undefined;
  readonly params: readonly SavedParameter[];
  /** The LoRA dropout stream's position (four 32-bit words); absent in states written before it was saved. */
  readonly dropoutRng?: readonly number[];
}

async function writeThenRename(path: string, write: (tmp: string) => Promise<void>, op: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await write(tmp);
    await rename(tmp, path);
  } catch (cause) {
    await rm(tmp, { force: true });
    if (cause instanceof InferenceError) throw cause;
    throw new InferenceError({ code: "internal", op, message: `cannot write ${path}`, cause, details: { path } });
  }
}

async function makeDir(dir: string, op: string): Promise<void> {
  if (typeof dir !== "string" || dir === "") throw new InferenceError({ code: "invalid_argument", op, message: "a directory must be a non-empty string" });
  try {
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw new InferenceError({ code: "invalid_argument", op, message: `cannot create directory ${dir}`, cause, details: { dir } });
  }
}

/** Writes the state into `dir` (created when missing); each file is written beside its name and renamed into place. */
export async function writeTrainingState(dir: string, state: TrainingStateFiles): Promise<void> {
  const op = "cpu.saveTrainingState";
  await makeDir(dir, op);
  const tensors: TensorToWrite[] = [];
  for (const p of state.params) {
    for (const [prefix, data] of [["param", p.value], ["adam_m", p.m], ["adam_v", p.v]] as const) {
      tensors.push({ name: `${prefix}.${p.name}`, dtype: "F32", shape: [...p.shape], data: encodeFloats(data, "F32") });
    }
  }
  const json = {
    format: FORMAT,
    version: 1,
    mode: state.mode,
    step: state.step,
    learningRate: state.learningRate,
    epoch: state.epoch,
    lora: state.lora === undefined ? null : { ...state.lora, targetKeys: [...state.lora.targetKeys] },
    params: state.params.map((p) => ({ name: p.name, shape: [...p.shape] })),
    ...(state.dropoutRng === undefined ? {} : { dropoutRng: [...state.dropoutRng] }),
  };
  await writeThenRename(join(dir, STATE_TENSORS_FILE), (tmp) => writeSafetensors(tmp, tensors), op);
  await writeThenRename(join(dir, STATE_CONFIG_FILE), (tmp) => writeFile(tmp, `${JSON.stringify(json, null, 2)}\n`), op);
}

/**
 * Reads a state written by `writeTrainingState`. Throws `invalid_model` naming the file (and field or tensor) when
 * a file is missing or malformed, a tensor is missing or has the wrong shape, or a value is not finite.
 */
export async function readTrainingState(dir: string): Promise<TrainingStateFiles> {
  const op = "cpu.loadTrainingState";
  const configPath = join(dir, STATE_CONFIG_FILE);
  const tensorsPath = join(dir, STATE_TENSORS_FILE);
  const bad = (path: string, message: string, cause?: unknown) =>
    new InferenceError({ code: "invalid_model", op, message: `${path}: ${message}`, details: { path }, ...(cause === undefined ? {} : { cause }) });
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(configPath, "utf8"));
  } catch (cause) {
    throw bad(configPath, "cannot be read as JSON (is this a training-state directory?)", cause);
  }
  const j = raw as Record<string, unknown>;
  if (typeof j !== "object" || j === null || j["format"] !== FORMAT || j["version"] !== 1) throw bad(configPath, `is not a ${FORMAT} version 1 file`);
  const mode = j["mode"];
  if (mode !== "lora" && mode !== "full") throw bad(configPath, `mode must be "lora" or "full", got ${JSON.stringify(mode)}`);
  const step = j["step"];
  if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) throw bad(configPath, `step must be an integer >= 0, got ${JSON.stringify(step)}`);
  const learningRate = j["learningRate"];
  if (typeof learningRate !== "number" || !Number.isFinite(learningRate) || learningRate < 0) throw bad(configPath, `learningRate must be a finite number >= 0`);
  const epoch = typeof j["epoch"] === "number" ? j["epoch"] : 0;
  const lora = j["lora"];
  if (mode === "lora" && (typeof lora !== "object" || lora === null)) throw bad(configPath, "lora settings are missing");
  const list = j["params"];
  if (!Array.isArray(list) || list.length === 0) throw bad(configPath, "params must be a non-empty list");
  const dropoutRng = j["dropoutRng"];
  const word = (w: unknown) => typeof w === "number" && Number.isInteger(w) && w >= 0 && w <= 0xffffffff;
  if (dropoutRng !== undefined && !(Array.isArray(dropoutRng) && dropoutRng.length === 4 && dropoutRng.every(word) && dropoutRng.some((w) => w !== 0))) {
    throw bad(configPath, `dropoutRng must be four 32-bit words, not all zero, got ${JSON.stringify(dropoutRng)}`);
  }

  const file = await openSafetensors(tensorsPath).catch((cause: unknown) => {
    throw cause instanceof InferenceError ? cause : bad(tensorsPath, "cannot be opened", cause);
  });
  try {
    const params: SavedParameter[] = [];
    for (const entry of list as { name?: unknown; shape?: unknown }[]) {
      const { name, shape } = entry ?? {};
      if (typeof name !== "string" || !Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
        throw bad(configPath, `params holds a malformed entry ${JSON.stringify(entry)}`);
      }
      const n = (shape as number[]).reduce((a, b) => a * b, 1);
      const read = async (prefix: string) => {
        const key = `${prefix}.${name}`;
        const e = file.entries.get(key);
        if (e === undefined) throw bad(tensorsPath, `tensor "${key}" is missing`);
        if (e.dtype !== "F32" || e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
          throw bad(tensorsPath, `tensor "${key}" is ${e.dtype} [${e.shape.join(", ")}], expected F32 [${shape.join(", ")}]`);
        }
        const values = decodeFloats((await file.readTensor(key)).data, "F32");
        for (let i = 0; i < n; i++) if (!Number.isFinite(values[i])) throw bad(tensorsPath, `tensor "${key}" holds a non-finite value at index ${i}`);
        return values;
      };
      params.push({ name, shape: shape as number[], value: await read("param"), m: await read("adam_m"), v: await read("adam_v") });
    }
    return {
      mode, step, learningRate, epoch, lora: mode === "lora" ? (lora as NormalizedLoRAConfig) : undefined, params,
      ...(dropoutRng === undefined ? {} : { dropoutRng: dropoutRng as number[] }),
    };
  } finally {
    await file.close();
  }
}

/** Files of a Hugging Face directory besides config and weights that `writeModelDirectory` copies when present. */
const COPIED = [
  "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
  "chat_template.jinja", "chat_template.json", "tokenizer.model", "vocab.json", "merges.txt",
];

/**
 * Writes a complete Hugging Face model directory into `dir`: config.json (the source's, with `torch_dtype` set),
 * the source directory's tokenizer and generation files, and `model.safetensors` of `tensors` (float32 values) in
 * F32 or BF16 (round to nearest even).
 */
export async function writeModelDirectory(
  dir: string,
  source: LoadedCheckpoint,
  tensors: readonly TensorToWrite[],
  dtype: "F32" | "BF16",
): Promise<void> {
  const op = "cpu.saveWeights";
  await makeDir(dir, op);
  const out: TensorToWrite[] =
    dtype === "F32"
      ? [...tensors]
      : tensors.map((t) => ({ ...t, dtype: "BF16" as const, data: encodeFloats(decodeFloats(t.data, "F32"), "BF16") }));
  await writeThenRename(join(dir, "model.safetensors"), (tmp) => writeSafetensors(tmp, out, { format: "pt" }), op);
  const config = { ...source.rawConfig, torch_dtype: dtype === "F32" ? "float32" : "bfloat16" };
  await writeThenRename(join(dir, "config.json"), (tmp) => writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`), op);
  const isDir = await stat(source.dir).then((s) => s.isDirectory(), () => false);
  if (!isDir) return;
  const present = new Set(await readdir(source.dir));
  for (const name of COPIED) {
    if (!present.has(name)) continue;
    await writeThenRename(join(dir, name), (tmp) => copyFile(join(source.dir, name), tmp), op);
  }
}
