/**
 * Incremental detokenization for generation: `push(id)` returns only text that is complete, holding back tokens
 * whose bytes a later token will finish (byte-level BPE splits an emoji over several tokens; byte-fallback
 * SentencePiece emits `<0xF0>` ... one byte per token). The concatenation of every `push` and the final `flush`
 * equals `tokenizer.decode(allIds)` with the same options.
 *
 * How: `@huggingface/tokenizers` has no incremental decoder, so this one decodes a small window with the tokenizer's
 * own `decode` and emits what the newest tokens add. The window keeps the last emitted tokens as context, so that
 * sequence-start rules (Metaspace and `Strip` drop the first space) apply only at the true start, and it ends at a
 * token whose text does not end in U+FFFD (an unfinished UTF-8 sequence). This file is not the tokenizer.
 */

/** Turns a stream of token ids into a stream of complete text. */
export interface StreamDecoder {
  /** Adds one token; returns the text it completes (often "", never a broken character). */
  push(id: number): string;
  /** Ends the stream: returns held-back text (an unfinished sequence becomes U+FFFD, as `decode` does). */
  flush(): string;
}

const REPLACEMENT = "\uFFFD";

/**
 * A stream decoder over `decode`, the tokenizer's whole-sequence decoder (with the caller's options applied; it
 * returns "" for no ids and validates ids itself).
 */
export function createStreamDecoder(decode: (ids: readonly number[]) => string): StreamDecoder {
  let window: number[] = []; // [context tokens already emitted | tokens not yet emitted]
  let contextLength = 0;
  let contextText = "";

  /** The text that `window`'s new tokens add after the context. */
  const added = (): string => {
    const text = decode(window);
    if (text.startsWith(contextText)) return text.slice(contextText.length);
    // Not expected from any decoder the library has (context text is always a prefix); emit what differs.
    let k = 0;
    while (k < text.length && text[k] === contextText[k]) k++;
    return text.slice(k);
  };

  return {
    push(id: number): string {
      window.push(id);
      const text = decode(window);
      if (text.endsWith(REPLACEMENT)) return "";
      const out = text.startsWith(contextText) ? text.slice(contextText.length) : added();
      if (out.length === 0) return "";
      // The tokens just emitted become the context of the next window.
      window = window.slice(contextLength);
      contextLength = window.length;
      contextText = decode(window);
      return out;
    },
    flush(): string {
      const rest = window.length > contextLength ? added() : "";
      window = [];
      contextLength = 0;
      contextText = "";
      return rest;
    },
  };
}
