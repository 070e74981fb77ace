/**
 * Which model directory a command uses (--model, else $INFERENCE_MODEL, else the bundled default) and the check
 * that it exists, with a message that says how to get one. This file does not load anything.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { CliFailure } from "./cli-failure.js";

export type ModelSource = "flag" | "env" | "default";

export interface ModelLocation {
  readonly path: string;
  readonly source: ModelSource;
}

/** Resolves the model path against `cwd`, by precedence: the flag, INFERENCE_MODEL, the default directory. */
export function locateModel(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
  defaultDir: string,
): ModelLocation {
  if (flag !== undefined) return { path: resolve(cwd, flag), source: "flag" };
  const fromEnv = env.INFERENCE_MODEL;
  if (fromEnv !== undefined && fromEnv.trim() !== "") return { path: resolve(cwd, fromEnv), source: "env" };
  return { path: defaultDir, source: "default" };
}

/** Fails with a `CliFailure` naming the path, and how to fix it, when nothing is there. */
export async function requireModel(location: ModelLocation): Promise<void> {
  try {
    await stat(location.path);
    return;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") {
      throw new CliFailure(`cannot read model ${location.path}: ${(e as Error).message}`);
    }
  }
  switch (location.source) {
    case "default":
      throw new CliFailure(
        `the bundled default model is missing (${location.path})`,
        "it ships in packages/cli/model (reproduce it with scripts/demo-model/train.mjs), or pass --model DIR, or set INFERENCE_MODEL",
      );
    case "env":
      throw new CliFailure(
        `model not found: ${location.path} (from INFERENCE_MODEL)`,
        "set INFERENCE_MODEL to a Hugging Face model directory, or pass --model DIR",
      );
    default:
      throw new CliFailure(
        `model not found: ${location.path}`,
        "--model takes a Hugging Face model directory (config.json, *.safetensors, tokenizer.json) or a .gguf file",
      );
  }
}
