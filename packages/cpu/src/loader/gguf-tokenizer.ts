/**
 * Rebuilds a Hugging Face `tokenizer.json` and `tokenizer_config.json` from a GGUF file's `tokenizer.ggml.*` metadata,
 * the inverse of the converter's tokenizer step, so `createTokenizer` (text/tokenizer.ts) runs a GGUF model's vocabulary:
 * - "gpt2" (byte-level BPE): tokens, merges and token types; the pre-tokenizer comes from `tokenizer.ggml.pre`
 *   (gpt-2, smollm, llama-bpe/llama3, qwen2/deepseek-r1-qwen); other names are `unsupported`. Qwen2-style files get
 *   the NFC normalizer their Hugging Face tokenizers carry. Control tokens become special added tokens, user-defined
 *   ones non-special added tokens, unused padding ids are left out.
 * - "llama" (SentencePiece): a BPE model with byte fallback, as transformers' LlamaConverter/GemmaConverter build it;
 *   merges are generated from the pieces and their scores the way transformers' `generate_merges` does.
 * Special ids, add_bos/add_eos (llama.cpp's defaults when absent) and `tokenizer.chat_template` go into the config.
 * Not a tokenizer and not a file reader.
 */
import { InferenceError } from "@dappcore/inference";
import { GGUF_LOAD_OP, ggufInvalid, type GGUFMetadata } from "./gguf-metadata.js";

type Json = Record<string, unknown>;

/** What `createTokenizer` takes, rebuilt from GGUF metadata. */
export interface GGUFTokenizerFiles {
  /** A tokenizer.json object. */
  readonly json: Record<string, unknown>;
  /** A tokenizer_config.json object. */
  readonly config: Record<string, unknown>;
  /** `tokenizer.chat_template`, when the file has one. */
  readonly chatTemplate?: string;
}

/** llama.cpp's LLAMA_TOKEN_TYPE_* numbers. */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;
const BYTE = 6;

const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const byteLevel = (useRegex: boolean): Json => ({ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const split = (regex: string): Json => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });

interface PreTokenizerSpec {
  readonly preTokenizer: Json;
  readonly normalizer: Json | null;
  /** llama.cpp's add_bos default for this pre-tokenizer. */
  readonly addBos: boolean;
  /** llama.cpp's ignore_merges for this pre-tokenizer (a word in the vocabulary is taken whole). */
  readonly ignoreMerges: boolean;
}

/** The Hugging Face pre-tokenizer of each `tokenizer.ggml.pre` name this loader knows (llama-vocab.cpp's groups). */
const preTokenizers: Readonly<Record<string, PreTokenizerSpec>> = (() => {
  const gpt2: PreTokenizerSpec = { preTokenizer: byteLevel(true), normalizer: null, addBos: false, ignoreMerges: false };
  const llama3: PreTokenizerSpec = {
    preTokenizer: { type: "Sequence", pretokenizers: [split(LLAMA3_REGEX), byteLevel(false)] },
    normalizer: null,
    addBos: true,
    ignoreMerges: true,
  };
  const qwen2: PreTokenizerSpec = {
    preTokenizer: { type: "Sequence", pretokenizers: [split(QWEN2_REGEX), byteLevel(false)] },
    normalizer: { type: "NFC" },
    addBos: false,
    ignoreMerges: false,
  };
  const smollm: PreTokenizerSpec = {
    preTokenizer: { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevel(true)] },
    normalizer: null,
    addBos: false,
    ignoreMerges: false,
  };
  return { "gpt-2": gpt2, "llama-bpe": llama3, llama3, "llama-v3": llama3, qwen2, "deepseek-r1-qwen": qwen2, smollm };
})();

/** The pre-tokenizer names `ggufTokenizer` supports for "gpt2" vocabularies. */
export const GGUF_PRE_TOKENIZERS: readonly string[] = Object.freeze(Object.keys(preTokenizers));

function unsupported(path: string, message: string, details: Json = {}): InferenceError {
  return new InferenceError({ code: "unsupported", op: GGUF_LOAD_OP, message: `${path}: ${message}`, details: { path, ...details } });
}

/**
 * Rebuilds the tokenizer files of a GGUF file whose embedding has `vocabRows` rows (the token list must be that long).
 * Warnings (duplicate token strings) are pushed onto `warnings`.
 */
export function ggufTokenizer(meta: GGUFMetadata, vocabRows: number, warnings: string[]): GGUFTokenizerFiles {
  const path = meta.path;
  const model = meta.string("tokenizer.ggml.model");
  if (model === undefined || model === "none" || model === "no_vocab") {
    throw unsupported(path, "the file has no tokenizer (tokenizer.ggml.model is missing); a GGUF file without a vocabulary cannot be loaded");
  }
  if (model !== "gpt2" && model !== "llama") {
    throw unsupported(path, `tokenizer model "${model}" is not supported (supported: gpt2, llama)`, { tokenizerModel: model });
  }
  const tokens = meta.strings("tokenizer.ggml.tokens");
  if (tokens === undefined) throw ggufInvalid(path, `metadata "tokenizer.ggml.tokens" is missing`, { key: "tokenizer.ggml.tokens" });
  if (tokens.length !== vocabRows) {
    throw ggufInvalid(path, `tokenizer.ggml.tokens has ${tokens.length} tokens but token_embd.weight has ${vocabRows} rows`, {
      key: "tokenizer.ggml.tokens",
    });
  }
  const types = meta.numbers("tokenizer.ggml.token_type") ?? new Array<number>(tokens.length).fill(NORMAL);
  if (types.length !== tokens.length) {
    throw ggufInvalid(path, `tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`, { key: "tokenizer.ggml.token_type" });
  }

  const id = (key: string): number | undefined => {
    const v = meta.uint(key);
    if (v !== undefined && v >= tokens.length) throw ggufInvalid(path, `${key} ${v} is outside the vocabulary of ${tokens.length}`, { key });
    return v;
  };
  const bos = id("tokenizer.ggml.bos_token_id");
  const eos = id("tokenizer.ggml.eos_token_id");
  const unk = id("tokenizer.ggml.unknown_token_id");
  const pad = id("tokenizer.ggml.padding_token_id");

  const spm = model === "llama";
  let pre: PreTokenizerSpec | undefined;
  if (!spm) {
    const name = meta.string("tokenizer.ggml.pre") ?? "default";
    pre = Object.hasOwn(preTokenizers, name) ? preTokenizers[name] : undefined;
    if (pre === undefined) {
      throw unsupported(path, `byte-level BPE pre-tokenizer "${name}" is not supported (supported: ${GGUF_PRE_TOKENIZERS.join(", ")})`, {
        pre: name,
      });
    }
  }
  let addBos = meta.bool("tokenizer.ggml.add_bos_token") ?? (spm ? true : pre!.addBos);
  const addEos = meta.bool("tokenizer.ggml.add_eos_token") ?? false;
  if (addBos && bos === undefined) {
    warnings.push(`${path}: add_bos_token is set but the file names no BOS token; no BOS is added`);
    addBos = false;
  }

  // Vocabulary and added tokens. Token strings come from the file: the vocabulary is built with defineProperty
  // semantics (Object.fromEntries) so a token named "__proto__" stays a plain key.
  const vocabEntries: [string, number][] = [];
  const seen = new Set<string>();
  const added: Json[] = [];
  let duplicates = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = types[i];
    if (t === UNUSED && !spm) continue;
    const text = tokens[i];
    // An added token needs content (Gemma's vocabulary has one empty piece, a plain vocabulary entry).
    if ((t === CONTROL || t === USER_DEFINED || (spm && t === UNKNOWN)) && text.length > 0) {
      added.push({ id: i, content: text, single_word: false, lstrip: false, rstrip: false, normalized: false, special: t !== USER_DEFINED });
      if (!spm) continue;
    }
    if (seen.has(text)) {
      duplicates++;
      continue;
    }
    seen.add(text);
    vocabEntries.push([text, i]);
  }
  if (duplicates > 0) warnings.push(`${path}: ${duplicates} token string(s) appear more than once; the first id of each is used`);
  const vocab = Object.fromEntries(vocabEntries);

  let json: Json;
  if (!spm) {
    const mergeStrings = meta.strings("tokenizer.ggml.merges");
    if (mergeStrings === undefined) throw ggufInvalid(path, `metadata "tokenizer.ggml.merges" is missing`, { key: "tokenizer.ggml.merges" });
    const merges = mergeStrings.map((m, i) => {
      // llama.cpp splits at the first space after the first character.
      const at = m.indexOf(" ", 1);
      if (at < 0) throw ggufInvalid(path, `merge ${i} ${JSON.stringify(m)} of tokenizer.ggml.merges has no space`, { key: "tokenizer.ggml.merges" });
      return [m.slice(0, at), m.slice(at + 1)];
    });
    json = {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: pre!.normalizer,
      pre_tokenizer: pre!.preTokenizer,
      post_processor: postProcessor(tokens, addBos ? bos : undefined, addEos ? eos : undefined),
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: pre!.ignoreMerges,
        vocab,
        merges,
      },
    };
  } else {
    const scores = meta.numbers("tokenizer.ggml.scores");
    if (scores === undefined) throw ggufInvalid(path, `metadata "tokenizer.ggml.scores" is missing`, { key: "tokenizer.ggml.scores" });
    if (scores.length !== tokens.length) {
      throw ggufInvalid(path, `tokenizer.ggml.scores has ${scores.length} entries for ${tokens.length} tokens`, { key: "tokenizer.ggml.scores" });
    }
    const hasBytes = types.some((t) => t === BYTE);
    const spacePrefix = meta.bool("tokenizer.ggml.add_space_prefix") ?? true;
    const replace = { type: "Replace", pattern: { String: " " }, content: "\u2581" };
    const decoders: Json[] = [{ type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }];
    if (spacePrefix) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });
    json = {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: spacePrefix ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, replace] } : replace,
      pre_tokenizer: null,
      post_processor: postProcessor(tokens, addBos ? bos : undefined, addEos ? eos : undefined),
      decoder: { type: "Sequence", decoders },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: unk !== undefined ? tokens[unk] : null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: hasBytes,
        ignore_merges: false,
        vocab,
        merges: sentencePieceMerges(tokens, scores, vocab),
      },
    };
  }

  const name = (i: number | undefined) => (i === undefined ? null : tokens[i]);
  const config: Json = {
    add_bos_token: addBos,
    add_eos_token: addEos,
    bos_token: name(bos),
    eos_token: name(eos),
    unk_token: name(unk),
    pad_token: name(pad),
    clean_up_tokenization_spaces: false,
    tokenizer_class: "PreTrainedTokenizerFast",
  };
  const chatTemplate = meta.string("tokenizer.chat_template");
  if (chatTemplate !== undefined) config.chat_template = chatTemplate;
  return chatTemplate === undefined ? { json, config } : { json, config, chatTemplate };
}

/** A TemplateProcessing post-processor adding BOS and/or EOS, or null when neither is added. */
function postProcessor(tokens: readonly string[], bos: number | undefined, eos: number | undefined): Json | null {
  if (bos === undefined && eos === undefined) return null;
  const special = (i: number, typeId: number) => ({ SpecialToken: { id: tokens[i], type_id: typeId } });
  const seq = (s: string, typeId: number) => ({ Sequence: { id: s, type_id: typeId } });
  const wrap = (s: string, typeId: number) => [
    ...(bos !== undefined ? [special(bos, typeId)] : []),
    seq(s, typeId),
    ...(eos !== undefined ? [special(eos, typeId)] : []),
  ];
  const specialTokens: Json = {};
  for (const i of [bos, eos]) if (i !== undefined) specialTokens[tokens[i]] = { id: tokens[i], ids: [i], tokens: [tokens[i]] };
  return { type: "TemplateProcessing", single: wrap("A", 0), pair: [...wrap("A", 0), ...wrap("B", 1)], special_tokens: specialTokens };
}

/**
 * Merges of a SentencePiece vocabulary as transformers' `generate_merges` makes them: every split of a piece into two
 * pieces of the vocabulary, ordered by the piece's score (highest first; ties keep id order, and the splits of one
 * piece are ordered by the ids of their parts). Pieces of every type take part, as in transformers; pieces scored
 * -1e9 or lower are the converter's "never produced by a merge" marker and are left out.
 */
function sentencePieceMerges(
  tokens: readonly string[],
  scores: readonly number[],
  vocab: Readonly<Record<string, number>>,
): [string, string][] {
  const idOf = new Map<string, number>(Object.entries(vocab));
  const found: { left: string; right: string; score: number; l: number; r: number }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (!(scores[i] > -1e9)) continue;
    const chars = Array.from(tokens[i]);
    if (chars.length < 2) continue;
    const local: typeof found = [];
    let prefix = "";
    for (let k = 1; k < chars.length; k++) {
      prefix += chars[k - 1];
      const right = tokens[i].slice(prefix.length);
      const l = idOf.get(prefix);
      const r = idOf.get(right);
      if (l !== undefined && r !== undefined) local.push({ left: prefix, right, score: scores[i], l, r });
    }
    local.sort((a, b) => a.l - b.l || a.r - b.r);
    for (const m of local) found.push(m);
  }
  found.sort((a, b) => b.score - a.score);
  return found.map((m) => [m.left, m.right]);
}
