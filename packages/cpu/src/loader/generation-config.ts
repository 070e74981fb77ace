/**
 * Reads generation_config.json into `GenerationDefaults`: the EOS/BOS ids and the sampling settings a checkpoint
 * ships, with transformers' GenerationConfig defaults for missing fields and its rule that `do_sample: false` (the
 * default) means greedy. Values use the contract's conventions (temperature 0 = greedy, 0 = off for top-k/top-p/min-p,
 * repeat penalty 1 = none). Not where caller options are merged: the backend fills only options the caller left unset.
 */
import { InferenceError } from "@dappcore/inference";
import { FieldReader, isJsonObject } from "./config-fields.js";

/** What a checkpoint suggests for generation. */
export interface GenerationDefaults {
  readonly bosTokenId: number | undefined;
  /** Generation stops at any of these; empty when the file names none. */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | undefined;
  /** generation_config.json `do_sample` (default false): when false the settings below are greedy. */
  readonly doSample: boolean;
  /** 0 = greedy. */
  readonly temperature: number;
  /** 0 = off. */
  readonly topK: number;
  /** 0 = off. */
  readonly topP: number;
  /** 0 = off. */
  readonly minP: number;
  /** 1 = none (Hugging Face `repetition_penalty`). */
  readonly repetitionPenalty: number;
  /** `max_new_tokens` when the file sets it. */
  readonly maxNewTokens: number | undefined;
}

/** Defaults when a checkpoint has no generation_config.json: greedy, no penalty, no ids. */
export const GREEDY_DEFAULTS: GenerationDefaults = Object.freeze({
  bosTokenId: undefined,
  eosTokenIds: Object.freeze([]) as readonly number[],
  padTokenId: undefined,
  doSample: false,
  temperature: 0,
  topK: 0,
  topP: 0,
  minP: 0,
  repetitionPenalty: 1,
  maxNewTokens: undefined,
});

/**
 * Reads generation_config.json (already parsed). Throws `InferenceError` (`invalid_model`) naming the field for a
 * value out of range.
 *
 * @example readGenerationConfig({ do_sample: true, temperature: 0.6, top_p: 0.9, eos_token_id: [128001, 128009] })
 */
export function readGenerationConfig(raw: unknown, source = "generation_config.json"): GenerationDefaults {
  if (!isJsonObject(raw)) {
    throw new InferenceError({
      code: "invalid_model",
      op: "generation-config.read",
      message: `${source}: is not a JSON object`,
      details: { source },
    });
  }
  const f = new FieldReader(raw, source, "generation-config.read");
  const doSample = f.bool("do_sample", false);
  // Every field is validated whether or not do_sample uses it, so a broken file never passes silently.
  const temperature = f.positiveNumber("temperature", 1, true);
  const topKRaw = f.value("top_k");
  if (topKRaw !== undefined && !(typeof topKRaw === "number" && Number.isSafeInteger(topKRaw) && topKRaw >= 0)) {
    throw f.invalid("top_k", `must be a non-negative integer, got ${JSON.stringify(topKRaw)}`);
  }
  const topK = (topKRaw as number | undefined) ?? 50;
  const topP = f.numberIn("top_p", 1, 0, 1);
  const minP = f.numberIn("min_p", 0, 0, 1);
  const repetitionPenalty = f.positiveNumber("repetition_penalty", 1);
  const maxNew = f.value("max_new_tokens");
  const maxNewTokens = maxNew === undefined ? undefined : f.positiveInt("max_new_tokens");
  const sampling = doSample && temperature > 0;
  return {
    bosTokenId: f.tokenId("bos_token_id"),
    eosTokenIds: f.tokenIds("eos_token_id"),
    padTokenId: f.tokenId("pad_token_id"),
    doSample,
    temperature: sampling ? temperature : 0,
    topK: sampling ? topK : 0,
    topP: sampling && topP < 1 ? topP : 0,
    minP: sampling ? minP : 0,
    repetitionPenalty,
    maxNewTokens,
  };
}
