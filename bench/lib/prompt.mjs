// The benchmark prompt: plain ASCII text of an exact byte length. The checkpoints use a byte-level tokenizer with no
// merges, so every byte is one token and the same text is the same token ids in our tokenizer and in llama.cpp's
// (both engines check that before timing anything). Not a tokenizer.
import { InferenceError } from "@dappcore/inference";

const SENTENCE =
  "The quick brown fox jumps over the lazy dog while seven wizards quietly box the jumping frogs near a misty lake. ";

/** `bytes` bytes of deterministic ASCII text. */
export function promptText(bytes) {
  if (!Number.isInteger(bytes) || bytes < 1) {
    throw new InferenceError({ code: "invalid_argument", op: "bench.prompt", message: `prompt length must be a positive integer, got ${bytes}` });
  }
  return SENTENCE.repeat(Math.ceil(bytes / SENTENCE.length)).slice(0, bytes);
}
