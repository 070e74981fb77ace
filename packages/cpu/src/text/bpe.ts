/**
 * The BPE model of `tokenizer.json`: turns one pre-tokenized piece into token ids by applying merges in rank order
 * (lowest rank first, leftmost first on ties), with byte fallback (`<0xAB>` tokens, SentencePiece style),
 * `ignore_merges` (a piece that is already a token stays whole) and an unknown token.
 *
 * This file is not the pipeline around it (added tokens, normalizer, pre-tokenizer live in `tokenizer.ts`); and it
 * does not decode. Merging uses a heap over a linked list, so long pieces (Gemma has no pre-tokenizer split) cost
 * O(n log n), not O(n^2).
 */
import { InferenceError } from "@dappcore/inference";

/** What `new BpeModel` takes, already read from `tokenizer.json`'s `model` section. */
export interface BpeModelInit {
  readonly vocab: ReadonlyMap<string, number>;
  /** Each merge as its two parts, in rank order. */
  readonly merges: ReadonlyArray<readonly [string, string]>;
  readonly byteFallback: boolean;
  readonly ignoreMerges: boolean;
  readonly unkTokenId: number | undefined;
  readonly fuseUnk: boolean;
}

const CACHE_LIMIT = 50_000;
const CACHE_PIECE_CHARS = 64;

export class BpeModel {
  private readonly vocab: ReadonlyMap<string, number>;
  /** key `left * stride + right` → rank; `mergedId[rank]` is the token id the merge produces. */
  private readonly ranks = new Map<number, number>();
  private readonly mergedId: Int32Array;
  private readonly stride: number;
  private readonly byteIds: Int32Array | undefined; // (256) id of "<0xAB>", or -1
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly init: BpeModelInit) {
    this.vocab = init.vocab;
    let maxId = 0;
    for (const id of init.vocab.values()) if (id > maxId) maxId = id;
    this.stride = maxId + 1;
    this.mergedId = new Int32Array(init.merges.length);
    init.merges.forEach(([a, b], rank) => {
      const left = this.vocab.get(a);
      const right = this.vocab.get(b);
      const merged = this.vocab.get(a + b);
      if (left === undefined || right === undefined || merged === undefined) {
        throw new InferenceError({
          code: "invalid_model",
          op: "cpu.loadTokenizer",
          message: `tokenizer.json merge ${rank} (${JSON.stringify(a)} ${JSON.stringify(b)}) uses a token that is not in the vocabulary`,
          details: { rank },
        });
      }
      const key = left * this.stride + right;
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
      this.mergedId[rank] = merged;
    });
    if (init.byteFallback) {
      this.byteIds = new Int32Array(256).fill(-1);
      for (let b = 0; b < 256; b++) {
        const id = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
        if (id !== undefined) this.byteIds[b] = id;
      }
    }
  }

  /** Token ids of one piece, appended to `out`. */
  encodePiece(piece: string, out: number[]): void {
    if (piece.length === 0) return;
    const cacheable = piece.length <= CACHE_PIECE_CHARS;
    if (cacheable) {
      const hit = this.cache.get(piece);
      if (hit) {
        for (const id of hit) out.push(id);
        return;
      }
    }
    const ids = this.encodeUncached(piece);
    if (cacheable) {
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(piece, ids);
    }
    for (const id of ids) out.push(id);
  }

  private encodeUncached(piece: string): number[] {
    if (this.init.ignoreMerges) {
      const whole = this.vocab.get(piece);
      if (whole !== undefined) return [whole];
    }
    const symbols = this.initialSymbols(piece);
    return this.merge(symbols);
  }

  /** One symbol per character; characters outside the vocabulary become byte tokens or the unknown token. */
  private initialSymbols(piece: string): number[] {
    const out: number[] = [];
    let lastWasUnk = false;
    for (const ch of piece) {
      const id = this.vocab.get(ch);
      if (id !== undefined) {
        out.push(id);
        lastWasUnk = false;
        continue;
      }
      if (this.byteIds) {
        const bytes = new TextEncoder().encode(ch);
        const ids = Array.from(bytes, (b) => this.byteIds?.[b] ?? -1);
        if (ids.every((x) => x >= 0)) {
          out.push(...ids);
          lastWasUnk = false;
          continue;
        }
      }
      const unk = this.init.unkTokenId;
      if (unk === undefined) continue; // Hugging Face drops characters it cannot represent when there is no unk token
      if (!(this.init.fuseUnk && lastWasUnk)) out.push(unk);
      lastWasUnk = true;
    }
    return out;
  }

  /** Applies merges lowest rank first (leftmost on ties) over a doubly linked list with a binary heap. */
  private merge(symbols: number[]): number[] {
    const n = symbols.length;
    if (n < 2) return symbols;
    const id = Int32Array.from(symbols); // (n) current token at each live position
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = new PairHeap();
    const pushPair = (i: number) => {
      const j = next[i] as number;
      if (j < 0) return;
      const rank = this.ranks.get((id[i] as number) * this.stride + (id[j] as number));
      if (rank !== undefined) heap.push(rank, i, id[i] as number, id[j] as number);
    };
    for (let i = 0; i < n - 1; i++) pushPair(i);
    while (heap.size > 0) {
      const [rank, i, left, right] = heap.pop();
      const j = next[i] as number;
      // Skip stale entries: the left symbol was merged away or changed, or its right neighbour changed.
      if (id[i] !== left || j < 0 || id[j] !== right || prev[i] === -2) continue;
      id[i] = this.mergedId[rank] as number;
      const k = next[j] as number;
      next[i] = k;
      if (k >= 0) prev[k] = i;
      prev[j] = -2; // dead
      id[j] = -1;
      if ((prev[i] as number) >= 0) pushPair(prev[i] as number);
      pushPair(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i] as number) out.push(id[i] as number);
    return out;
  }
}

/** A binary min-heap of (rank, position, leftId, rightId), ordered by rank then position. */
class PairHeap {
  private data: number[] = []; // 4 numbers per entry
  get size(): number {
    return this.data.length / 4;
  }
  push(rank: number, pos: number, left: number, right: number): void {
    const d = this.data;
    d.push(rank, pos, left, right);
    let c = d.length / 4 - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (!this.less(c, p)) break;
      this.swap(c, p);
      c = p;
    }
  }
  pop(): [number, number, number, number] {
    const d = this.data;
    const top: [number, number, number, number] = [d[0] as number, d[1] as number, d[2] as number, d[3] as number];
    const last = d.length / 4 - 1;
    if (last > 0) this.swap(0, last);
    d.length -= 4;
    const n = d.length / 4;
    let p = 0;
    for (;;) {
      const l = 2 * p + 1;
      const r = l + 1;
      let m = p;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === p) break;
      this.swap(p, m);
      p = m;
    }
    return top;
  }
  private less(a: number, b: number): boolean {
    const d = this.data;
    const ra = d[4 * a] as number;
    const rb = d[4 * b] as number;
    return ra < rb || (ra === rb && (d[4 * a + 1] as number) < (d[4 * b + 1] as number));
  }
  private swap(a: number, b: number): void {
    const d = this.data;
    for (let k = 0; k < 4; k++) {
      const t = d[4 * a + k] as number;
      d[4 * a + k] = d[4 * b + k] as number;
      d[4 * b + k] = t;
    }
  }
}
