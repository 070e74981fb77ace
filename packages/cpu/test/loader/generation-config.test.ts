// generation_config.json: transformers' GenerationConfig defaults, do_sample false meaning greedy, EOS as one id or
// a list, and a typed error for every bad value.
import { describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { GREEDY_DEFAULTS, readGenerationConfig } from "../../src/loader/config.js";

function fails(raw: unknown, message: RegExp): void {
  let err: unknown;
  try {
    readGenerationConfig(raw);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InferenceError);
  expect((err as InferenceError).code).toBe("invalid_model");
  expect((err as InferenceError).message).toMatch(message);
}

describe("readGenerationConfig", () => {
  it("an empty file is greedy with no ids", () => {
    expect(readGenerationConfig({})).toEqual(GREEDY_DEFAULTS);
  });

  it("do_sample false (Qwen2.5-style) keeps only ids and the repetition penalty", () => {
    const g = readGenerationConfig({ bos_token_id: 151643, eos_token_id: 151645, do_sample: false, temperature: 0.7, top_p: 0.8, top_k: 20, repetition_penalty: 1.05 });
    expect(g).toEqual({ ...GREEDY_DEFAULTS, bosTokenId: 151643, eosTokenIds: [151645], repetitionPenalty: 1.05 });
  });

  it("do_sample true (Llama 3.1-style): temperature and top_p, with transformers' top_k default of 50", () => {
    const g = readGenerationConfig({ bos_token_id: 128000, eos_token_id: [128001, 128008, 128009], do_sample: true, temperature: 0.6, top_p: 0.9 });
    expect(g).toMatchObject({ doSample: true, temperature: 0.6, topK: 50, topP: 0.9, minP: 0, repetitionPenalty: 1, eosTokenIds: [128001, 128008, 128009], bosTokenId: 128000 });
  });

  it("do_sample true (Qwen3-style) with top_k, min_p, pad and max_new_tokens", () => {
    const g = readGenerationConfig({ do_sample: true, temperature: 0.6, top_k: 20, top_p: 0.95, min_p: 0.05, pad_token_id: 151643, max_new_tokens: 2048 });
    expect(g).toMatchObject({ temperature: 0.6, topK: 20, topP: 0.95, minP: 0.05, padTokenId: 151643, maxNewTokens: 2048 });
  });

  it("do_sample true with defaults: temperature 1, top_k 50, top_p 1 (off)", () => {
    expect(readGenerationConfig({ do_sample: true })).toMatchObject({ temperature: 1, topK: 50, topP: 0, minP: 0 });
  });

  it("do_sample true with temperature 0 is greedy", () => {
    expect(readGenerationConfig({ do_sample: true, temperature: 0, top_k: 5 })).toMatchObject({ temperature: 0, topK: 0 });
  });

  it("rejects bad values, naming the field", () => {
    fails(null, /generation_config\.json: is not a JSON object/);
    fails({ temperature: -1 }, /temperature must be a finite number >= 0, got -1/);
    fails({ top_p: 1.5 }, /top_p must be a number in \[0, 1\], got 1\.5/);
    fails({ min_p: -0.1 }, /min_p must be a number in \[0, 1\]/);
    fails({ top_k: 2.5 }, /top_k must be a non-negative integer, got 2\.5/);
    fails({ repetition_penalty: 0 }, /repetition_penalty must be a finite number > 0, got 0/);
    fails({ do_sample: "yes" }, /do_sample must be true or false/);
    fails({ eos_token_id: [1, -2] }, /eos_token_id must be a token id or a list of token ids/);
    fails({ bos_token_id: "1" }, /bos_token_id must be a non-negative integer/);
    fails({ max_new_tokens: 0 }, /max_new_tokens must be a positive integer, got 0/);
  });
});
