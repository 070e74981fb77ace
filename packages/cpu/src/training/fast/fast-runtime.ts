/**
 * The WebAssembly execution context of a fast (float32) TrainableTransformer: one shared-memory arena that holds
 * the parameters, gradients, activations and scratch, the kernel instance bound to it, and a worker pool that is
 * started only when a call is big enough to be worth splitting (tiny models never start threads). Hands out
 * float32/int32 views into the arena and finds the byte offset of any such view; arrays that live elsewhere
 * (a LoRA model's frozen checkpoint tensors) are copied in once. Not the passes (fast-pass.ts, fast-linear.ts)
 * and not the kernels (packages/cpu/assembly/train-*.ts).
 */
import { availableParallelism } from "node:os";
import { InferenceError } from "@dappcore/inference";
import { WasmArena } from "../../engine/kernels/wasm/wasm-arena.js";
import { compileKernelModuleSync, loadKernelsSync } from "../../engine/kernels/wasm/load-kernels.js";
import { createKernelPool, MAX_POOL_THREADS, type KernelPool } from "../../engine/threads/index.js";
import { wasmKernelsSupported } from "../../engine/wasm-runtime.js";

/** Below this much work (multiply-adds or elements) a call runs on the calling thread: dispatch costs more. */
const PARALLEL_MIN_WORK = 1 << 15;

/** The kernels the training passes call, by export name (packages/cpu/assembly/index.ts). */
export const TRAIN_KERNELS = [
  "matmulF32", "matmulF16", "matmulBF16", "embeddingF32", "embeddingF16", "embeddingBF16", "rope", "add", "swiglu", "geglu",
  "matmulAccF32", "transposeF32", "transpose16", "biasGrad", "addBias", "rmsNormSave", "rmsNormBackward", "rmsNormGradW",
  "attentionTrain", "attentionDelta", "attentionBackward", "swigluBackward", "gegluBackward", "crossEntropy",
  "scaleF32", "mulF32", "mulAddF32",
] as const;

export type TrainKernelName = (typeof TRAIN_KERNELS)[number];
type RawKernel = (...args: number[]) => void;

const op = "cpu.trainable";

/** Checks a `threads` option: an integer from 1 to 256; undefined means os.availableParallelism(). */
export function resolveThreads(threads: unknown): number {
  if (threads === undefined) return Math.min(MAX_POOL_THREADS, Math.max(1, availableParallelism()));
  if (typeof threads !== "number" || !Number.isInteger(threads) || threads < 1 || threads > MAX_POOL_THREADS) {
    throw new InferenceError({
      code: "invalid_argument",
      op,
      message: `threads must be an integer from 1 to ${MAX_POOL_THREADS}, got ${String(threads)}`,
      details: { option: "threads" },
    });
  }
  return threads;
}

/**
 * Why the WebAssembly training kernels cannot run here, or undefined when they can: the runtime lacks SIMD or
 * threads, kernels.wasm is not built, or it was built before the training kernels existed.
 */
export function fastKernelsUnavailable(): string | undefined {
  if (!wasmKernelsSupported()) return "this JavaScript runtime lacks WebAssembly SIMD or threads (shared memory)";
  let module: WebAssembly.Module;
  try {
    module = compileKernelModuleSync();
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const names = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = TRAIN_KERNELS.filter((n) => !names.has(n));
  if (missing.length > 0) {
    return `kernels.wasm lacks the training kernels (${missing.join(", ")}): rebuild it with node packages/cpu/scripts/build-wasm.mjs`;
  }
  return undefined;
}

/** An arena, its kernels and a lazily started pool. */
export class FastRuntime {
  readonly arena: WasmArena;
  /** Threads a big kernel call is split across (the calling thread included). */
  readonly threads: number;
  private readonly raw: Record<TrainKernelName, RawKernel>;
  private readonly module: WebAssembly.Module;
  private pool: KernelPool | undefined;
  private closed = false;
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private readonly copies = new Map<ArrayBufferView, number>();

  constructor(threads: number) {
    const why = fastKernelsUnavailable();
    if (why !== undefined) throw new InferenceError({ code: "unsupported", op, message: `kernels "wasm": ${why}` });
    this.threads = threads;
    this.arena = new WasmArena();
    this.module = compileKernelModuleSync();
    this.raw = loadKernelsSync(this.arena.memory, this.module).raw as unknown as Record<TrainKernelName, RawKernel>;
  }

  /** A zeroed float32 array of n values in the arena (bump-allocated: freed only by `release`). */
  f32 = (n: number): Float32Array => {
    const view = this.arena.f32(this.arena.alloc(n * 4, 64), n);
    this.buffers.add(view.buffer);
    view.fill(0);
    return view;
  };

  /** A zeroed int32 array of n values in the arena. */
  i32 = (n: number): Int32Array => {
    const view = this.arena.i32(this.arena.alloc(n * 4, 64), n);
    this.buffers.add(view.buffer);
    view.fill(0);
    return view;
  };

  /** `bytes` bytes of scratch in the arena; returns the byte offset. */
  bytes(n: number): number {
    return this.arena.alloc(n, 64);
  }

  /** The byte offset of an arena view; throws `internal` for an array elsewhere. */
  ptr(view: ArrayBufferView): number {
    if (!this.buffers.has(view.buffer)) {
      const copy = this.copies.get(view);
      if (copy !== undefined) return copy;
      throw new InferenceError({ code: "internal", op, message: "a training buffer lies outside the WebAssembly arena" });
    }
    return view.byteOffset;
  }

  /** The byte offset of a read-only array: an arena view in place, anything else copied into the arena once. */
  frozen(view: ArrayBufferView): number {
    if (this.buffers.has(view.buffer)) return view.byteOffset;
    let ptr = this.copies.get(view);
    if (ptr === undefined) {
      ptr = this.arena.alloc(view.byteLength, 64);
      this.arena.u8(ptr, view.byteLength).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
      this.copies.set(view, ptr);
    }
    return ptr;
  }

  mark(): number {
    return this.arena.mark();
  }

  release(mark: number): void {
    this.arena.release(mark);
  }

  /**
   * Runs kernel `name` over [0, total): split across the threads in multiples of `grain` when there are several
   * and `work` is large enough (the pool starts on the first such call), else in one direct call.
   * `scratchArg`/`scratchStride`: an argument that is per-thread scratch, `threads · stride` bytes in all.
   */
  run(name: TrainKernelName, args: number[], total: number, grain: number, work: number, scratchArg = -1, scratchStride = 0): void {
    if (total <= 0) return;
    if (this.threads > 1 && work >= PARALLEL_MIN_WORK && total > grain && !this.closed) {
      this.pool ??= createKernelPool({ memory: this.arena.memory, module: this.module, threads: this.threads });
      this.pool.run(name, args, total, grain, scratchArg < 0 ? undefined : { arg: scratchArg, stride: scratchStride });
      return;
    }
    args.push(0, total);
    Reflect.apply(this.raw[name], undefined, args);
  }

  /** Whether the worker pool has started. */
  get started(): boolean {
    return this.pool !== undefined;
  }

  /** Ends the worker threads (later calls run on the calling thread). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }
}
