/**
 * The one WebAssembly memory of the process and the bump allocator that places buffers in it: weights,
 * activations, scratch and KV caches all live here so the kernels (and, later, worker threads sharing the same
 * `SharedArrayBuffer`) reach them by byte offset. Not a general-purpose heap: nothing is freed one by one; a
 * caller takes a `mark()` and `release()`s back to it (scratch), as llama2.c's RunState allocates once.
 *
 * WebAssembly memory is 32-bit: at most 65536 pages of 64 KiB, 4 GiB in all, for weights and everything else.
 * A request that cannot fit fails with an `out_of_memory` InferenceError naming that limit; it never wraps or
 * truncates. The memory is shared (the kernel module imports shared memory): growing it never detaches old
 * views, but old views do not cover the new bytes, so views are made fresh from `memory.buffer` on each call.
 */
import { InferenceError } from "@dappcore/inference";

/** Bytes in one WebAssembly page. */
export const WASM_PAGE_BYTES = 65536;
/** Pages in the largest 32-bit WebAssembly memory. */
export const WASM_MAX_PAGES = 65536;
/** The largest 32-bit WebAssembly memory: 4 GiB. */
export const WASM_MAX_BYTES = WASM_PAGE_BYTES * WASM_MAX_PAGES;

/** Where allocation starts: offset 0 stays unused so that 0 never names a live buffer. */
const FIRST_OFFSET = 64;

/** Options of `new WasmArena(options)`. */
export interface WasmArenaOptions {
  /**
   * Bytes the memory starts with, rounded up to whole pages; it grows as buffers are allocated.
   * Default: 16 MiB. Example: `new WasmArena({ initialBytes: 512 * 1024 * 1024 })`.
   */
  readonly initialBytes?: number;
  /**
   * The most bytes the memory may ever hold, rounded down to whole pages; at most 4 GiB (the WebAssembly limit).
   * Default: 4 GiB. Example: `new WasmArena({ maximumBytes: 2 ** 31 })`.
   */
  readonly maximumBytes?: number;
}

/** Human-readable size: "1.50 GiB", "12.0 MiB", "512 bytes". */
function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} bytes`;
}

function invalid(op: string, message: string, details?: Record<string, unknown>): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message, details });
}

/**
 * A shared `WebAssembly.Memory` and a bump allocator over it.
 *
 * @example
 * const arena = new WasmArena();
 * const x = arena.alloc(576 * 4); // (C) float32
 * arena.f32(x, 576).set(values);
 */
export class WasmArena {
  /** The shared memory the kernel module imports. */
  readonly memory: WebAssembly.Memory;
  /** The most bytes this arena may hold (a multiple of the page size, at most 4 GiB). */
  readonly maximumBytes: number;
  private top = FIRST_OFFSET;

  constructor(options: WasmArenaOptions = {}) {
    const op = "cpu.wasmArena";
    const initialBytes = options.initialBytes ?? 16 * 2 ** 20;
    const maximumBytes = options.maximumBytes ?? WASM_MAX_BYTES;
    if (!Number.isSafeInteger(initialBytes) || initialBytes < 0) {
      throw invalid(op, `initialBytes must be a non-negative integer, got ${initialBytes}`, { initialBytes });
    }
    if (!Number.isSafeInteger(maximumBytes) || maximumBytes < WASM_PAGE_BYTES || maximumBytes > WASM_MAX_BYTES) {
      throw invalid(op, `maximumBytes must be an integer from 65536 to 4294967296 (the 4 GiB WebAssembly memory limit), got ${maximumBytes}`, {
        maximumBytes,
      });
    }
    const maximum = Math.floor(maximumBytes / WASM_PAGE_BYTES);
    const initial = Math.max(1, Math.ceil(initialBytes / WASM_PAGE_BYTES));
    if (initial > maximum) {
      throw invalid(op, `initialBytes ${initialBytes} exceeds maximumBytes ${maximumBytes}`, { initialBytes, maximumBytes });
    }
    this.maximumBytes = maximum * WASM_PAGE_BYTES;
    this.memory = new WebAssembly.Memory({ initial, maximum, shared: true });
  }

  /** Bytes handed out so far (the offset of the next allocation before alignment). */
  get used(): number {
    return this.top;
  }

  /** Bytes the memory holds now (grows on demand). */
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Reserves `bytes` bytes aligned to `align` and returns their byte offset, growing the memory when needed.
   * The bytes are zero on first use; after a `release` they keep what they held.
   * @throws InferenceError `out_of_memory` when the request cannot fit under `maximumBytes` (4 GiB at most) or the
   *   system refuses to grow the memory; `invalid_argument` for a negative size or an alignment that is not a
   *   power of two.
   */
  alloc(bytes: number, align = 64): number {
    const op = "cpu.wasmArena.alloc";
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw invalid(op, `size must be a non-negative integer number of bytes, got ${bytes}`, { bytes });
    }
    if (!Number.isSafeInteger(align) || align < 1 || (align & (align - 1)) !== 0 || align > WASM_PAGE_BYTES) {
      throw invalid(op, `alignment must be a power of two from 1 to 65536, got ${align}`, { align });
    }
    const ptr = Math.ceil(this.top / align) * align;
    const end = ptr + bytes;
    if (end > this.maximumBytes) throw this.outOfMemory(bytes);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / WASM_PAGE_BYTES);
      try {
        this.memory.grow(pages);
      } catch (cause) {
        throw this.outOfMemory(bytes, cause);
      }
    }
    this.top = end;
    return ptr;
  }

  /** The current allocation point, to `release` back to later (for scratch buffers). */
  mark(): number {
    return this.top;
  }

  /**
   * Frees everything allocated after `mark` (a value `mark()` returned). The memory itself never shrinks.
   * @throws InferenceError `invalid_argument` when `mark` is not a point at or below the current one.
   */
  release(mark: number): void {
    if (!Number.isSafeInteger(mark) || mark < FIRST_OFFSET || mark > this.top) {
      throw invalid("cpu.wasmArena.release", `mark ${mark} is not an allocation point of this arena (in use: ${this.top})`, {
        mark,
        used: this.top,
      });
    }
    this.top = mark;
  }

  /** A float32 view of n values at byte offset ptr (4-byte aligned). */
  f32(ptr: number, n: number): Float32Array {
    this.check("f32", ptr, n, 4);
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  /** A uint16 view (F16/BF16 bits) of n values at byte offset ptr (2-byte aligned). */
  u16(ptr: number, n: number): Uint16Array {
    this.check("u16", ptr, n, 2);
    return new Uint16Array(this.memory.buffer, ptr, n);
  }

  /** A byte view of n bytes at byte offset ptr. */
  u8(ptr: number, n: number): Uint8Array {
    this.check("u8", ptr, n, 1);
    return new Uint8Array(this.memory.buffer, ptr, n);
  }

  /** An int32 view (token ids, positions) of n values at byte offset ptr (4-byte aligned). */
  i32(ptr: number, n: number): Int32Array {
    this.check("i32", ptr, n, 4);
    return new Int32Array(this.memory.buffer, ptr, n);
  }

  private check(kind: string, ptr: number, n: number, size: number): void {
    const op = `cpu.wasmArena.${kind}`;
    if (!Number.isSafeInteger(ptr) || ptr < 0 || ptr % size !== 0) {
      throw invalid(op, `byte offset must be a non-negative multiple of ${size}, got ${ptr}`, { ptr });
    }
    if (!Number.isSafeInteger(n) || n < 0) throw invalid(op, `length must be a non-negative integer, got ${n}`, { n });
    const have = this.memory.buffer.byteLength;
    if (ptr + n * size > have) {
      throw invalid(op, `view of ${n * size} bytes at offset ${ptr} lies outside the memory (${have} bytes)`, {
        ptr,
        bytes: n * size,
        capacity: have,
      });
    }
  }

  private outOfMemory(bytes: number, cause?: unknown): InferenceError {
    const limit = this.maximumBytes;
    const hard = limit === WASM_MAX_BYTES ? "" : ` (this arena's maximum, below the 4 GiB WebAssembly limit)`;
    return new InferenceError({
      code: "out_of_memory",
      op: "cpu.wasmArena.alloc",
      message:
        `cannot allocate ${formatBytes(bytes)} (${bytes} bytes): ${formatBytes(this.top)} already in use and ` +
        `WebAssembly memory is limited to 4 GiB (a 32-bit address space); this arena may hold ${formatBytes(limit)}${hard}` +
        (cause === undefined ? "" : "; the system refused to grow the memory"),
      cause,
      details: { requested: bytes, used: this.top, limit, wasmLimit: WASM_MAX_BYTES },
      remedy: "use a smaller model or a quantised one (Q8_0 or Q4_0) so weights, KV cache and activations fit in 4 GiB",
    });
  }
}
