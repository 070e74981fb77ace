/**
 * Resolves the sampling settings of one request: what the caller set explicitly wins, then the checkpoint's
 * generation_config.json, then the contract's defaults (greedy, no penalty). Not the sampler itself.
 */
import type { GenerateConfig } from "@dappcore/inference";
import type { GenerationDefaults } from "../loader/config.js";

export interface ResolvedSampling {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly repeatPenalty: number;
}

export function resolveSampling(config: GenerateConfig, defaults: GenerationDefaults): ResolvedSampling {
  const pick = <K extends keyof ResolvedSampling>(key: K, fromCheckpoint: number | undefined): number =>
    config.explicit.has(key) ? (config[key] as number) : (fromCheckpoint ?? (config[key] as number));
  return {
    temperature: pick("temperature", defaults.temperature),
    topK: pick("topK", defaults.topK),
    topP: pick("topP", defaults.topP),
    minP: pick("minP", defaults.minP),
    repeatPenalty: pick("repeatPenalty", defaults.repetitionPenalty),
  };
}
