/**
 * Builds a byte-level BPE `tokenizer.json` (GPT-2 byte alphabet) from a list of merges, plus special tokens and a
 * ChatML chat template. Used for checkpoints made at test setup and for the embedded demo model; not a trainer (the
 * merges come from the caller).
 */

/** The GPT-2 mapping of the 256 byte values to printable characters, as byte-level BPE vocabularies spell them. */
export function byteToUnicode(): string[] {
  const printable: number[] = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = printable.includes(b) ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  return table;
}

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface ByteLevelTokenizerFiles {
  /** The parsed tokenizer.json. */
  readonly tokenizer: Record<string, unknown>;
  /** The parsed tokenizer_config.json. */
  readonly tokenizerConfig: Record<string, unknown>;
  /** Total vocabulary size (bytes + merges + specials). */
  readonly vocabSize: number;
  /** Ids of the special tokens, by content. */
  readonly specialIds: Readonly<Record<string, number>>;
}

/**
 * A byte-level BPE tokenizer: ids 0..255 are the bytes, then one token per merge, then the special tokens
 * (default `<|endoftext|>`, `<|im_start|>`, `<|im_end|>`).
 */
export function byteLevelTokenizer(
  merges: readonly (readonly [string, string])[] = [],
  specials: readonly string[] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
): ByteLevelTokenizerFiles {
  const alphabet = byteToUnicode();
  // A null-prototype object: merged tokens such as "constructor" or "__proto__" are ordinary keys here.
  const vocab: Record<string, number> = Object.create(null);
  alphabet.forEach((ch, i) => (vocab[ch] = i));
  let next = 256;
  for (const [a, b] of merges) {
    const merged = a + b;
    if (!Object.hasOwn(vocab, merged)) vocab[merged] = next++;
  }
  const specialIds: Record<string, number> = {};
  const addedTokens = specials.map((content) => {
    const id = next++;
    specialIds[content] = id;
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
  });
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
  const eos = specials.includes("<|im_end|>") ? "<|im_end|>" : specials[0];
  const tokenizerConfig = {
    add_bos_token: false,
    add_eos_token: false,
    bos_token: null,
    eos_token: eos,
    pad_token: specials[0] ?? null,
    unk_token: null,
    model_max_length: 2048,
    clean_up_tokenization_spaces: false,
    tokenizer_class: "PreTrainedTokenizerFast",
    chat_template: CHATML_TEMPLATE,
    added_tokens_decoder: Object.fromEntries(addedTokens.map((t) => [String(t.id), { ...t, id: undefined }])),
  };
  return { tokenizer, tokenizerConfig, vocabSize: next, specialIds };
}
