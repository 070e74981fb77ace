/**
 * The `pre_tokenizer` section of `tokenizer.json`: splits normalized text into the pieces that BPE sees, with the
 * Hugging Face split behaviours (Split with Removed / Isolated / MergedWithPrevious / MergedWithNext / Contiguous,
 * ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Sequence).
 *
 * This file is not the BPE model; an unknown pre-tokenizer type fails at load with `unsupported`.
 */
import { InferenceError } from "@dappcore/inference";
import { bytesToAlphabet } from "./byte-level.js";
import { compileTokenizerRegex } from "./tokenizer-regex.js";

/** A compiled pre-tokenizer. `first` is true for the first section of the input (Metaspace `prepend_scheme: "first"`). */
export type PreTokenizer = (pieces: string[], first: boolean) => string[];

type Json = Record<string, unknown>;
type Behavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";

const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

function unsupported(what: string): InferenceError {
  return new InferenceError({
    code: "unsupported",
    op: "cpu.loadTokenizer",
    message: `tokenizer.json pre_tokenizer ${what} is not supported`,
  });
}

/** Compiles the `pre_tokenizer` object of `tokenizer.json` (`null` keeps each piece whole). */
export function compilePreTokenizer(spec: unknown): PreTokenizer {
  if (spec === null || spec === undefined) return (p) => p;
  const s = spec as Json;
  switch (s["type"]) {
    case "Sequence": {
      const parts = ((s["pretokenizers"] as unknown[]) ?? []).map(compilePreTokenizer);
      return (pieces, first) => parts.reduce((acc, f) => f(acc, first), pieces);
    }
    case "Split": {
      const behavior = String(s["behavior"]) as Behavior;
      if (!["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"].includes(behavior)) {
        throw unsupported(`Split behavior ${JSON.stringify(s["behavior"])}`);
      }
      const pattern = s["pattern"] as Json | undefined;
      const matcher =
        typeof pattern?.["Regex"] === "string"
          ? regexMatcher(compileTokenizerRegex(pattern["Regex"]))
          : typeof pattern?.["String"] === "string"
            ? stringMatcher(pattern["String"])
            : undefined;
      if (!matcher) throw unsupported("Split without a String or Regex pattern");
      const invert = s["invert"] === true;
      return (pieces) => pieces.flatMap((p) => split(p, matcher, behavior, invert));
    }
    case "ByteLevel": {
      const addPrefixSpace = s["add_prefix_space"] === true;
      const useRegex = s["use_regex"] !== false;
      const gpt2 = regexMatcher(compileTokenizerRegex(GPT2_PATTERN));
      return (pieces) =>
        pieces
          .map((p) => (addPrefixSpace && !p.startsWith(" ") ? ` ${p}` : p))
          .flatMap((p) => (useRegex ? split(p, gpt2, "Isolated", false) : [p]))
          .map(bytesToAlphabet);
    }
    case "Metaspace": {
      const replacement = String(s["replacement"] ?? "▁");
      const scheme =
        typeof s["prepend_scheme"] === "string" ? s["prepend_scheme"] : s["add_prefix_space"] === false ? "never" : "always";
      const splitOn = s["split"] !== false;
      return (pieces, first) =>
        pieces.flatMap((p) => {
          let t = p.split(" ").join(replacement);
          if ((scheme === "always" || (scheme === "first" && first)) && !t.startsWith(replacement)) t = replacement + t;
          return splitOn ? split(t, stringMatcher(replacement), "MergedWithNext", false) : [t];
        });
    }
    case "Digits": {
      const individual = s["individual_digits"] === true;
      const matcher = regexMatcher(individual ? /[0-9]/gu : /[0-9]+/gu);
      return (pieces) => pieces.flatMap((p) => split(p, matcher, "Isolated", false));
    }
    case "Whitespace": {
      const matcher = regexMatcher(/[\p{L}\p{M}\p{Nd}\p{Pc}]+|[^\p{L}\p{M}\p{Nd}\p{Pc}\s]+/gu);
      return (pieces) => pieces.flatMap((p) => split(p, matcher, "Isolated", true));
    }
    case "WhitespaceSplit": {
      const matcher = regexMatcher(/\s+/gu);
      return (pieces) => pieces.flatMap((p) => split(p, matcher, "Removed", false));
    }
    default:
      throw unsupported(`type ${JSON.stringify(s["type"])}`);
  }
}

type Matcher = (text: string) => Array<[number, number]>;

function regexMatcher(re: RegExp): Matcher {
  return (text) => {
    const out: Array<[number, number]> = [];
    re.lastIndex = 0;
    for (const m of text.matchAll(re)) {
      if (m[0].length > 0) out.push([m.index, m.index + m[0].length]);
    }
    return out;
  };
}

function stringMatcher(needle: string): Matcher {
  return (text) => {
    const out: Array<[number, number]> = [];
    if (needle.length === 0) return out;
    for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) {
      out.push([i, i + needle.length]);
    }
    return out;
  };
}

/** One Split step with Hugging Face semantics; empty pieces are dropped. */
function split(text: string, matcher: Matcher, behavior: Behavior, invert: boolean): string[] {
  const segments: Array<[number, number, boolean]> = [];
  let pos = 0;
  for (const [a, b] of matcher(text)) {
    if (a > pos) segments.push([pos, a, invert]);
    segments.push([a, b, !invert]);
    pos = b;
  }
  if (pos < text.length) segments.push([pos, text.length, invert]);

  const merged: Array<[number, number]> = [];
  switch (behavior) {
    case "Removed":
      for (const [a, b, m] of segments) if (!m) merged.push([a, b]);
      break;
    case "Isolated":
      for (const [a, b] of segments) merged.push([a, b]);
      break;
    case "MergedWithPrevious": {
      let previousMatch = false;
      for (const [a, b, m] of segments) {
        const last = merged[merged.length - 1];
        if (m && !previousMatch && last) last[1] = b;
        else merged.push([a, b]);
        previousMatch = m;
      }
      break;
    }
    case "MergedWithNext": {
      let previousMatch = false;
      for (let i = segments.length - 1; i >= 0; i--) {
        const [a, b, m] = segments[i] as [number, number, boolean];
        const last = merged[merged.length - 1];
        if (m && !previousMatch && last) last[0] = a;
        else merged.push([a, b]);
        previousMatch = m;
      }
      merged.reverse();
      break;
    }
    case "Contiguous": {
      let previousMatch: boolean | undefined;
      for (const [a, b, m] of segments) {
        const last = merged[merged.length - 1];
        if (m === previousMatch && last) last[1] = b;
        else merged.push([a, b]);
        previousMatch = m;
      }
      break;
    }
  }
  return merged.filter(([a, b]) => b > a).map(([a, b]) => text.slice(a, b));
}
