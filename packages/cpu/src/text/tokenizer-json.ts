/**
 * Load-time checks of a parsed `tokenizer.json` before it is handed to `@huggingface/tokenizers`: the library trusts
 * its input (a merge "a b c" silently becomes "a b", an unknown template token becomes `undefined` ids, an
 * exponential regex hangs `encode`), and a model directory is untrusted input. Problems become `invalid_model`
 * (broken file) or `unsupported` (a valid file the library cannot run faithfully), naming the file and the piece.
 * Also turns the library's own constructor errors into those typed errors.
 *
 * This file does not tokenize and does not read files; `tokenizer.ts` does both.
 */
import { InferenceError } from "@dappcore/inference";

const OP = "cpu.loadTokenizer";
type Json = Record<string, unknown>;

/** The model types `@huggingface/tokenizers` runs. */
const MODEL_TYPES = ["BPE", "WordPiece", "Unigram"] as const;

/** Library component names (in its "Unknown X type" errors) to `tokenizer.json` section names. */
const SECTIONS: Readonly<Record<string, string>> = {
  TokenizerModel: "model",
  Normalizer: "normalizer",
  PreTokenizer: "pre_tokenizer",
  PostProcessor: "post_processor",
  Decoder: "decoder",
};

function invalid(source: string, message: string, details: Json = {}): InferenceError {
  return new InferenceError({ code: "invalid_model", op: OP, message: `${source}: ${message}`, details: { path: source, ...details } });
}

function unsupported(source: string, message: string, details: Json = {}): InferenceError {
  return new InferenceError({ code: "unsupported", op: OP, message: `${source}: ${message}`, details: { path: source, ...details } });
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks `tokenizerJson` and returns a copy the library accepts: every section present (missing ones `null`) and
 * `model.type` set where the file leaves it implicit (a model with merges is BPE).
 */
export function checkTokenizerJson(tokenizerJson: unknown, source: string): Json {
  if (!isObject(tokenizerJson)) throw invalid(source, "is not a JSON object");
  const model = tokenizerJson["model"];
  if (!isObject(model)) throw invalid(source, "missing the model section");
  const type = model["type"] ?? (model["merges"] !== undefined ? "BPE" : undefined);
  if (!MODEL_TYPES.includes(type as (typeof MODEL_TYPES)[number])) {
    throw unsupported(source, `model type ${JSON.stringify(type)} is not supported (@huggingface/tokenizers runs ${MODEL_TYPES.join(", ")})`, {
      modelType: type,
    });
  }
  if (type === "BPE" || type === "WordPiece") checkVocab(model["vocab"], source);
  if (type === "BPE") checkMerges(model["merges"], model["vocab"] as Json, source);
  if (type === "Unigram" && !Array.isArray(model["vocab"])) throw invalid(source, "model.vocab of a Unigram model is not an array");

  const added = tokenizerJson["added_tokens"] ?? [];
  if (!Array.isArray(added)) throw invalid(source, "added_tokens is not an array");
  added.forEach((t: unknown, i) => {
    if (!isObject(t) || !Number.isInteger(t["id"]) || (t["id"] as number) < 0 || typeof t["content"] !== "string" || t["content"] === "") {
      throw invalid(source, `added_tokens[${i}] needs an integer id and non-empty content`);
    }
  });

  for (const section of ["normalizer", "pre_tokenizer"]) {
    for (const pattern of regexPatterns(tokenizerJson[section])) checkRegex(pattern, section, source);
  }
  checkTemplateTokens(tokenizerJson["post_processor"], tokenizerJson, source);

  return {
    ...tokenizerJson,
    model: { ...model, type },
    added_tokens: added,
    normalizer: tokenizerJson["normalizer"] ?? null,
    pre_tokenizer: tokenizerJson["pre_tokenizer"] ?? null,
    post_processor: tokenizerJson["post_processor"] ?? null,
    decoder: tokenizerJson["decoder"] ?? null,
  };
}

/** Turns an error thrown by the library's `Tokenizer` constructor into a typed error naming the piece. */
export function libraryError(cause: unknown, source: string): InferenceError {
  const message = cause instanceof Error ? cause.message : String(cause);
  const unknown = /^Unknown (\w+) type: (.*)$/.exec(message);
  if (unknown) {
    const section = SECTIONS[unknown[1] as string] ?? (unknown[1] as string);
    return new InferenceError({
      code: "unsupported",
      op: OP,
      message: `${source}: ${section} type ${JSON.stringify(unknown[2])} is not supported by @huggingface/tokenizers`,
      cause,
      details: { path: source, section, type: unknown[2] },
    });
  }
  if (cause instanceof SyntaxError) {
    return new InferenceError({ code: "unsupported", op: OP, message: `${source}: a regex @huggingface/tokenizers cannot translate: ${message}`, cause, details: { path: source } });
  }
  return new InferenceError({ code: "invalid_model", op: OP, message: `${source}: @huggingface/tokenizers rejected it: ${message}`, cause, details: { path: source } });
}

function checkVocab(vocab: unknown, source: string): void {
  if (!isObject(vocab)) throw invalid(source, "model.vocab is not an object");
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 0x7fffffff) {
      throw invalid(source, `vocab id of ${JSON.stringify(token)} is not a non-negative integer`);
    }
  }
}

function checkMerges(merges: unknown, vocab: Json, source: string): void {
  if (merges === undefined) return;
  if (!Array.isArray(merges)) throw invalid(source, "model.merges is not an array");
  merges.forEach((m: unknown, i) => {
    let pair: unknown[] | undefined;
    if (Array.isArray(m)) pair = m;
    else if (typeof m === "string") pair = m.split(" ");
    if (pair?.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") throw invalid(source, `merge ${i} is not a pair`);
    const [a, b] = pair as [string, string];
    if (!Object.hasOwn(vocab, a) || !Object.hasOwn(vocab, b)) {
      throw invalid(source, `merge ${i} (${JSON.stringify(a)} ${JSON.stringify(b)}) uses a token that is not in the vocabulary`);
    }
  });
}

/** `pattern.Regex` strings of a normalizer or pre-tokenizer section, through `Sequence`s. */
function regexPatterns(spec: unknown): string[] {
  if (!isObject(spec)) return [];
  const out: string[] = [];
  const pattern = spec["pattern"];
  if (isObject(pattern) && typeof pattern["Regex"] === "string") out.push(pattern["Regex"]);
  for (const key of ["normalizers", "pretokenizers"]) {
    const list = spec[key];
    if (Array.isArray(list)) for (const s of list) out.push(...regexPatterns(s));
  }
  return out;
}

/**
 * Refuses what the library would run wrongly or too slowly: atomic groups and possessive quantifiers (it treats them
 * as ordinary ones, so matches differ from the Rust tokenizers) and a repeated group containing an unbounded
 * quantifier, `(a+)+`, which JavaScript's backtracking engine can take exponential time on.
 */
function checkRegex(pattern: string, section: string, source: string): void {
  const refuse = (why: string) => unsupported(source, `${section} regex ${JSON.stringify(pattern)}: ${why}`, { pattern });
  const stack: boolean[] = []; // per open group: does it contain an unbounded quantifier?
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++;
      // \p{L}, \x{263a}: skip the braces, whose "}" is not a quantifier's.
      if ("pPx".includes(pattern[i] ?? "") && pattern[i + 1] === "{") i = Math.max(i, pattern.indexOf("}", i));
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      if (pattern[i + 1] === "^") i++;
      if (pattern[i + 1] === "]") i++;
    } else if (c === "(") {
      if (pattern.startsWith("(?>", i)) throw refuse("atomic groups");
      stack.push(false);
    } else if (c === ")") {
      const inner = stack.pop() ?? false;
      const repeated = /^(?:[+*]|\{\d*,\})/.test(pattern.slice(i + 1, i + 12));
      if (inner && repeated) throw refuse("nested quantifiers can backtrack exponentially");
      if ((inner || repeated) && stack.length > 0) stack[stack.length - 1] = true;
    } else if (c === "+" || c === "*" || c === "?" || c === "}") {
      if (pattern[i + 1] === "+") throw refuse("possessive quantifiers");
      if (c !== "?" && c !== "}" && stack.length > 0) stack[stack.length - 1] = true;
    } else if (c === "{" && /^\{\d*,\}/.test(pattern.slice(i)) && stack.length > 0) {
      stack[stack.length - 1] = true;
    }
  }
}

/**
 * The library puts a `TemplateProcessing` special token into the output by its name and looks the name up as a token;
 * a name that is no token would become an `undefined` id. Require every such name to be a token.
 */
function checkTemplateTokens(spec: unknown, tokenizerJson: Json, source: string): void {
  if (!isObject(spec)) return;
  if (Array.isArray(spec["processors"])) {
    for (const p of spec["processors"]) checkTemplateTokens(p, tokenizerJson, source);
    return;
  }
  if (spec["type"] !== "TemplateProcessing") return;
  const vocab = (tokenizerJson["model"] as Json)["vocab"];
  const added = (tokenizerJson["added_tokens"] ?? []) as Json[];
  const known = (name: string) =>
    added.some((t) => t["content"] === name) ||
    (isObject(vocab) && Object.hasOwn(vocab, name)) ||
    (Array.isArray(vocab) && vocab.some((e) => Array.isArray(e) && e[0] === name));
  for (const key of ["single", "pair"]) {
    const items = spec[key];
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      const special = isObject(item) ? item["SpecialToken"] : undefined;
      if (!isObject(special)) continue;
      const name = special["id"];
      if (typeof name !== "string" || !known(name)) {
        throw invalid(source, `TemplateProcessing names special token ${JSON.stringify(name)}, which is not a token of the vocabulary`);
      }
    }
  }
}
