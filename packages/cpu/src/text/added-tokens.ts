/**
 * Finds the added tokens of `tokenizer.json` (`<|im_end|>`, `<start_of_turn>`, `<bos>`...) in raw text, leftmost and
 * longest first, honouring `lstrip`, `rstrip` and `single_word`, as Hugging Face tokenizers do. The text between
 * matches goes on to the normalizer, pre-tokenizer and BPE.
 *
 * This file is not where the decision "may this text contain special tokens" is made: the caller passes which tokens
 * to look for (all of them for `encode`, only the non-special ones for `encodeLiteral`).
 */

/** One entry of `tokenizer.json`'s `added_tokens`. */
export interface AddedToken {
  readonly id: number;
  readonly content: string;
  readonly special: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly singleWord: boolean;
}

/** A piece of input: plain text for the model, or a matched added token. */
export type Segment = { readonly text: string } | { readonly token: AddedToken };

const WORD_CHAR = /[\p{L}\p{N}_]/u;
const SPACE = /\s/u;

/** Leftmost-longest matcher over a set of added tokens, indexed by first UTF-16 unit. */
export class AddedTokenMatcher {
  private readonly byFirst = new Map<string, AddedToken[]>();

  constructor(tokens: readonly AddedToken[]) {
    for (const t of tokens) {
      if (t.content.length === 0) continue;
      const key = t.content[0] as string;
      const list = this.byFirst.get(key) ?? [];
      list.push(t);
      this.byFirst.set(key, list);
    }
    for (const list of this.byFirst.values()) list.sort((a, b) => b.content.length - a.content.length);
  }

  /** Splits `text` into plain-text and added-token segments (empty text segments are dropped). */
  split(text: string): Segment[] {
    if (this.byFirst.size === 0) return text.length > 0 ? [{ text }] : [];
    const out: Segment[] = [];
    let plainStart = 0;
    let i = 0;
    while (i < text.length) {
      const token = this.matchAt(text, i);
      if (!token) {
        i++;
        continue;
      }
      let start = i;
      let end = i + token.content.length;
      if (token.lstrip) while (start > plainStart && SPACE.test(text[start - 1] as string)) start--;
      if (token.rstrip) while (end < text.length && SPACE.test(text[end] as string)) end++;
      if (start > plainStart) out.push({ text: text.slice(plainStart, start) });
      out.push({ token });
      plainStart = end;
      i = end;
    }
    if (plainStart < text.length) out.push({ text: text.slice(plainStart) });
    return out;
  }

  private matchAt(text: string, i: number): AddedToken | undefined {
    const candidates = this.byFirst.get(text[i] as string);
    if (!candidates) return undefined;
    for (const t of candidates) {
      if (!text.startsWith(t.content, i)) continue;
      if (t.singleWord) {
        const before = i > 0 ? (text[i - 1] as string) : "";
        const after = text[i + t.content.length] ?? "";
        if ((before && WORD_CHAR.test(before)) || (after && WORD_CHAR.test(after))) continue;
      }
      return t;
    }
    return undefined;
  }
}
