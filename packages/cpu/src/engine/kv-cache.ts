/**
 * The key/value cache of one sequence: for every layer, the rotated keys and the values of each position seen so
 * far, in one float32 arena allocated when the cache is made (nothing grows while decoding). It holds state only;
 * the Transformer writes it and reads it. Make caches with `Transformer.createCache`, one per sequence.
 */
import { InferenceError } from "@dappcore/inference";

export class KVCache {
  /** Positions the cache can hold: the context length of its sequence. */
  readonly capacity: number;
  /** Per layer, keys (S, G, D) with S = capacity; rows 0 .. length−1 are valid. */
  readonly keys: readonly Float32Array[];
  /** Per layer, values (S, G, D). */
  readonly values: readonly Float32Array[];
  /** The engine that made this cache; another engine refuses it. */
  readonly owner: object;
  private filled = 0;

  /**
   * @param layers number of layers.
   * @param capacity positions held (S).
   * @param rowFloats floats per position per layer: G · D.
   */
  constructor(owner: object, layers: number, capacity: number, rowFloats: number) {
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
    const per = capacity * rowFloats;
    let arena: Float32Array; // (layers, 2, S, G, D)
    try {
      arena = new Float32Array(layers * 2 * per);
    } catch (cause) {
      throw new InferenceError({
        code: "out_of_memory",
        op: "cpu.createCache",
        message: `a KV cache of ${capacity} positions needs ${layers * 2 * per * 4} bytes`,
        details: { contextLength: capacity, bytes: layers * 2 * per * 4 },
        cause,
      });
    }
    const keys: Float32Array[] = [];
    const values: Float32Array[] = [];
    for (let l = 0; l < layers; l++) {
      keys.push(arena.subarray((2 * l) * per, (2 * l + 1) * per));
      values.push(arena.subarray((2 * l + 1) * per, (2 * l + 2) * per));
    }
    this.keys = keys;
    this.values = values;
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

  /** Marks `n` more positions as written. For the engine, after it has stored their keys and values. */
  advance(n: number): void {
    this.filled += n;
  }
}
