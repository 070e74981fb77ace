/**
 * The `normalizer` section of `tokenizer.json`: text rewrites applied to each piece of input before pre-tokenization
 * (Unicode normal forms, Replace, Prepend, Strip, Lowercase, Sequence).
 *
 * This file is not the pre-tokenizer or the model; an unknown normalizer type fails at load with `unsupported`.
 */
import { InferenceError } from "@dappcore/inference";
import { compileTokenizerRegex } from "./tokenizer-regex.js";

/** A compiled normalizer: text in, text out. */
export type Normalizer = (text: string) => string;

type Json = Record<string, unknown>;

/** Compiles the `normalizer` object of `tokenizer.json` (`null` gives the identity). */
export function compileNormalizer(spec: unknown): Normalizer {
  if (spec === null || spec === undefined) return (t) => t;
  const s = spec as Json;
  switch (s["type"]) {
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD": {
      const form = s["type"];
      return (t) => t.normalize(form);
    }
    case "Lowercase":
      return (t) => t.toLowerCase();
    case "Prepend": {
      const prefix = String(s["prepend"] ?? "");
      return (t) => (t.length === 0 ? t : prefix + t);
    }
    case "Strip": {
      const left = s["strip_left"] !== false;
      const right = s["strip_right"] !== false;
      return (t) => (left && right ? t.trim() : left ? t.trimStart() : right ? t.trimEnd() : t);
    }
    case "Replace": {
      const replace = compileReplace(s);
      return replace;
    }
    case "Sequence": {
      const parts = ((s["normalizers"] as unknown[]) ?? []).map(compileNormalizer);
      return (t) => parts.reduce((acc, f) => f(acc), t);
    }
    default:
      throw new InferenceError({
        code: "unsupported",
        op: "cpu.loadTokenizer",
        message: `tokenizer.json normalizer type ${JSON.stringify(s["type"])} is not supported`,
        details: { normalizer: s["type"] },
      });
  }
}

/** `Replace` with a `{ String }` or `{ Regex }` pattern; shared with the Replace decoder. */
export function compileReplace(s: Json): (text: string) => string {
  const pattern = s["pattern"] as Json | undefined;
  const content = String(s["content"] ?? "");
  if (pattern && typeof pattern["String"] === "string") {
    const needle = pattern["String"];
    return (t) => (needle.length === 0 ? t : t.split(needle).join(content));
  }
  if (pattern && typeof pattern["Regex"] === "string") {
    const re = compileTokenizerRegex(pattern["Regex"]);
    return (t) => t.replace(re, () => content);
  }
  throw new InferenceError({
    code: "invalid_model",
    op: "cpu.loadTokenizer",
    message: "tokenizer.json Replace has no String or Regex pattern",
  });
}
