/**
 * The `post_processor` section of `tokenizer.json`, reduced to what single-sequence encoding needs: the ids placed
 * before and after the text when special tokens are added (TemplateProcessing, RobertaProcessing, BertProcessing;
 * ByteLevel adds nothing to ids).
 *
 * This file is not about pairs of sequences, offsets or type ids, which generation does not use.
 */
import { InferenceError } from "@dappcore/inference";

/** Ids to wrap a single encoded sequence in. */
export interface SpecialTokenWrap {
  readonly prefix: readonly number[];
  readonly suffix: readonly number[];
}

type Json = Record<string, unknown>;

function invalid(message: string): InferenceError {
  return new InferenceError({ code: "invalid_model", op: "cpu.loadTokenizer", message: `tokenizer.json post_processor ${message}` });
}

/** Compiles the `post_processor` object (`null`: nothing is added). */
export function compilePostProcessor(spec: unknown): SpecialTokenWrap {
  const prefix: number[] = [];
  const suffix: number[] = [];
  const add = (s: Json): void => {
    switch (s["type"]) {
      case "ByteLevel":
        return;
      case "Sequence":
        for (const p of (s["processors"] as Json[] | undefined) ?? []) add(p);
        return;
      case "TemplateProcessing": {
        const single = s["single"];
        const specials = (s["special_tokens"] ?? {}) as Record<string, { ids?: unknown }>;
        if (!Array.isArray(single)) throw invalid("TemplateProcessing has no single template");
        let seenSequence = false;
        for (const item of single as Json[]) {
          if (item["Sequence"] !== undefined) {
            seenSequence = true;
            continue;
          }
          const special = item["SpecialToken"] as Json | undefined;
          const name = special?.["id"];
          const ids = typeof name === "string" && Object.hasOwn(specials, name) ? specials[name]?.ids : undefined;
          if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x))) {
            throw invalid(`TemplateProcessing names special token ${JSON.stringify(name)} without ids`);
          }
          (seenSequence ? suffix : prefix).push(...(ids as number[]));
        }
        return;
      }
      case "RobertaProcessing":
      case "BertProcessing": {
        const cls = s["cls"] as [string, number] | undefined;
        const sep = s["sep"] as [string, number] | undefined;
        if (!Array.isArray(cls) || !Array.isArray(sep)) throw invalid(`${String(s["type"])} without cls/sep`);
        prefix.push(cls[1]);
        suffix.push(sep[1]);
        return;
      }
      default:
        throw new InferenceError({
          code: "unsupported",
          op: "cpu.loadTokenizer",
          message: `tokenizer.json post_processor type ${JSON.stringify(s["type"])} is not supported`,
        });
    }
  };
  if (spec !== null && spec !== undefined) add(spec as Json);
  return { prefix, suffix };
}
