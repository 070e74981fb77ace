/**
 * The tokenizer of a Hugging Face model directory: `loadTokenizer(dir)` reads `tokenizer.json`,
 * `tokenizer_config.json` and `chat_template.jinja`, and returns a `Tokenizer` that encodes, decodes, streams and
 * knows the model's special tokens and chat template. Encoding and decoding are `@huggingface/tokenizers`'s (BPE,
 * WordPiece and Unigram models); this file adds load-time checks, typed errors, literal encoding and the facts the
 * cpu backend needs (BOS/EOS, special ids, vocabulary size).
 *
 * This file is not the chat-template renderer (`chat-template.ts`) and does not check the vocabulary against the
 * model's embedding size (the model loader does).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { InferenceError } from "@dappcore/inference";
import { createStreamDecoder, type StreamDecoder } from "./stream-decoder.js";
import { checkTokenizerJson, libraryError } from "./tokenizer-json.js";

export type { StreamDecoder } from "./stream-decoder.js";

/** Options of `Tokenizer.encode`. */
export interface EncodeOptions {
  /**
   * Add the post-processor's special tokens (e.g. Gemma's `<bos>`). Default `true`, as in Hugging Face.
   * @example tokenizer.encode("hi", { addSpecialTokens: false })
   */
  readonly addSpecialTokens?: boolean;
}

/** Options of `Tokenizer.decode` and `Tokenizer.createDecoder`. */
export interface DecodeOptions {
  /**
   * Leave out special tokens (`special` added tokens of `tokenizer.json`, and `additional_special_tokens` of
   * `tokenizer_config.json`). Default `false`.
   * @example tokenizer.decode(ids, { skipSpecialTokens: true })
   */
  readonly skipSpecialTokens?: boolean;
}

/** A loaded tokenizer. */
export interface Tokenizer {
  /** One past the largest token id (vocabulary plus added tokens). */
  readonly vocabSize: number;
  /** Text to ids; special-token strings in `text` become special tokens. */
  encode(text: string, opts?: EncodeOptions): number[];
  /** Text to ids where every special-token string stays literal text; never adds special tokens. */
  encodeLiteral(text: string): number[];
  /** Ids to text (UTF-8; an unfinished byte sequence becomes U+FFFD). No clean-up of spaces is applied. */
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  readonly bosTokenId?: number;
  /** `eos_token` of `tokenizer_config.json`; the model loader adds `generation_config.json`'s ids. */
  readonly eosTokenIds: number[];
  /** Ids of added tokens marked `special`. */
  readonly specialTokenIds: ReadonlySet<number>;
  /** Content of the named special tokens of `tokenizer_config.json` (bos_token, eos_token, unk_token, pad_token...). */
  readonly specialTokens: Readonly<Record<string, string>>;
  readonly chatTemplate?: string;
  /** Whether prompts start with BOS (`add_bos_token`, else whether the post-processor adds it). */
  readonly addBosToken: boolean;
  createDecoder(opts?: DecodeOptions): StreamDecoder;
}

const OP = "cpu.loadTokenizer";

/**
 * Loads the tokenizer of a Hugging Face model directory.
 *
 * @example const tok = await loadTokenizer("./models/qwen3"); tok.encode("Hello")
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const tokenizerJson = await readJson(join(dir, "tokenizer.json"), true);
  const config = (await readJson(join(dir, "tokenizer_config.json"), false)) ?? {};
  let chatTemplate: string | undefined;
  try {
    chatTemplate = await readFile(join(dir, "chat_template.jinja"), "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new InferenceError({ code: "invalid_model", op: OP, message: `cannot read ${join(dir, "chat_template.jinja")}`, cause });
    }
  }
  return createTokenizer(tokenizerJson, config, { chatTemplate, source: join(dir, "tokenizer.json") });
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    if (!required && (cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new InferenceError({ code: "invalid_model", op: OP, message: `cannot read ${path}`, cause, details: { path } });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value;
  } catch (cause) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `${path} is not valid JSON`, cause, details: { path } });
  }
}

/** What `createTokenizer` takes besides the two parsed JSON files. */
export interface CreateTokenizerOptions {
  /** Overrides `chat_template` of `tokenizer_config.json` (the content of `chat_template.jinja`). */
  readonly chatTemplate?: string | undefined;
  /** Names the file in error messages. Default `"tokenizer.json"`. */
  readonly source?: string;
}

/** Builds a tokenizer from parsed `tokenizer.json` and `tokenizer_config.json` objects. */
export function createTokenizer(tokenizerJson: unknown, tokenizerConfig: unknown, opts: CreateTokenizerOptions = {}): Tokenizer {
  const source = opts.source ?? "tokenizer.json";
  const tj = checkTokenizerJson(tokenizerJson, source);
  const cfg = (typeof tokenizerConfig === "object" && tokenizerConfig !== null ? tokenizerConfig : {}) as Record<string, unknown>;
  const addedTokens = tj["added_tokens"] as Array<{ id: number; content: string; special?: boolean }>;

  let hf: HfTokenizer;
  let literal: HfTokenizer;
  try {
    hf = new HfTokenizer(tj, cfg);
    // encodeLiteral: the same pipeline without the special added tokens, so their strings are plain text for the
    // normalizer, pre-tokenizer and model. (0.2.0 has no `split_special_tokens` option.) The model, the costly part
    // (Gemma's 262k vocabulary), is shared: built here from an empty stand-in, then replaced by `hf`'s.
    literal = new HfTokenizer(
      { ...tj, model: { type: "BPE", vocab: {}, merges: [] }, added_tokens: addedTokens.filter((t) => t.special !== true), post_processor: null },
      cfg,
    );
    literal.model = hf.model;
  } catch (cause) {
    throw libraryError(cause, source);
  }

  const added = hf.get_added_tokens_decoder();
  const specialTokenIds: ReadonlySet<number> = new Set([...added.values()].filter((t) => t.special).map((t) => t.id));
  // The model's id → token array, which the library extends with the added tokens: one past the largest id.
  const vocabSize = hf.model?.vocab.length ?? 0;

  const idToToken = (id: number): string | undefined => (Number.isInteger(id) && id >= 0 ? hf.id_to_token(id) : undefined);
  const tokenToId = (token: string): number | undefined => hf.token_to_id(token);
  // Characters a BPE model without unk_token cannot spell come back as undefined ids; the Rust tokenizers drop them.
  const ids = (enc: { ids: Array<number | undefined> }): number[] => enc.ids.filter((id): id is number => id !== undefined);
  const decode = (tokenIds: readonly number[], o?: DecodeOptions): string => {
    for (const id of tokenIds) {
      if (idToToken(id) === undefined) {
        throw new InferenceError({
          code: "invalid_argument",
          op: "cpu.decode",
          message: `token id ${id} is not in the vocabulary (size ${vocabSize})`,
          details: { id, vocabSize },
        });
      }
    }
    if (tokenIds.length === 0) return ""; // the library refuses an empty list
    return hf.decode([...tokenIds], { skip_special_tokens: o?.skipSpecialTokens === true, clean_up_tokenization_spaces: false });
  };

  const specials = namedSpecialTokens(cfg);
  const bosTokenId = specials["bos_token"] !== undefined ? tokenToId(specials["bos_token"]) : undefined;
  const eosId = specials["eos_token"] !== undefined ? tokenToId(specials["eos_token"]) : undefined;
  const addBosToken =
    typeof cfg["add_bos_token"] === "boolean"
      ? cfg["add_bos_token"]
      : bosTokenId !== undefined && ids(hf.encode("", { add_special_tokens: true }))[0] === bosTokenId;
  const chatTemplate = opts.chatTemplate ?? pickChatTemplate(cfg["chat_template"]);

  return {
    vocabSize,
    encode: (text, o) => ids(hf.encode(text, { add_special_tokens: o?.addSpecialTokens !== false })),
    encodeLiteral: (text) => ids(literal.encode(text, { add_special_tokens: false })),
    decode,
    idToToken,
    tokenToId,
    ...(bosTokenId === undefined ? {} : { bosTokenId }),
    eosTokenIds: eosId === undefined ? [] : [eosId],
    specialTokenIds,
    specialTokens: specials,
    ...(chatTemplate === undefined ? {} : { chatTemplate }),
    addBosToken,
    createDecoder: (o) => createStreamDecoder((tokenIds) => decode(tokenIds, o)),
  };
}

/** bos_token, eos_token, ... of `tokenizer_config.json`, each a string or `{ content }`. */
function namedSpecialTokens(cfg: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"]) {
    const v = cfg[key];
    if (typeof v === "string") out[key] = v;
    else if (typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string") {
      out[key] = (v as { content: string }).content;
    }
  }
  return out;
}

/** `chat_template` is a string, or a list of `{ name, template }` of which "default" is the chat template. */
function pickChatTemplate(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const entry = value.find((e) => (e as { name?: unknown })?.name === "default") as { template?: unknown } | undefined;
    if (typeof entry?.template === "string") return entry.template;
  }
  return undefined;
}
