/**
 * Reuse of KV-cache memory on the WebAssembly path: the arena frees nothing one by one, so the block of a cache
 * that has been garbage-collected goes back to a free list by size, and the next cache of that size takes it
 * instead of growing the arena (the backend makes a cache per sequence of a batch). Not the cache (kv-cache.ts).
 */
import type { F32Buf } from "./forward-kernels.js";
import type { KVCache } from "./kv-cache.js";

export class CacheBlocks {
  private readonly free = new Map<number, F32Buf[]>();
  private readonly registry = new FinalizationRegistry<F32Buf>((block) => this.give(block));

  /** @param alloc makes a new block of n floats (the arena). */
  constructor(private readonly alloc: (floats: number) => F32Buf) {}

  /** A block of `floats`: a recycled one of that size, or a new one. */
  take(floats: number): F32Buf {
    return this.free.get(floats)?.pop() ?? this.alloc(floats);
  }

  /** Returns `cache`'s block to the free list once the cache is garbage-collected. */
  track(cache: KVCache): void {
    this.registry.register(cache, cache.storage);
  }

  private give(block: F32Buf): void {
    const list = this.free.get(block.view.length);
    if (list === undefined) this.free.set(block.view.length, [block]);
    else list.push(block);
  }
}
