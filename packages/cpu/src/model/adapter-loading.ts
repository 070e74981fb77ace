/**
 * Reads a PEFT LoRA adapter directory for the inference engine: `training/peft.ts`'s `loadAdapter`, validated against
 * the model's projections, turned into the engine's `EngineAdapter` (per-module A, B, rank and scale), with a summary
 * of what is active for capabilities. Not the file format (peft.ts) and not the LoRA arithmetic (engine/lora-slots.ts).
 */
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig } from "../model-config.js";
import { loraModuleShapes, type EngineAdapter, type EngineLoraModule } from "../engine/lora-slots.js";
import { loadAdapter } from "../training/peft.js";

/** What a loaded model reports about its adapter. */
export interface ActiveAdapterInfo {
  /** The directory it was read from ("" for an adapter being trained in memory). */
  readonly path: string;
  readonly rank: number;
  readonly alpha: number;
  /** The factor of the update: alpha / rank (alpha / √rank with rsLoRA). */
  readonly scale: number;
  readonly targetKeys: readonly string[];
  /** Number of adapted projections. */
  readonly modules: number;
}

/**
 * Reads the adapter in `dir` for a model of `config`. Errors (nothing is changed by them): `invalid_argument` for a
 * path that is not a non-empty string; from `loadAdapter`: `invalid_model` naming the file and field or tensor for a
 * missing or malformed file, r <= 0, non-finite alpha, a missing tensor, a shape that does not fit the model, targets
 * that match no module; `unsupported` for LoRA variants this backend does not compute.
 *
 * @example const { adapter } = await readEngineAdapter("out/adapter", checkpoint.config); engine.setAdapter(adapter);
 */
export async function readEngineAdapter(dir: string, config: ModelConfig): Promise<{ adapter: EngineAdapter; info: ActiveAdapterInfo }> {
  if (typeof dir !== "string" || dir === "") {
    throw new InferenceError({
      code: "invalid_argument",
      op: "inference.withAdapterPath",
      message: "an adapter path must be a non-empty string",
      details: { option: "adapterPath" },
    });
  }
  const loaded = await loadAdapter(dir, { modules: loraModuleShapes(config) });
  const modules = new Map<string, EngineLoraModule>();
  for (const [name, m] of loaded.modules) modules.set(name, { a: m.a, b: m.b, rank: m.rank, scale: loaded.scale });
  return {
    adapter: { modules },
    info: {
      path: dir,
      rank: loaded.config.rank,
      alpha: loaded.config.alpha,
      scale: loaded.scale,
      targetKeys: [...loaded.config.targetKeys],
      modules: modules.size,
    },
  };
}
