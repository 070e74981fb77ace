/**
 * The key/value cache of one sequence: for every layer, the rotated keys and the values of each position seen so
 * far, in one float32 block allocated when the cache is made (nothing grows while decoding): a plain Float32Array
 * on the reference path, a region of the WebAssembly arena on the fast one. Each layer's keys (and values) are laid
 * out (G, S, D): KV head by KV head, each head's S positions one after another, so that attention reads a head's
 * keys as one stream through memory (the hardware prefetches it; position by position, (S, G, D), long caches ran
 * at a fifth of the memory's bandwidth). It holds state and stores rows; the Transformer writes it and the attention
 * kernels read it. Make caches with `Transformer.createCache`, one per sequence.
 */
import { InferenceError } from "@dappcore/inference";
import { rowsOf, type F32Buf } from "./forward-kernels.js";

/** Bytes of a cache of `capacity` positions: layers · 2 · capacity · rowFloats (G · D) float32. */
export function kvCacheBytes(layers: number, capacity: number, rowFloats: number): number {
  return layers * 2 * capacity * rowFloats * 4;
}

export class KVCache {
  /** Positions the cache can hold: the context length of its sequence. */
  readonly capacity: number;
  /** KV heads (G) and floats per head (D) of a position. */
  readonly kvHeads: number;
  readonly headDim: number;
  /** Per layer, keys (G, S, D) with S = capacity; positions 0 .. length−1 of each head are valid. */
  readonly keys: readonly Float32Array[];
  /** Per layer, values (G, S, D). */
  readonly values: readonly Float32Array[];
  /** The engine that made this cache; another engine refuses it. */
  readonly owner: object;
  /** The whole block (layers, 2, G, S, D) with its arena offset (−1 off the arena). */
  readonly storage: F32Buf;
  /** Per layer, keys (G, S, D) as kernel buffers. */
  readonly keyBufs: readonly F32Buf[];
  /** Per layer, values (G, S, D) as kernel buffers. */
  readonly valueBufs: readonly F32Buf[];
  private filled = 0;

  /**
   * @param layers number of layers.
   * @param capacity positions held (S).
   * @param kvHeads KV heads per position (G).
   * @param headDim floats per head (D).
   * @param alloc gives the block of layers · 2 · G · S · D floats; default a fresh Float32Array.
   */
  constructor(owner: object, layers: number, capacity: number, kvHeads: number, headDim: number, alloc?: (floats: number) => F32Buf) {
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
    const per = capacity * kvHeads * headDim;
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
    const keyBufs: F32Buf[] = [];
    const valueBufs: F32Buf[] = [];
    for (let l = 0; l < layers; l++) {
      keyBufs.push(rowsOf(block, 2 * l, 1, per));
      valueBufs.push(rowsOf(block, 2 * l + 1, 1, per));
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
    for (let g = 0; g < G; g++) {
      let dst = (g * this.capacity + pos) * D;
      for (let r = row0; r < row0 + rows; r++, dst += D) {
        const src = (r * G + g) * D;
        for (let d = 0; d < D; d++) {
          keys[dst + d] = k[src + d];
          values[dst + d] = v[src + d];
        }
      }
    }
  }

  /** Marks `n` more positions as written. For the engine, after it has stored their keys and values. */
  advance(n: number): void {
    this.filled += n;
  }
}
