/**
 * One WebAssembly execution context for an engine: the shared-memory arena that holds weights, activations and KV
 * caches, the kernel instance bound to it, and (threads > 1) the worker pool that splits kernel calls by rows. Also
 * the feature test that decides whether the WebAssembly path can run here at all. Not the forward pass
 * (wasm-forward.ts) and not weight loading (arena-weights.ts).
 */
import { InferenceError } from "@dappcore/inference";
import { WasmArena } from "./kernels/wasm/wasm-arena.js";
import { compileKernelModuleSync, loadKernelsSync } from "./kernels/wasm/load-kernels.js";
import type { WasmKernels } from "./kernels/wasm/wasm-kernels.js";
import { createKernelPool, MAX_POOL_THREADS, type KernelPool } from "./threads/index.js";

/** Options of `WasmRuntime.create(options)`. */
export interface WasmRuntimeOptions {
  /**
   * Threads that run each kernel call, the calling one included; 1 runs everything on the calling thread.
   * Default 1. Example: `WasmRuntime.create({ threads: os.availableParallelism() })`.
   */
  readonly threads?: number;
  /**
   * Bytes the arena starts with (it grows on demand). Default 16 MiB.
   * Example: `WasmRuntime.create({ initialBytes: 300 * 2 ** 20 })`.
   */
  readonly initialBytes?: number;
  /**
   * The most bytes the arena may hold: at most 4 GiB, WebAssembly's limit. Default 4 GiB.
   * Example: `WasmRuntime.create({ maximumBytes: 2 ** 31 })`.
   */
  readonly maximumBytes?: number;
}

// (module (import "e" "m" (memory 1 1 shared)) (func (result v128) v128.const i32x4 0 0 0 0)): SIMD and threads.
const PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
  0x02, 0x09, 0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x03, 0x01, 0x01, // import e.m: shared memory 1..1
  0x03, 0x02, 0x01, 0x00, // function 0 of type 0
  0x0a, 0x16, 0x01, 0x14, 0x00, 0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x0b, // code: v128.const 0
]);

let supported: boolean | undefined;

/**
 * Whether this runtime can run the WebAssembly kernels: WebAssembly with 128-bit SIMD and threads (shared memory,
 * SharedArrayBuffer). Node 20 has all of them; some browsers and restricted embedders do not.
 */
export function wasmKernelsSupported(): boolean {
  if (supported === undefined) {
    try {
      supported =
        typeof WebAssembly === "object" &&
        typeof SharedArrayBuffer === "function" &&
        WebAssembly.validate(PROBE) &&
        new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
    } catch {
      supported = false;
    }
  }
  return supported;
}

/** Checks a thread count: an integer from 1 to 256. */
export function checkThreads(threads: unknown, op: string): number {
  if (typeof threads !== "number" || !Number.isInteger(threads) || threads < 1 || threads > MAX_POOL_THREADS) {
    throw new InferenceError({
      code: "invalid_argument",
      op,
      message: `threads must be an integer from 1 to ${MAX_POOL_THREADS}, got ${String(threads)}`,
      details: { option: "threads", threads: typeof threads === "number" ? threads : String(threads) },
    });
  }
  return threads;
}

/** An arena, the kernels bound to it, and the thread pool (if any). Create with `WasmRuntime.create`. */
export class WasmRuntime {
  /** Threads each kernel call may use (the pool's, or 1). */
  readonly threads: number;
  /** Arena offsets of the matrices an engine has rewritten into its own layout (WasmForwardKernels.prepareMatrix). */
  readonly relaidOut = new Set<number>();
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private closed = false;

  private constructor(
    readonly arena: WasmArena,
    readonly kernels: WasmKernels,
    /** The pool when threads > 1. */
    readonly pool: KernelPool | undefined,
  ) {
    this.threads = pool?.threads ?? 1;
  }

  /**
   * Makes an arena and instantiates the kernels on it (synchronous compile, cached per process), with a worker pool
   * when `threads` > 1.
   * @throws InferenceError `unsupported` where WebAssembly SIMD/threads are missing (check wasmKernelsSupported()
   *   first to fall back), `internal` when kernels.wasm is not built, `invalid_argument` for bad options.
   */
  static create(options: WasmRuntimeOptions = {}): WasmRuntime {
    const op = "cpu.wasmRuntime";
    const threads = checkThreads(options.threads ?? 1, op);
    if (!wasmKernelsSupported()) {
      throw new InferenceError({
        code: "unsupported",
        op,
        message: "this JavaScript runtime lacks WebAssembly SIMD or threads (shared memory); use the reference kernels",
      });
    }
    const arena = new WasmArena({ initialBytes: options.initialBytes, maximumBytes: options.maximumBytes });
    const module = compileKernelModuleSync();
    const kernels = loadKernelsSync(arena.memory, module);
    const pool = threads > 1 ? createKernelPool({ memory: arena.memory, module, threads }) : undefined;
    return new WasmRuntime(arena, kernels, pool);
  }

  /** Allocates `bytes` bytes (aligned to 64) in the arena and returns their byte offset. */
  alloc(bytes: number): number {
    return this.arena.alloc(bytes, 64);
  }

  /** A byte view of n bytes at ptr, recognised later by `offsetOf`. */
  u8(ptr: number, n: number): Uint8Array {
    const view = this.arena.u8(ptr, n);
    this.buffers.add(view.buffer);
    return view;
  }

  /** A float32 view of n values at ptr. */
  f32(ptr: number, n: number): Float32Array {
    const view = this.arena.f32(ptr, n);
    this.buffers.add(view.buffer);
    return view;
  }

  /** An int32 view of n values at ptr. */
  i32(ptr: number, n: number): Int32Array {
    const view = this.arena.i32(ptr, n);
    this.buffers.add(view.buffer);
    return view;
  }

  /** The byte offset of `view` in this arena, or −1 when it lies elsewhere. */
  offsetOf(view: ArrayBufferView): number {
    const inArena = view.buffer === this.arena.memory.buffer || this.buffers.has(view.buffer);
    return inArena ? view.byteOffset : -1;
  }

  /** Ends the worker threads; the arena stays readable. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool?.close();
  }
}
