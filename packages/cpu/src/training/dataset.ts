/**
 * Training data from a JSONL file: each line is `{ "text": string }` (plain text, loss on every token) or
 * `{ "messages": [{ "role", "content" }, ...] }` (a conversation rendered with the model's chat template through
 * `encodeChat`, loss only on the assistant turns' tokens, their end-of-turn token included). Lines are read as a
 * stream, tokenised, then packed (or truncated) into sequences of T + 1 tokens, shuffled with a seed and cut into
 * batches of B. A held-out split takes every k-th record, or comes from a second file.
 *
 * Layout of one sequence: `tokens` (T + 1) and `lossMask` (T + 1), aligned: `lossMask[i] = 1` when predicting
 * `tokens[i]` from `tokens[0..i-1]` counts in the loss, so `lossMask[0]` is always 0 (Hugging Face's `labels` with
 * -100, before the shift). Padding uses the pad token (else EOS, else 0) with mask 0.
 *
 * This file does not compute the loss or run training; it only prepares `TrainingBatch`es.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { InferenceError, type TrainingBatch } from "@dappcore/inference";
import { createRng } from "../sampling/rng.js";
import { encodeChat, type EncodeChatOptions } from "../text/chat-encoding.js";
import type { ChatTemplateMessage } from "../text/chat-template.js";
import type { Tokenizer } from "../text/tokenizer.js";

/** One record of a dataset file, with the line it came from (1-based). */
export type DatasetRecord =
  | { readonly kind: "text"; readonly line: number; readonly text: string }
  | { readonly kind: "chat"; readonly line: number; readonly messages: readonly ChatMessage[] };

/** One message of a chat record. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/** A tokenised record: ids and, aligned with them, 1 where the token is a target of the loss. */
export interface TokenizedExample {
  readonly ids: number[];
  readonly mask: number[];
}

/** One training sequence: T + 1 tokens and the aligned loss mask (see the file comment). */
export interface TrainingSequence {
  /** (T + 1) */
  readonly tokens: number[];
  /** (T + 1), 0 or 1; `lossMask[0]` is 0. */
  readonly lossMask: number[];
}

const OP = "cpu.dataset";

function invalid(message: string, details: Record<string, unknown>, cause?: unknown): InferenceError {
  return new InferenceError({ code: "invalid_argument", op: OP, message, details, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Reads the records of a JSONL file line by line (blank lines are skipped; a UTF-8 BOM and CRLF endings are
 * accepted). Throws `invalid_argument` naming the file and line for a line that is not JSON, not an object, has
 * neither or both of `text` and `messages`, an empty `text`, or messages that are not `{ role, content }` strings.
 *
 * @example for await (const r of readJsonlRecords("data/train.jsonl")) console.log(r.line, r.kind);
 */
export async function* readJsonlRecords(path: string): AsyncGenerator<DatasetRecord> {
  const stream = createReadStream(path, { encoding: "utf8" });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once("ready", () => resolve());
    stream.once("error", reject);
  });
  try {
    await opened;
  } catch (cause) {
    stream.destroy();
    throw invalid(`cannot read dataset ${path}: ${(cause as Error).message}`, { path }, cause);
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (const raw of lines) {
      line++;
      const text = line === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      if (text.trim().length === 0) continue;
      yield parseRecord(text, path, line);
    }
  } catch (cause) {
    if (cause instanceof InferenceError) throw cause;
    throw invalid(`cannot read dataset ${path} after line ${line}: ${(cause as Error).message}`, { path, line }, cause);
  } finally {
    lines.close();
    stream.destroy();
  }
}

/** Parses one non-blank JSONL line; exported for callers that hold lines already. */
export function parseRecord(text: string, path: string, line: number): DatasetRecord {
  const where = `${path}:${line}`;
  const bad = (message: string, cause?: unknown) => invalid(`${where}: ${message}`, { path, line }, cause);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw bad(`not valid JSON (${(cause as Error).message})`, cause);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw bad("expected a JSON object");
  const rec = value as Record<string, unknown>;
  const hasText = rec["text"] !== undefined;
  const hasMessages = rec["messages"] !== undefined;
  if (hasText === hasMessages) {
    throw bad(hasText ? 'has both "text" and "messages"; give one' : 'expected {"text": string} or {"messages": [{"role", "content"}, ...]}');
  }
  if (hasText) {
    if (typeof rec["text"] !== "string") throw bad(`"text" must be a string, got ${typeOf(rec["text"])}`);
    if (rec["text"].length === 0) throw bad('"text" is empty');
    return { kind: "text", line, text: rec["text"] };
  }
  const messages = rec["messages"];
  if (!Array.isArray(messages) || messages.length === 0) throw bad('"messages" must be a non-empty array');
  const out: ChatMessage[] = [];
  messages.forEach((m: unknown, i) => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw bad(`messages[${i}] must be an object with "role" and "content"`);
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== "string" || role.length === 0) throw bad(`messages[${i}].role must be a non-empty string, got ${typeOf(role)}`);
    if (typeof content !== "string") throw bad(`messages[${i}].content must be a string, got ${typeOf(content)}`);
    out.push({ role, content });
  });
  if (!out.some((m) => m.role === "assistant")) throw bad("the conversation has no assistant message, so nothing to learn");
  return { kind: "chat", line, messages: out };
}

function typeOf(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}

/** Options of `tokenizeRecord`. */
export interface TokenizeOptions {
  /**
   * End each text record with the first EOS id so packed documents are separated. Default true (no-op without EOS).
   * @example { appendEos: false }
   */
  readonly appendEos?: boolean;
  /**
   * Ids that end a turn: an assistant span is cut after the last of them. Default `tokenizer.eosTokenIds`.
   * @example { endOfTurnIds: [106] } // Gemma's <end_of_turn>
   */
  readonly endOfTurnIds?: readonly number[];
  /** Passed to `encodeChat` (template, extra variables, limits). Default: the tokenizer's template. @example { chat: { extra: { enable_thinking: false } } } */
  readonly chat?: Omit<EncodeChatOptions, "addGenerationPrompt">;
}

/**
 * Tokenises one record. Text: `encode(text)` (the tokenizer's own special tokens included) plus EOS, every token a
 * target. Chat: the whole conversation rendered once; for each assistant message k, its span starts where the
 * rendering of messages 0..k-1 with the generation prompt ends (which must be a prefix of the whole), and ends where
 * the rendering of messages 0..k ends when that is a prefix of the whole, else at the first end-of-turn token (a
 * template may render a final message differently, as Qwen3's does with its empty think block); the span is then cut
 * after its last end-of-turn token, so a newline after `<|im_end|>` is not a target. Throws `unsupported` when the
 * template does not render prefixes consistently or an assistant span cannot be found.
 *
 * @example tokenizeRecord({ kind: "text", line: 1, text: "Hello" }, tok)
 */
export function tokenizeRecord(record: DatasetRecord, tokenizer: Tokenizer, opts: TokenizeOptions = {}): TokenizedExample {
  if (record.kind === "text") {
    const ids = tokenizer.encode(record.text);
    const eos = tokenizer.eosTokenIds[0];
    if ((opts.appendEos ?? true) && eos !== undefined && ids[ids.length - 1] !== eos) ids.push(eos);
    return { ids, mask: ids.map(() => 1) };
  }
  const endOfTurn = new Set(opts.endOfTurnIds ?? tokenizer.eosTokenIds);
  const messages = record.messages as readonly ChatTemplateMessage[];
  const encode = (msgs: readonly ChatTemplateMessage[], addGenerationPrompt: boolean) =>
    encodeChat(tokenizer, msgs, { ...opts.chat, addGenerationPrompt }).ids;
  const ids = encode(messages, false);
  const mask = ids.map(() => 0);
  const unsupported = (why: string) =>
    new InferenceError({ code: "unsupported", op: OP, message: `record at line ${record.line}: ${why}`, details: { line: record.line } });
  for (let k = 0; k < messages.length; k++) {
    if (messages[k]?.role !== "assistant") continue;
    const before = encode(messages.slice(0, k), true);
    if (!isPrefix(before, ids)) {
      throw unsupported(`the chat template renders the conversation before message ${k} differently from the whole conversation`);
    }
    const start = before.length;
    const through = encode(messages.slice(0, k + 1), false);
    let end: number;
    if (isPrefix(through, ids) && through.length > start) {
      end = through.length;
    } else {
      end = ids.findIndex((id, i) => i >= start && endOfTurn.has(id)) + 1;
      if (end === 0) throw unsupported(`cannot find where assistant message ${k} ends (no end-of-turn token follows it)`);
    }
    let last = -1;
    for (let i = start; i < end; i++) if (endOfTurn.has(ids[i] as number)) last = i;
    if (last >= 0) end = last + 1;
    for (let i = start; i < end; i++) mask[i] = 1;
  }
  return { ids, mask };
}

function isPrefix(prefix: readonly number[], of: readonly number[]): boolean {
  if (prefix.length > of.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== of[i]) return false;
  return true;
}

/** Options of `buildSequences`. */
export interface SequenceOptions {
  /** T: positions per sequence (each sequence holds T + 1 tokens). An integer >= 1. @example { seqLen: 256 } */
  readonly seqLen: number;
  /**
   * "pack": concatenate all examples and cut windows of T + 1 tokens every T tokens (no token is lost; a window's
   * first token is only context). "truncate": one sequence per example, cut to T + 1 tokens and padded. Default "pack".
   * @example { mode: "truncate" }
   */
  readonly mode?: "pack" | "truncate";
  /** Padding id. Default: `pad_token`'s id, else the first EOS id, else 0. @example { padId: 0 } */
  readonly padId?: number;
}

/**
 * Turns tokenised examples into sequences of T + 1 tokens with aligned masks. Sequences without any target are
 * dropped. Throws `invalid_argument` for a bad `seqLen`.
 *
 * @example buildSequences([{ ids: [1, 2, 3], mask: [1, 1, 1] }], { seqLen: 2, padId: 0 })
 */
export function buildSequences(examples: Iterable<TokenizedExample>, opts: SequenceOptions & { readonly padId: number }): TrainingSequence[] {
  const T = opts.seqLen;
  if (!Number.isSafeInteger(T) || T < 1) throw invalid(`seqLen must be an integer >= 1, got ${String(T)}`, { seqLen: T });
  const mode = opts.mode ?? "pack";
  if (mode !== "pack" && mode !== "truncate") throw invalid(`mode must be "pack" or "truncate", got ${String(mode)}`, { mode });
  const out: TrainingSequence[] = [];
  const emit = (ids: readonly number[], mask: readonly number[]) => {
    const tokens = ids.slice(0, T + 1);
    const lossMask = mask.slice(0, T + 1);
    lossMask[0] = 0;
    if (!lossMask.some((m) => m === 1)) return;
    while (tokens.length < T + 1) {
      tokens.push(opts.padId);
      lossMask.push(0);
    }
    out.push({ tokens, lossMask });
  };
  if (mode === "truncate") {
    for (const e of examples) emit(e.ids, e.mask);
    return out;
  }
  // Pack: a rolling buffer; each window starts at the last token of the previous one (its target was counted there).
  let ids: number[] = [];
  let mask: number[] = [];
  for (const e of examples) {
    for (let i = 0; i < e.ids.length; i++) {
      ids.push(e.ids[i] as number);
      mask.push(e.mask[i] as number);
    }
    let at = 0;
    while (ids.length - at >= T + 1) {
      emit(ids.slice(at, at + T + 1), mask.slice(at, at + T + 1));
      at += T;
    }
    if (at > 0) {
      ids = ids.slice(at);
      mask = mask.slice(at);
    }
  }
  if (ids.length >= 2) emit(ids, mask);
  return out;
}

/**
 * Returns a copy of `items` in a seeded random order (Fisher-Yates over `createRng(seed)`): the same seed gives the
 * same order everywhere.
 *
 * @example shuffled([1, 2, 3], 42)
 */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const rng = createRng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.nextFloat() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Cuts sequences into batches of `batchSize` (the last one may be smaller unless `dropLast`).
 *
 * @example toBatches(sequences, 8)
 */
export function toBatches(sequences: readonly TrainingSequence[], batchSize: number, dropLast = false): TrainingBatch[] {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw invalid(`batchSize must be an integer >= 1, got ${String(batchSize)}`, { batchSize });
  const out: TrainingBatch[] = [];
  for (let i = 0; i < sequences.length; i += batchSize) {
    const group = sequences.slice(i, i + batchSize);
    if (dropLast && group.length < batchSize) break;
    out.push({ tokens: group.map((s) => s.tokens), lossMask: group.map((s) => s.lossMask) });
  }
  return out;
}

/** A prepared split: its sequences and how to batch them. */
export interface PreparedSplit {
  readonly sequences: readonly TrainingSequence[];
  /** Records read into this split. */
  readonly records: number;
  /** Tokens that count in the loss, over all sequences. */
  readonly targetTokens: number;
  /**
   * The batches of one epoch: sequences shuffled with `seed + epoch` (train split; the held-out split keeps file
   * order), cut into batches of B.
   */
  batches(epoch?: number): TrainingBatch[];
}

/** Options of `loadJsonlDataset`. */
export interface DatasetOptions extends Omit<SequenceOptions, "padId">, TokenizeOptions {
  /** B: sequences per batch. Default 1. @example { batchSize: 8 } */
  readonly batchSize?: number;
  /** Seed of the shuffle. Default 0. @example { seed: 1234 } */
  readonly seed?: number;
  /** Leave out a last batch smaller than B. Default false. @example { dropLast: true } */
  readonly dropLast?: boolean;
  /** Padding id. Default: `pad_token`'s id, else the first EOS id, else 0. @example { padId: 0 } */
  readonly padId?: number;
  /**
   * Held-out split: every k-th record (the k-th, 2k-th, ...) goes to it instead of training. k >= 2. Default: none.
   * @example { heldOutEvery: 10 }
   */
  readonly heldOutEvery?: number;
  /** Held-out split from a separate JSONL file (not with `heldOutEvery`). Default: none. @example { heldOutPath: "data/valid.jsonl" } */
  readonly heldOutPath?: string;
}

/** The prepared training split and, when asked for, the held-out one. */
export interface PreparedDataset {
  readonly train: PreparedSplit;
  readonly heldOut?: PreparedSplit;
}

/** The padding id a tokenizer suggests: `pad_token`, else the first EOS id, else 0. */
export function defaultPadId(tokenizer: Tokenizer): number {
  const pad = tokenizer.specialTokens["pad_token"];
  const id = pad === undefined ? undefined : tokenizer.tokenToId(pad);
  return id ?? tokenizer.eosTokenIds[0] ?? 0;
}

/**
 * Reads, tokenises, packs and batches a JSONL dataset, with an optional held-out split. Throws the typed errors of
 * `readJsonlRecords`, `tokenizeRecord` and `buildSequences`, and `invalid_argument` for bad options or a split
 * that yields no sequence.
 *
 * @example
 * const { train, heldOut } = await loadJsonlDataset("train.jsonl", tok, { seqLen: 128, batchSize: 4, heldOutEvery: 10 });
 * for (const batch of train.batches(epoch)) await model.loss(batch);
 */
export async function loadJsonlDataset(path: string, tokenizer: Tokenizer, opts: DatasetOptions): Promise<PreparedDataset> {
  const batchSize = opts.batchSize ?? 1;
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw invalid(`batchSize must be an integer >= 1, got ${String(batchSize)}`, { batchSize });
  if (!Number.isSafeInteger(seed) || seed < 0) throw invalid(`seed must be a non-negative integer, got ${String(seed)}`, { seed });
  const every = opts.heldOutEvery;
  if (every !== undefined && (!Number.isSafeInteger(every) || every < 2)) {
    throw invalid(`heldOutEvery must be an integer >= 2, got ${String(every)}`, { heldOutEvery: every });
  }
  if (every !== undefined && opts.heldOutPath !== undefined) throw invalid("give heldOutEvery or heldOutPath, not both", {});
  const padId = opts.padId ?? defaultPadId(tokenizer);
  const seqOpts = { seqLen: opts.seqLen, padId, ...(opts.mode === undefined ? {} : { mode: opts.mode }) };
  // Check seqLen before reading a possibly large file.
  buildSequences([], seqOpts);

  const train: TokenizedExample[] = [];
  const held: TokenizedExample[] = [];
  let index = 0;
  for await (const record of readJsonlRecords(path)) {
    index++;
    (every !== undefined && index % every === 0 ? held : train).push(tokenizeRecord(record, tokenizer, opts));
  }
  if (opts.heldOutPath !== undefined) {
    for await (const record of readJsonlRecords(opts.heldOutPath)) held.push(tokenizeRecord(record, tokenizer, opts));
  }
  const split = (name: string, source: string, examples: TokenizedExample[], shuffle: boolean): PreparedSplit => {
    const sequences = buildSequences(examples, seqOpts);
    if (sequences.length === 0) {
      throw invalid(`${source}: the ${name} split has no sequence with a token to learn (${examples.length} records)`, { path: source, split: name });
    }
    let targetTokens = 0;
    for (const s of sequences) for (const m of s.lossMask) targetTokens += m;
    return {
      sequences,
      records: examples.length,
      targetTokens,
      batches: (epoch = 0) => {
        if (!Number.isSafeInteger(epoch) || epoch < 0) throw invalid(`epoch must be an integer >= 0, got ${String(epoch)}`, { epoch });
        return toBatches(shuffle ? shuffled(sequences, seed + epoch) : sequences, batchSize, opts.dropLast ?? false);
      },
    };
  };
  const trainSplit = split("training", path, train, true);
  if (every === undefined && opts.heldOutPath === undefined) return { train: trainSplit };
  return { train: trainSplit, heldOut: split("held-out", opts.heldOutPath ?? path, held, false) };
}
