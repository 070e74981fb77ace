/**
 * The tokenizer of a Hugging Face model directory: `loadTokenizer(dir)` reads `tokenizer.json`,
 * `tokenizer_config.json` and `chat_template.jinja`, and returns a `Tokenizer` that encodes, decodes, streams and
 * knows the model's special tokens and chat template. Encoding follows the Hugging Face `tokenizers` pipeline:
 * added tokens → normalizer → pre-tokenizer → BPE → post-processor.
 *
 * This file is not the chat-template renderer (`chat-template.ts`) and does not check the vocabulary against the
 * model's embedding size (the model loader does). Only BPE models are supported (Llama, Mistral, Qwen, Gemma all use
 * BPE); WordPiece and Unigram fail with `unsupported`.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InferenceError } from "@dappcore/inference";
import { AddedTokenMatcher, type AddedToken } from "./added-tokens.js";
import { BpeModel } from "./bpe.js";
import { compileNormalizer } from "./normalizer.js";
import { compilePostProcessor } from "./post-processor.js";
import { compilePreTokenizer } from "./pre-tokenizer.js";
import { createStreamDecoder, type StreamDecoder } from "./stream-decoder.js";
import { compileTokenDecoder } from "./token-decoder.js";

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
   * Leave out tokens marked `special` in `tokenizer.json`. Default `false`.
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
  const invalid = (message: string) =>
    new InferenceError({ code: "invalid_model", op: OP, message: `${source}: ${message}`, details: { path: source } });
  const tj = tokenizerJson as Record<string, unknown>;
  const cfg = (tokenizerConfig ?? {}) as Record<string, unknown>;
  const model = tj["model"] as Record<string, unknown> | undefined;
  if (typeof model !== "object" || model === null) throw invalid("missing the model section");
  const type = model["type"] ?? (model["merges"] !== undefined ? "BPE" : undefined);
  if (type !== "BPE") {
    throw new InferenceError({ code: "unsupported", op: OP, message: `${source}: model type ${JSON.stringify(type)} is not supported (only BPE)`, details: { path: source, modelType: type } });
  }
  for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    if (typeof model[key] === "string" && model[key] !== "") {
      throw new InferenceError({ code: "unsupported", op: OP, message: `${source}: BPE ${key} is not supported` });
    }
  }

  // Vocabulary: the model's, then the added tokens (which may add new ids or repeat existing ones).
  const vocabJson = model["vocab"];
  if (typeof vocabJson !== "object" || vocabJson === null || Array.isArray(vocabJson)) throw invalid("model.vocab is not an object");
  const vocab = new Map<string, number>();
  const idToToken: string[] = [];
  for (const [token, id] of Object.entries(vocabJson)) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 0x7fffffff) throw invalid(`vocab id of ${JSON.stringify(token)} is not a non-negative integer`);
    vocab.set(token, id as number);
    idToToken[id as number] = token;
  }
  const mergesJson = model["merges"] ?? [];
  if (!Array.isArray(mergesJson)) throw invalid("model.merges is not an array");
  const merges = mergesJson.map((m, i): [string, string] => {
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return [m[0], m[1]];
    if (typeof m === "string") {
      const parts = m.split(" ");
      if (parts.length === 2) return [parts[0] as string, parts[1] as string];
    }
    throw invalid(`merge ${i} is not a pair`);
  });
  const addedJson = tj["added_tokens"] ?? [];
  if (!Array.isArray(addedJson)) throw invalid("added_tokens is not an array");
  const added: AddedToken[] = addedJson.map((t: Record<string, unknown>, i) => {
    if (!Number.isInteger(t?.["id"]) || (t["id"] as number) < 0 || typeof t["content"] !== "string" || t["content"] === "") {
      throw invalid(`added_tokens[${i}] needs an integer id and non-empty content`);
    }
    return {
      id: t["id"] as number,
      content: t["content"],
      special: t["special"] === true,
      lstrip: t["lstrip"] === true,
      rstrip: t["rstrip"] === true,
      singleWord: t["single_word"] === true,
    };
  });
  const addedById = new Map<number, string>();
  for (const t of added) {
    addedById.set(t.id, t.content);
    idToToken[t.id] = t.content;
  }
  const unkName = model["unk_token"];
  const bpe = new BpeModel({
    vocab,
    merges,
    byteFallback: model["byte_fallback"] === true,
    ignoreMerges: model["ignore_merges"] === true,
    unkTokenId: typeof unkName === "string" ? vocab.get(unkName) : undefined,
    fuseUnk: model["fuse_unk"] === true,
  });
  const normalize = compileNormalizer(tj["normalizer"]);
  const preTokenize = compilePreTokenizer(tj["pre_tokenizer"]);
  const wrap = compilePostProcessor(tj["post_processor"]);
  const tokenDecoder = compileTokenDecoder(tj["decoder"]);
  const allMatcher = new AddedTokenMatcher(added);
  const literalMatcher = new AddedTokenMatcher(added.filter((t) => !t.special));
  const specialTokenIds: ReadonlySet<number> = new Set(added.filter((t) => t.special).map((t) => t.id));
  const vocabSize = idToToken.length;

  const tokenToId = (token: string): number | undefined => {
    const a = added.find((t) => t.content === token);
    return a ? a.id : vocab.get(token);
  };
  const encodeWith = (matcher: AddedTokenMatcher, text: string): number[] => {
    const out: number[] = [];
    let first = true;
    for (const seg of matcher.split(text)) {
      if ("token" in seg) {
        out.push(seg.token.id);
      } else {
        const normalized = normalize(seg.text);
        for (const piece of preTokenize([normalized], first)) bpe.encodePiece(piece, out);
      }
      first = false;
    }
    return out;
  };

  // Bytes per token, computed on first use: decoding and streaming share them.
  const bytesCache = new Map<number, Uint8Array>();
  const bytesOf = (id: number): Uint8Array => {
    let b = bytesCache.get(id);
    if (!b) {
      const token = idToToken[id];
      if (token === undefined) {
        throw new InferenceError({ code: "invalid_argument", op: "cpu.decode", message: `token id ${id} is not in the vocabulary (size ${vocabSize})`, details: { id, vocabSize } });
      }
      b = tokenDecoder.tokenBytes(token);
      bytesCache.set(id, b);
    }
    return b;
  };

  const specials = namedSpecialTokens(cfg);
  const bosTokenId = specials["bos_token"] !== undefined ? tokenToId(specials["bos_token"]) : undefined;
  const eosId = specials["eos_token"] !== undefined ? tokenToId(specials["eos_token"]) : undefined;
  const addBosToken =
    typeof cfg["add_bos_token"] === "boolean" ? cfg["add_bos_token"] : bosTokenId !== undefined && wrap.prefix[0] === bosTokenId;
  const chatTemplate = opts.chatTemplate ?? pickChatTemplate(cfg["chat_template"]);

  const makeDecoder = (o?: DecodeOptions): StreamDecoder =>
    createStreamDecoder({
      leadingSpaces: tokenDecoder.leadingSpaces,
      bytesOf: (id) => (o?.skipSpecialTokens && specialTokenIds.has(id) ? undefined : bytesOf(id)),
    });

  return {
    vocabSize,
    encode(text, o) {
      const ids = encodeWith(allMatcher, text);
      return o?.addSpecialTokens === false ? ids : [...wrap.prefix, ...ids, ...wrap.suffix];
    },
    encodeLiteral: (text) => encodeWith(literalMatcher, text),
    decode(ids, o) {
      const d = makeDecoder(o);
      let s = "";
      for (const id of ids) s += d.push(id);
      return s + d.flush();
    },
    idToToken: (id) => (Number.isInteger(id) ? idToToken[id] : undefined),
    tokenToId,
    ...(bosTokenId === undefined ? {} : { bosTokenId }),
    eosTokenIds: eosId === undefined ? [] : [eosId],
    specialTokenIds,
    specialTokens: specials,
    ...(chatTemplate === undefined ? {} : { chatTemplate }),
    addBosToken,
    createDecoder: makeDecoder,
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
