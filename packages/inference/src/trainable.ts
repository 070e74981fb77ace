/**
 * Helpers for the training surface: the default LoRA settings and the guard that tells a `TrainableModel` from a
 * plain `TextModel`. The types themselves are in `types.ts`; loading (`loadTrainable`) is in `registry.ts`.
 */
import type { LoRAConfig, TextModel, TrainableModel } from "./types.js";

/** Rank 8, alpha 16, targets q_proj and v_proj (Go's `DefaultLoRAConfig`). A fresh object and array on every call. */
export function defaultLoRAConfig(): LoRAConfig {
  return { rank: 8, alpha: 16, targetKeys: ["q_proj", "v_proj"] };
}

const TRAINING_METHODS = ["applyLoRA", "encode", "decode", "numLayers", "loss", "backward", "step", "zeroGrad"] as const;

/** True when `model` has every method of `TrainableModel` (checked by presence, as Go checks by type assertion). */
export function isTrainableModel(model: unknown): model is TrainableModel {
  if (!isTextModel(model)) return false;
  const m = model as unknown as Record<string, unknown>;
  return TRAINING_METHODS.every((k) => typeof m[k] === "function");
}

const MODEL_METHODS = ["generate", "chat", "classify", "batchGenerate", "modelType", "info", "metrics", "err", "close"] as const;

/** True when `value` has every method of `TextModel`. */
export function isTextModel(value: unknown): value is TextModel {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Record<string, unknown>;
  return MODEL_METHODS.every((k) => typeof m[k] === "function");
}
