/**
 * Trains a byte-level BPE vocabulary (GPT-2 byte alphabet) from plain text: the merges that `byteLevelTokenizer`
 * (checkpoint/byte-level-tokenizer.ts) turns into `tokenizer.json` and `tokenizer_config.json`. Used to build the
 * embedded demo model's tokenizer from its corpus.
 *
 * Texts are pre-tokenised exactly as the `ByteLevel` pre-tokenizer of that `tokenizer.json` does (special-token strings
 * split out first, then the GPT-2 regex, then UTF-8 bytes), so the segmentation learned here is the one the tokenizer
 * pipeline reproduces. Word frequencies are counted once; each merge then rewrites only the words that hold the chosen
 * pair and updates the pair counts incrementally, with a max-heap of lazily refreshed counts picking the next pair.
 *
 * Tie-breaking is deterministic and independent of input order within equal counts: the pair with the highest count
 * wins; among equal counts, the pair whose left token has the lower id, then whose right token has the lower id. Byte
 * tokens have ids 0..255 (the byte value); each new token takes the next id in the order it is created.
 *
 * This file does not write files, does not build the tokenizer.json (that is `byteLevelTokenizer`), and is not an
 * encoder: encoding goes through the package's tokenizer (text/tokenizer.ts).
 */
import { InferenceError } from "@dappcore/inference";
import { byteToUnicode } from "../checkpoint/byte-level-tokenizer.js";

/** Options of `trainByteLevelBPE`. */
export interface TrainByteLevelBPEOptions {
  /**
   * Size of the whole vocabulary the trained tokenizer will have: the 256 byte tokens, one token per distinct merged
   * string, and the special tokens. Required; at least `256 + specialTokens.length`, at most 2^21. Training stops
   * earlier (a smaller vocabulary) when no pair occurs `minFrequency` times.
   * @example trainByteLevelBPE(texts, { vocabSize: 4096, specialTokens: ["<|endoftext|>"] })
   */
  readonly vocabSize: number;
  /**
   * Special tokens, in id order after the learned tokens. Their strings are cut out of the texts before counting, as
   * the tokenizer cuts them out before encoding. Required (may be empty); no duplicates, no empty strings.
   * @example trainByteLevelBPE(texts, { vocabSize: 1024, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] })
   */
  readonly specialTokens: readonly string[];
  /**
   * The fewest occurrences a pair needs to be merged. Default `2` (a pair seen once compresses nothing).
   * @example trainByteLevelBPE(texts, { vocabSize: 4096, specialTokens: [], minFrequency: 5 })
   */
  readonly minFrequency?: number;
}

/** What `trainByteLevelBPE` learned, ready for `byteLevelTokenizer(result.merges, result.specialTokens)`. */
export interface ByteLevelBPE {
  /** The merges in rank order, spelled in the GPT-2 byte alphabet (a space is `Ġ`, a newline `Ċ`). */
  readonly merges: [string, string][];
  /** The special tokens, as given. */
  readonly specialTokens: string[];
  /** Size of the vocabulary `byteLevelTokenizer(merges, specialTokens)` builds: 256 + new tokens + specials. */
  readonly vocabSize: number;
  /** UTF-8 bytes of the training text, special-token strings excluded. */
  readonly byteCount: number;
  /** Pre-tokenised words in the training text (occurrences) and how many were distinct. */
  readonly wordCount: number;
  readonly uniqueWordCount: number;
  /** Tokens the training text takes under the learned merges (special tokens excluded). */
  readonly tokenCount: number;
}

const OP = "cpu.trainByteLevelBPE";

/** The GPT-2 pre-tokenisation regex, as the `ByteLevel` pre-tokenizer applies it with `use_regex: true`. */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Largest vocabulary: two token ids pack into one exact double as `left * 2^21 + right`. */
const MAX_VOCAB = 1 << 21;
const pairKey = (a: number, b: number): number => a * MAX_VOCAB + b;

/**
 * Trains byte-level BPE merges on `texts` until the vocabulary reaches `opts.vocabSize`.
 *
 * @example
 * const bpe = trainByteLevelBPE(lines, { vocabSize: 4096, specialTokens: ["<|endoftext|>"] });
 * const files = byteLevelTokenizer(bpe.merges, bpe.specialTokens); // files.tokenizer is tokenizer.json
 */
export function trainByteLevelBPE(texts: Iterable<string>, opts: TrainByteLevelBPEOptions): ByteLevelBPE {
  const specials = checkOptions(opts);
  const minFrequency = opts.minFrequency ?? 2;
  const targetTokens = opts.vocabSize - specials.length; // bytes + learned tokens

  // 1. Count words once.
  const { counts: wordCounts, byteCount, wordCount } = countWords(texts, specials);
  if (wordCounts.size === 0) {
    throw new InferenceError({
      code: "invalid_argument",
      op: OP,
      message: "the training corpus is empty (no text outside special tokens)",
      details: { byteCount },
    });
  }

  // 2. Words as symbol-id sequences, with their frequencies; pair counts and the words holding each pair.
  const encoder = new TextEncoder();
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [word, n] of [...wordCounts].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))) {
    words.push(Array.from(encoder.encode(word)));
    freqs.push(n);
  }
  const pairCounts = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  words.forEach((syms, w) => {
    for (let i = 0; i + 1 < syms.length; i++) {
      const k = pairKey(syms[i]!, syms[i + 1]!);
      pairCounts.set(k, (pairCounts.get(k) ?? 0) + freqs[w]!);
      let set = pairWords.get(k);
      if (set === undefined) pairWords.set(k, (set = new Set()));
      set.add(w);
    }
  });

  const heap = new PairHeap();
  for (const [k, c] of pairCounts) heap.push(c, Math.floor(k / MAX_VOCAB), k % MAX_VOCAB);

  // Token strings in the GPT-2 alphabet, by id, and the id of each string (merges can rebuild an existing string).
  const tokens: string[] = byteToUnicode();
  const idOf = new Map<string, number>(tokens.map((t, i) => [t, i]));
  const merges: [string, string][] = [];
  const merged = new Set<number>();

  // 3. Merge until the vocabulary is full or no pair is frequent enough.
  while (tokens.length < targetTokens) {
    const best = popBest(heap, pairCounts);
    if (best === undefined || best.count < minFrequency) break;
    const { a, b } = best;
    const k = pairKey(a, b);
    const text = tokens[a]! + tokens[b]!;
    let c = idOf.get(text);
    if (c === undefined) {
      c = tokens.length;
      tokens.push(text);
      idOf.set(text, c);
    }
    // A pair merged before can reappear only next to a token rebuilt by another merge; the encoder merges it at its
    // first rank, so it is applied again here without a second merge line.
    if (!merged.has(k)) {
      merged.add(k);
      merges.push([tokens[a]!, tokens[b]!]);
    }
    applyMerge(a, b, c, words, freqs, pairCounts, pairWords, heap);
  }

  let tokenCount = 0;
  words.forEach((syms, w) => (tokenCount += syms.length * freqs[w]!));
  return {
    merges,
    specialTokens: [...specials],
    vocabSize: tokens.length + specials.length,
    byteCount,
    wordCount,
    uniqueWordCount: words.length,
    tokenCount,
  };
}

function checkOptions(opts: TrainByteLevelBPEOptions): readonly string[] {
  const bad = (message: string, details: Record<string, unknown>): never => {
    throw new InferenceError({ code: "invalid_argument", op: OP, message, details });
  };
  const specials = opts.specialTokens;
  if (!Array.isArray(specials)) bad("specialTokens must be an array of strings", {});
  const seen = new Set<string>();
  for (const s of specials) {
    if (typeof s !== "string" || s.length === 0) bad("a special token must be a non-empty string", { token: s });
    if (seen.has(s)) bad(`special token ${JSON.stringify(s)} is listed twice`, { token: s });
    seen.add(s);
  }
  const v = opts.vocabSize;
  if (!Number.isInteger(v) || v > MAX_VOCAB) bad(`vocabSize must be an integer no larger than ${MAX_VOCAB}, got ${v}`, { vocabSize: v });
  if (v < 256 + specials.length) {
    bad(`vocabSize ${v} is smaller than the 256 byte tokens plus ${specials.length} special tokens`, {
      vocabSize: v,
      minimum: 256 + specials.length,
    });
  }
  const m = opts.minFrequency;
  if (m !== undefined && (!Number.isInteger(m) || m < 1)) bad(`minFrequency must be an integer of at least 1, got ${m}`, { minFrequency: m });
  return specials;
}

/** Word occurrence counts after cutting out special tokens and splitting with the GPT-2 regex. */
function countWords(texts: Iterable<string>, specials: readonly string[]): { counts: Map<string, number>; byteCount: number; wordCount: number } {
  // Longest first, as the tokenizer's added-token matcher prefers the longest match.
  const cut =
    specials.length === 0
      ? undefined
      : new RegExp([...specials].sort((x, y) => y.length - x.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "u");
  const counts = new Map<string, number>();
  let byteCount = 0;
  let wordCount = 0;
  let index = 0;
  for (const text of texts) {
    if (typeof text !== "string") {
      throw new InferenceError({
        code: "invalid_argument",
        op: OP,
        message: `training text ${index} is a ${text === null ? "null" : typeof text}, not a string`,
        details: { index },
      });
    }
    index++;
    for (const piece of cut === undefined ? [text] : text.split(cut)) {
      byteCount += Buffer.byteLength(piece, "utf8");
      for (const m of piece.matchAll(GPT2_SPLIT)) {
        const word = m[0];
        counts.set(word, (counts.get(word) ?? 0) + 1);
        wordCount++;
      }
    }
  }
  return { counts, byteCount, wordCount };
}

/** The pair with the highest current count (ties: lower left id, then lower right id), or undefined when none is left. */
function popBest(heap: PairHeap, pairCounts: Map<number, number>): { count: number; a: number; b: number } | undefined {
  for (;;) {
    const e = heap.pop();
    if (e === undefined) return undefined;
    const current = pairCounts.get(pairKey(e.a, e.b)) ?? 0;
    if (current === e.count) return e;
    // Counts only fall without a push; a count that rose was pushed again, so a stale higher entry is refreshed and a
    // stale lower one dropped.
    if (current > 0 && current < e.count) heap.push(current, e.a, e.b);
  }
}

/** Replaces every (a, b) by c in the words that hold the pair, updating pair counts, pair-word sets and the heap. */
function applyMerge(
  a: number,
  b: number,
  c: number,
  words: number[][],
  freqs: number[],
  pairCounts: Map<number, number>,
  pairWords: Map<number, Set<number>>,
  heap: PairHeap,
): void {
  const holders = pairWords.get(pairKey(a, b));
  if (holders === undefined) return;
  const delta = new Map<number, number>();
  const add = (k: number, d: number): void => void delta.set(k, (delta.get(k) ?? 0) + d);
  for (const w of holders) {
    const syms = words[w]!;
    let found = false;
    for (let i = 0; i + 1 < syms.length; i++) {
      if (syms[i] === a && syms[i + 1] === b) {
        found = true;
        break;
      }
    }
    if (!found) continue; // stale membership: the pair left this word in an earlier merge
    const f = freqs[w]!;
    const next: number[] = [];
    for (let i = 0; i < syms.length; ) {
      if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) {
        next.push(c);
        i += 2;
      } else {
        next.push(syms[i]!);
        i += 1;
      }
    }
    for (let i = 0; i + 1 < syms.length; i++) add(pairKey(syms[i]!, syms[i + 1]!), -f);
    for (let i = 0; i + 1 < next.length; i++) {
      const k = pairKey(next[i]!, next[i + 1]!);
      add(k, f);
      let set = pairWords.get(k);
      if (set === undefined) pairWords.set(k, (set = new Set()));
      set.add(w);
    }
    words[w] = next;
  }
  for (const [k, d] of delta) {
    if (d === 0) continue;
    const count = (pairCounts.get(k) ?? 0) + d;
    if (count <= 0) {
      pairCounts.delete(k);
      pairWords.delete(k);
    } else {
      pairCounts.set(k, count);
      if (d > 0) heap.push(count, Math.floor(k / MAX_VOCAB), k % MAX_VOCAB);
    }
  }
}

/** A binary max-heap of (count, a, b) entries ordered by count desc, then a asc, then b asc. */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly lefts: number[] = [];
  private readonly rights: number[] = [];

  push(count: number, a: number, b: number): void {
    this.counts.push(count);
    this.lefts.push(a);
    this.rights.push(b);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): { count: number; a: number; b: number } | undefined {
    const n = this.counts.length;
    if (n === 0) return undefined;
    const top = { count: this.counts[0]!, a: this.lefts[0]!, b: this.rights[0]! };
    this.swap(0, n - 1);
    this.counts.pop();
    this.lefts.pop();
    this.rights.pop();
    const size = n - 1;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && this.above(l, m)) m = l;
      if (r < size && this.above(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }

  /** Whether entry i belongs above entry j. */
  private above(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    if (ci !== cj) return ci > cj;
    const ai = this.lefts[i]!;
    const aj = this.lefts[j]!;
    if (ai !== aj) return ai < aj;
    return this.rights[i]! < this.rights[j]!;
  }

  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.lefts[i], this.lefts[j]] = [this.lefts[j]!, this.lefts[i]!];
    [this.rights[i], this.rights[j]] = [this.rights[j]!, this.rights[i]!];
  }
}
