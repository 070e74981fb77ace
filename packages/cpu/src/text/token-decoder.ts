/**
 * The `decoder` section of `tokenizer.json`, compiled to a per-token function `token string → bytes` plus a count of
 * leading spaces to drop from the start of a decoded sequence. Decoding is then "concatenate bytes, UTF-8 decode",
 * which is what makes streaming exact: a stream decoder holds back only an incomplete UTF-8 tail.
 *
 * Supported: ByteLevel, ByteFallback, Replace, Fuse, Strip, Metaspace, Sequence. A Strip that follows Fuse (Llama 2
 * style) or a Metaspace prefix becomes the sequence-level leading strip. This file is not the stream decoder
 * (`stream-decoder.ts`) and does not know about special tokens.
 */
import { InferenceError } from "@dappcore/inference";
import { alphabetToBytes } from "./byte-level.js";
import { compileReplace } from "./normalizer.js";

/** A compiled decoder. */
export interface TokenDecoder {
  /** The bytes one token contributes. */
  tokenBytes(token: string): Uint8Array;
  /** Spaces to drop from the start of a decoded sequence (Metaspace prefix, or `Strip` after `Fuse`). */
  readonly leadingSpaces: number;
}

type Piece = string | Uint8Array;
type Step = (p: Piece) => Piece;
type Json = Record<string, unknown>;

const encoder = new TextEncoder();
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

function unsupported(what: string): InferenceError {
  return new InferenceError({
    code: "unsupported",
    op: "cpu.loadTokenizer",
    message: `tokenizer.json decoder ${what} is not supported`,
  });
}

/** Compiles the `decoder` object of `tokenizer.json` (`null`: each token's own UTF-8 bytes). */
export function compileTokenDecoder(spec: unknown): TokenDecoder {
  const steps: Step[] = [];
  let leadingSpaces = 0;
  let fused = false;
  const add = (s: Json): void => {
    switch (s["type"]) {
      case "Sequence":
        for (const d of (s["decoders"] as Json[] | undefined) ?? []) add(d);
        return;
      case "ByteLevel":
        steps.push((p) => (typeof p === "string" ? (alphabetToBytes(p) ?? encoder.encode(p)) : p));
        return;
      case "ByteFallback":
        steps.push((p) => {
          if (typeof p !== "string") return p;
          const m = BYTE_TOKEN.exec(p);
          return m ? Uint8Array.of(parseInt(m[1] as string, 16)) : p;
        });
        return;
      case "Replace": {
        const replace = compileReplace(s);
        steps.push((p) => (typeof p === "string" ? replace(p) : p));
        return;
      }
      case "Fuse":
        fused = true;
        return;
      case "Strip": {
        const content = String(s["content"] ?? " ");
        const start = Number(s["start"] ?? 0);
        const stop = Number(s["stop"] ?? 0);
        if (fused) {
          if (content !== " " || stop !== 0) throw unsupported("Strip of trailing or non-space characters after Fuse");
          leadingSpaces += start;
          return;
        }
        steps.push((p) => (typeof p === "string" ? stripToken(p, content, start, stop) : p));
        return;
      }
      case "Metaspace": {
        const replacement = String(s["replacement"] ?? "▁");
        const scheme =
          typeof s["prepend_scheme"] === "string" ? s["prepend_scheme"] : s["add_prefix_space"] === false ? "never" : "always";
        steps.push((p) => (typeof p === "string" ? p.split(replacement).join(" ") : p));
        if (scheme !== "never") leadingSpaces += 1;
        return;
      }
      default:
        throw unsupported(`type ${JSON.stringify(s["type"])}`);
    }
  };
  if (spec !== null && spec !== undefined) add(spec as Json);
  return {
    leadingSpaces,
    tokenBytes(token: string): Uint8Array {
      let p: Piece = token;
      for (const step of steps) p = step(p);
      return typeof p === "string" ? encoder.encode(p) : p;
    },
  };
}

function stripToken(token: string, content: string, start: number, stop: number): string {
  const chars = Array.from(token);
  let a = 0;
  let b = chars.length;
  while (a < start && a < b && chars[a] === content) a++;
  while (chars.length - b < stop && b > a && chars[b - 1] === content) b--;
  return chars.slice(a, b).join("");
}
