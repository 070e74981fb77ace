/**
 * Turns a Hugging Face `tokenizer.json` (+ tokenizer_config.json, config.json) into llama.cpp's `tokenizer.ggml.*`
 * metadata, as convert_hf_to_gguf.py does: "gpt2" (byte-level BPE: tokens, token types, merges and the pre-tokenizer
 * name llama.cpp knows it by) and "llama" (SentencePiece-style BPE with byte fallback, e.g. gemma3: tokens, scores,
 * token types). Special token ids, add_bos/add_eos and the chat template go with them. Not a tokenizer.
 */
import { InferenceError } from "@dappcore/inference";
import { TokenType, type GGUFMetadataValue } from "./gguf-types.js";

const OP = "gguf.convert";

type Json = Record<string, unknown>;

export interface TokenizerInputs {
  readonly tokenizer: Json;
  readonly tokenizerConfig?: Json;
  readonly config: Json;
  /** Vocabulary size of the model (config.json vocab_size); the token list is padded to it. */
  readonly vocabSize: number;
  /** A chat template that overrides tokenizer_config.json's (e.g. from chat_template.jinja). */
  readonly chatTemplate?: string;
}

/** Regexes of the Split pre-tokenizers llama.cpp knows, by its `tokenizer.ggml.pre` name. */
const knownSplitRegexes: Record<string, string> = {
  "llama-bpe":
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2:
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

function unsupported(message: string): InferenceError {
  return new InferenceError({ code: "unsupported", op: OP, message });
}

function invalid(message: string): InferenceError {
  return new InferenceError({ code: "invalid_model", op: OP, message });
}

/** The llama.cpp pre-tokenizer name of a byte-level BPE tokenizer.json, from its pre_tokenizer structure. */
export function preTokenizerName(tokenizer: Json): string {
  const pre = tokenizer.pre_tokenizer as Json | null | undefined;
  const describe = () => JSON.stringify(pre)?.slice(0, 200);
  if (pre && pre.type === "ByteLevel" && pre.use_regex !== false) return "gpt-2";
  if (pre && pre.type === "Sequence" && Array.isArray(pre.pretokenizers)) {
    const parts = pre.pretokenizers as Json[];
    if (
      parts.length === 2 &&
      parts[0].type === "Digits" &&
      parts[0].individual_digits === true &&
      parts[1].type === "ByteLevel" &&
      parts[1].use_regex !== false
    ) {
      return "smollm";
    }
    if (parts.length === 2 && parts[0].type === "Split" && parts[1].type === "ByteLevel" && parts[1].use_regex === false) {
      const regex = (parts[0].pattern as Json | undefined)?.Regex;
      for (const [name, known] of Object.entries(knownSplitRegexes)) if (regex === known) return name;
    }
  }
  throw unsupported(`byte-level BPE pre-tokenizer not recognised: ${describe()}`);
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as Json).content === "string") return (v as Json).content as string;
  return undefined;
}

interface Vocab {
  readonly tokens: (string | undefined)[];
  readonly types: number[];
  readonly idOf: Map<string, number>;
}

function readVocab(inputs: TokenizerInputs, spm: boolean): Vocab {
  const model = inputs.tokenizer.model as Json | undefined;
  const vocab = model?.vocab;
  if (!vocab || typeof vocab !== "object" || Array.isArray(vocab)) throw invalid("tokenizer.json has no model.vocab object");
  const tokens: (string | undefined)[] = new Array(inputs.vocabSize);
  const types: number[] = new Array(inputs.vocabSize).fill(TokenType.NORMAL);
  const idOf = new Map<string, number>();
  const place = (text: string, id: unknown): boolean => {
    // SentencePiece checkpoints (gemma3) list added tokens past the embedding rows (e.g. <image_soft_token>); the
    // converter builds that vocabulary from the embedding's size, so those tokens are dropped.
    if (spm && typeof id === "number" && Number.isInteger(id) && id >= inputs.vocabSize) return false;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= inputs.vocabSize) {
      throw invalid(`token "${text}" has id ${String(id)} outside the vocabulary of ${inputs.vocabSize}`);
    }
    tokens[id] = text;
    idOf.set(text, id);
    return true;
  };
  for (const [text, id] of Object.entries(vocab as Json)) place(text, id);
  const added = Array.isArray(inputs.tokenizer.added_tokens) ? (inputs.tokenizer.added_tokens as Json[]) : [];
  for (const t of added) {
    if (typeof t.content !== "string") throw invalid("tokenizer.json added token without content");
    if (!place(t.content, t.id)) continue;
    types[t.id as number] = t.special === true ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  return { tokens, types, idOf };
}

/** The `tokenizer.ggml.*` and `tokenizer.chat_template` metadata. */
export function tokenizerMetadata(inputs: TokenizerInputs): [string, GGUFMetadataValue][] {
  const model = inputs.tokenizer.model as Json | undefined;
  if (!model || model.type !== "BPE") {
    throw unsupported(`tokenizer model "${String(model?.type)}" is not supported (BPE only)`);
  }
  const spm = model.byte_fallback === true;
  const v = readVocab(inputs, spm);
  const out: [string, GGUFMetadataValue][] = [];
  const merges = (Array.isArray(model.merges) ? model.merges : []).map((m: unknown) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return `${m[0]} ${m[1]}`;
    throw invalid(`tokenizer.json merge ${JSON.stringify(m)} is not "a b" or ["a", "b"]`);
  });

  if (!spm) {
    out.push(["tokenizer.ggml.model", { type: "string", value: "gpt2" }]);
    out.push(["tokenizer.ggml.pre", { type: "string", value: preTokenizerName(inputs.tokenizer) }]);
  } else {
    out.push(["tokenizer.ggml.model", { type: "string", value: "llama" }]);
  }
  const tokens: string[] = new Array(inputs.vocabSize);
  for (let i = 0; i < inputs.vocabSize; i++) {
    const t = v.tokens[i];
    if (t === undefined) {
      tokens[i] = `[PAD${i}]`;
      v.types[i] = TokenType.UNUSED;
    } else {
      tokens[i] = t;
      if (spm && v.types[i] === TokenType.NORMAL && /^<0x[0-9A-Fa-f]{2}>$/.test(t)) v.types[i] = TokenType.BYTE;
    }
  }
  const unk = tokenContent(model.unk_token) ?? tokenContent(inputs.tokenizerConfig?.unk_token);
  if (spm && unk !== undefined && v.idOf.has(unk)) v.types[v.idOf.get(unk)!] = TokenType.UNKNOWN;
  out.push(["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }]);
  if (spm) {
    // tokenizer.json keeps SentencePiece's merge order but not its scores; llama.cpp's SPM tokenizer merges the pair
    // whose joined piece scores highest, so a merged piece scores minus its merge rank and other pieces score lowest.
    const scores = new Array<number>(inputs.vocabSize).fill(-1e9);
    merges.forEach((m, rank) => {
      const id = v.idOf.get(m.replace(" ", ""));
      if (id !== undefined && scores[id] === -1e9) scores[id] = -(rank + 1);
    });
    for (let i = 0; i < inputs.vocabSize; i++) if (v.tokens[i] !== undefined && [...v.tokens[i]!].length === 1) scores[i] = 0;
    out.push(["tokenizer.ggml.scores", { type: "array", itemType: "float32", value: scores }]);
  }
  out.push(["tokenizer.ggml.token_type", { type: "array", itemType: "int32", value: v.types }]);
  if (!spm) out.push(["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }]);
  if (spm) out.push(["tokenizer.ggml.add_space_prefix", { type: "bool", value: addsSpacePrefix(inputs.tokenizer) }]);

  // Special tokens: tokenizer_config.json names them; config.json's *_token_id fill the gaps.
  const special: [string, string][] = [
    ["bos", "bos_token_id"],
    ["eos", "eos_token_id"],
    ["unk", "unknown_token_id"],
    ["pad", "padding_token_id"],
  ];
  for (const [kind, key] of special) {
    let id: number | undefined;
    const content = tokenContent(inputs.tokenizerConfig?.[`${kind}_token`]);
    if (content !== undefined) id = v.idOf.get(content);
    if (id === undefined) {
      const fromConfig = inputs.config[`${kind}_token_id`];
      const first = Array.isArray(fromConfig) ? fromConfig[0] : fromConfig;
      if (typeof first === "number" && Number.isInteger(first) && first >= 0 && first < inputs.vocabSize) id = first;
    }
    if (id !== undefined) out.push([`tokenizer.ggml.${key}`, { type: "uint32", value: id }]);
  }
  for (const kind of ["bos", "eos"]) {
    const flag = inputs.tokenizerConfig?.[`add_${kind}_token`];
    if (typeof flag === "boolean") out.push([`tokenizer.ggml.add_${kind}_token`, { type: "bool", value: flag }]);
  }
  const template = inputs.chatTemplate ?? inputs.tokenizerConfig?.chat_template;
  if (typeof template === "string") {
    out.push(["tokenizer.chat_template", { type: "string", value: template }]);
  } else if (Array.isArray(template)) {
    for (const t of template as Json[]) {
      if (typeof t?.name !== "string" || typeof t.template !== "string") continue;
      const key = t.name === "default" ? "tokenizer.chat_template" : `tokenizer.chat_template.${t.name}`;
      out.push([key, { type: "string", value: t.template }]);
    }
  }
  return out;
}

/** Whether a SentencePiece-style tokenizer.json prepends "▁" to the input (a Prepend normalizer or Metaspace). */
function addsSpacePrefix(tokenizer: Json): boolean {
  const text = JSON.stringify([tokenizer.normalizer, tokenizer.pre_tokenizer]);
  if (/"type":"Prepend"/.test(text)) return true;
  const meta = /"type":"Metaspace"[^}]*/.exec(text);
  if (meta !== null) return !/"prepend_scheme":"never"/.test(meta[0]) && !/"add_prefix_space":false/.test(meta[0]);
  return false;
}
