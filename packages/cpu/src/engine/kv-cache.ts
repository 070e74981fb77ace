/**
 * The key/value cache of one sequence: for every layer, the rotated keys and the values of each position seen so
 * far, in one block allocated when the cache is made (nothing grows while decoding): a plain Float32Array
 * on the reference path, a region of the WebAssembly arena on the fast one. Each layer's keys (and values) are laid
 * out (G, S, D): KV head by KV head, each head's S positions one after another, so that attention reads a head's
 * keys as one stream through memory (the hardware prefetches it; position by position, (S, G, D), long caches ran
 * at a fifth of the memory's bandwidth). Values are float32, or IEEE halves (`kvCacheType` "f16", as llama.cpp keeps
 * them by default: half the memory; keys and values are rounded to nearest-even when stored). It holds state and
 * stores rows; the Transformer writes it and the attention kernels read it. Make caches with
 * `Transformer.createCache`, one per sequence.
 */
import { InferenceError } from "@dappcore/inference";
import { f32ToF16 } from "../dtype.js";
import { rowsOf, type F32Buf, type KVBuf } from "./forward-kernels.js";

/** The element type of a KV cache: float32, or IEEE half ("f16"). */
export type KVCacheType = "f32" | "f16";

/** The KV cache types, for messages and checks. */
export const KV_CACHE_TYPES: readonly KVCacheType[] = ["f32", "f16"];

/** Float32 slots (4 bytes each) one layer's keys (or values) take: capacity · rowValues values, 16-byte aligned. */
function slotFloats(capacity: number, rowValues: number, type: KVCacheType): number {
  const values = capacity * rowValues;
  return type === "f32" ? values : Math.ceil(values / 8) * 4;
}

/** Bytes of a cache of `capacity` positions: layers · 2 · capacity · rowValues (G · D) values of `type`. */
export function kvCacheBytes(layers: number, capacity: number, rowValues: number, type: KVCacheType = "f32"): number {
  return layers * 2 * slotFloats(capacity, rowValues, type) * 4;
}

export class KVCache {
  /** Positions the cache can hold: the context length of its sequence. */
  readonly capacity: number;
  /** KV heads (G) and values per head (D) of a position. */
  readonly kvHeads: number;
  readonly headDim: number;
  /** The element type: float32 (Float32Array views) or IEEE halves (Uint16Array views of their bits). */
  readonly type: KVCacheType;
  /** Per layer, keys (G, S, D) with S = capacity; positions 0 .. length−1 of each head are valid. */
  readonly keys: readonly (Float32Array | Uint16Array)[];
  /** Per layer, values (G, S, D). */
  readonly values: readonly (Float32Array | Uint16Array)[];
  /** The engine that made this cache; another engine refuses it. */
  readonly owner: object;
  /** The whole block (layers, 2, G, S, D) with its arena offset (−1 off the arena). */
  readonly storage: F32Buf;
  /** Per layer, keys (G, S, D) as kernel buffers. */
  readonly keyBufs: readonly KVBuf[];
  /** Per layer, values (G, S, D) as kernel buffers. */
  readonly valueBufs: readonly KVBuf[];
  private filled = 0;

  /**
   * @param layers number of layers.
   * @param capacity positions held (S).
   * @param kvHeads KV heads per position (G).
   * @param headDim values per head (D).
   * @param alloc gives the block of `floats` float32 slots (kvCacheBytes / 4); default a fresh Float32Array.
   * @param type the element type; default "f32".
   */
  constructor(
    owner: object,
    layers: number,
    capacity: number,
    kvHeads: number,
    headDim: number,
    alloc?: (floats: number) => F32Buf,
    type: KVCacheType = "f32",
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "cpu.createCache",
        message: `context length must be a positive integer, got ${capacity}`,
        details: { contextLength: capacity },
      });
    }
    this.owner = owner;
    this.capacity = capacity;
    this.kvHeads = kvHeads;
    this.headDim = headDim;
    this.type = type;
    const per = slotFloats(capacity, kvHeads * headDim, type);
    let block: F32Buf; // (layers, 2, G, S, D)
    try {
      block = alloc !== undefined ? alloc(layers * 2 * per) : { view: new Float32Array(layers * 2 * per), ptr: -1 };
    } catch (cause) {
      if (cause instanceof InferenceError) throw cause;
      throw new InferenceError({
        code: "out_of_memory",
        op: "cpu.createCache",
        message: `a KV cache of ${capacity} positions needs ${layers * 2 * per * 4} bytes`,
        details: { contextLength: capacity, bytes: layers * 2 * per * 4 },
        cause,
      });
    }
    const values = capacity * kvHeads * headDim;
    const asType = (b: F32Buf): KVBuf =>
      type === "f32" ? b : { view: new Uint16Array(b.view.buffer, b.view.byteOffset, values), ptr: b.ptr };
    const keyBufs: KVBuf[] = [];
    const valueBufs: KVBuf[] = [];
    for (let l = 0; l < layers; l++) {
      keyBufs.push(asType(rowsOf(block, 2 * l, 1, per)));
      valueBufs.push(asType(rowsOf(block, 2 * l + 1, 1, per)));
    }
    this.storage = block;
    this.keyBufs = keyBufs;
    this.valueBufs = valueBufs;
    this.keys = keyBufs.map((b) => b.view);
    this.values = valueBufs.map((b) => b.view);
  }

  /** Positions currently held: the next token goes at position `length`. */
  get length(): number {
    return this.filled;
  }

  /** Forgets every position (the memory is kept for reuse). */
  reset(): void {
    this.filled = 0;
  }

  /** Keeps the first `n` positions (0 ≤ n ≤ length), e.g. to reuse a shared prompt prefix. */
  truncate(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.filled) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "cpu.kvCache.truncate",
        message: `cannot truncate a cache of ${this.filled} positions to ${n}`,
        details: { length: this.filled, requested: n },
      });
    }
    this.filled = n;
  }

  /**
   * Stores the keys and values of `rows` consecutive positions from pos on, in layer `layer`: rows row0 .. row0 +
   * rows − 1 of k and v, each (·, G, D) as the projections make them. For the engine; `advance` marks them held.
   */
  store(layer: number, k: Float32Array, v: Float32Array, row0: number, rows: number, pos: number): void {
    const G = this.kvHeads;
    const D = this.headDim;
    const keys = this.keys[layer];
    const values = this.values[layer];
    const half = this.type === "f16";
    for (let g = 0; g < G; g++) {
      let dst = (g * this.capacity + pos) * D;
      for (let r = row0; r < row0 + rows; r++, dst += D) {
        const src = (r * G + g) * D;
        if (half) {
          for (let d = 0; d < D; d++) {
            keys[dst + d] = f32ToF16(k[src + d]);
            values[dst + d] = f32ToF16(v[src + d]);
          }
        } else {
          for (let d = 0; d < D; d++) {
            keys[dst + d] = k[src + d];
            values[dst + d] = v[src + d];
          }
        }
      }
    }
  }

  /** Marks `n` more positions as written. For the engine, after it has stored their keys and values. */
  advance(n: number): void {
    this.filled += n;
  }
}
