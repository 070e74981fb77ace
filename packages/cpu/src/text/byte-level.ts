/**
 * The GPT-2 byte-to-unicode alphabet used by byte-level BPE tokenizers (GPT-2, Llama 3, Qwen): every byte 0..255 is
 * shown as one printable code point so that vocabularies can be stored as JSON strings.
 *
 * This file is not a tokenizer; it only maps bytes to alphabet characters and back.
 */

/** `BYTE_TO_CHAR[b]` is the alphabet character for byte `b`. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** The inverse of `BYTE_TO_CHAR`: alphabet code point to byte. */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(
  BYTE_TO_CHAR.map((ch, b) => [ch.codePointAt(0) as number, b] as const),
);

function buildByteToChar(): string[] {
  const out = new Array<string>(256);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable(b) ? b : next++);
  return out;
}

const encoder = new TextEncoder();

/** The UTF-8 bytes of `text`, each shown as its alphabet character. */
export function bytesToAlphabet(text: string): string {
  const bytes = encoder.encode(text);
  let s = "";
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

/**
 * The bytes an alphabet string stands for, or `undefined` when some character is outside the alphabet (then
 * decoders use the string's own UTF-8 bytes, as Hugging Face tokenizers do).
 */
export function alphabetToBytes(token: string): Uint8Array | undefined {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch.codePointAt(0) as number);
    if (b === undefined) return undefined;
    out.push(b);
  }
  return Uint8Array.from(out);
}
