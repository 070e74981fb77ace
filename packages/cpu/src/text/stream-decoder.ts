/**
 * Incremental detokenization for generation: `push(id)` returns only text that is complete, holding back the bytes
 * of a UTF-8 sequence that a later token will finish (byte-level BPE splits an emoji over several tokens; byte-fallback
 * SentencePiece emits `<0xF0>` ... one byte per token). The concatenation of every `push` and the final `flush` equals
 * `tokenizer.decode(allIds)` with the same options.
 *
 * This file is not the tokenizer; it uses the bytes-per-token function the tokenizer gives it.
 */

/** Turns a stream of token ids into a stream of complete text. */
export interface StreamDecoder {
  /** Adds one token; returns the text it completes (often "", never a broken character). */
  push(id: number): string;
  /** Ends the stream: returns held-back bytes (an unfinished sequence becomes U+FFFD, as `decode` does). */
  flush(): string;
}

/** What a stream decoder needs from its tokenizer. */
export interface StreamDecoderSource {
  /** Bytes of one token, or `undefined` to skip it (a skipped special token). */
  bytesOf(id: number): Uint8Array | undefined;
  /** Spaces to drop at the start of the decoded text. */
  readonly leadingSpaces: number;
}

export function createStreamDecoder(source: StreamDecoderSource): StreamDecoder {
  // ignoreBOM: a U+FEFF the model generates is text, not a byte order mark to swallow.
  let decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  let toStrip = source.leadingSpaces;
  const strip = (text: string): string => {
    if (toStrip === 0 || text.length === 0) return text;
    let k = 0;
    while (k < text.length && k < toStrip && text[k] === " ") k++;
    // Only the very start of the sequence is stripped: once other text has passed, stop stripping.
    toStrip = k === text.length ? toStrip - k : 0;
    return text.slice(k);
  };
  return {
    push(id: number): string {
      const bytes = source.bytesOf(id);
      if (!bytes || bytes.length === 0) return "";
      return strip(decoder.decode(bytes, { stream: true }));
    },
    flush(): string {
      const rest = strip(decoder.decode());
      decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
      return rest;
    },
  };
}
