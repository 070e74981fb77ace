/**
 * The kernel pool: runs one WebAssembly kernel over disjoint row ranges on the calling thread and N − 1 worker
 * threads at once, all sharing one WebAssembly.Memory, and returns when every range is done. Dispatch goes through
 * a shared control block (control-block.ts) with Atomics.wait / Atomics.notify, never postMessage, so a call costs
 * microseconds. Not the kernels (kernels/wasm/), nor the choice of which operation to split (the engine).
 *
 * Results do not depend on the thread count: every kernel computes each output row the same way whatever range
 * computes it (packages/cpu/assembly/README.md), and the split depends only on (total, grain, threads).
 *
 * Failure: a WebAssembly trap or other error in any chunk is caught where it happens and surfaces from `run()` as
 * an `internal` InferenceError after all chunks have finished; the pool stays usable. A worker that exits (its
 * 'exit' event, or `terminate()` called on one of the pool's Worker objects, which the pool sees at once) breaks the
 * pool: every later `run()` throws `internal` naming the worker, and never waits on it. `close()` ends the workers;
 * `run()` after it throws `closed`. Workers are unref'd: an open pool never keeps the process alive.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { InferenceError } from "@dappcore/inference";
import { loadKernelsSync } from "../kernels/wasm/load-kernels.js";
import {
  ARGS_OFFSET,
  BROKEN,
  CONTROL_BYTES,
  ERROR,
  ERROR_LENGTH,
  ERROR_TEXT_OFFSET,
  GRAIN,
  HEADER_WORDS,
  KERNEL,
  MAX_ARGS,
  NARGS,
  PENDING,
  SCRATCH_ARG,
  SCRATCH_STRIDE,
  SEQ,
  STOP,
  TOTAL,
  chunkRange,
} from "./control-block.js";
import { WORKER_SOURCE, type WorkerData } from "./worker-source.js";

/**
 * Default polling time of a waiting thread, in microseconds. Measured on a 2-core VM (SmolLM2-135M shape, Q8_0,
 * 2 threads): decode 55-70 tok/s with about 40 microseconds of polling, 85-112 with 3 milliseconds; the pause
 * between two decode steps is well under 2 milliseconds, so workers stay awake through a whole generation.
 */
const DEFAULT_SPIN_MICROS = 2000;

/**
 * The JavaScript heap of a worker: its program keeps a few small arrays and allocates almost nothing per job, so a
 * young generation of 1 MB (V8's default lets it grow to 16) is plenty; that kept a worker's resident memory about 3-4
 * MB lower (17 → 13 MB each, measured), with no change in decode speed. Its kernels' memory is the shared
 * WebAssembly memory, outside these limits.
 */
const WORKER_HEAP_LIMITS = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 };

/** The most threads a pool may have. */
export const MAX_POOL_THREADS = 256;

/** Options of `createKernelPool(options)`. */
export interface KernelPoolOptions {
  /** The shared memory every thread's kernel instance imports (normally `WasmArena.memory`). */
  readonly memory: WebAssembly.Memory;
  /** The compiled kernel module (`compileKernelModuleSync()`), sent to the workers without recompiling. */
  readonly module: WebAssembly.Module;
  /**
   * Threads that run each job, the calling thread included: 1 makes a pool without workers. From 1 to 256.
   * Example: `createKernelPool({ memory, module, threads: os.availableParallelism() })`.
   */
  readonly threads: number;
  /**
   * Microseconds a waiting thread polls the control block before it sleeps in Atomics.wait: a worker waiting for
   * the next job, and the caller waiting for the last chunk. Sleeping threads are woken through the kernel (a
   * futex), which costs tens to hundreds of microseconds on a virtual machine, more than many decode kernels take;
   * polling keeps a core busy meanwhile. Default: 2000 when `threads` is at most the cores available
   * (os.availableParallelism()), else 0, since then a polling thread would take a core from a working one.
   * Example: `createKernelPool({ memory, module, threads: 2, spinMicros: 0 })`.
   */
  readonly spinMicros?: number;
}

/**
 * A per-thread scratch buffer among a job's arguments: thread t (which runs chunk t) is passed
 * `args[arg] + t · stride` in place of `args[arg]`, so the caller allocates `threads · stride` bytes there.
 * Example: attention's `scores`, `{ arg: 4, stride: S * 4 }`.
 */
export interface ThreadScratch {
  /** Index in `args` of the scratch buffer's byte offset. */
  readonly arg: number;
  /** Bytes of scratch per thread (a non-negative integer; keep it a multiple of the kernel's alignment). */
  readonly stride: number;
}

/** Runs kernels over row ranges on several threads sharing one WebAssembly memory. */
export interface KernelPool {
  /** Threads that run each job, the calling thread included. */
  readonly threads: number;
  /**
   * Synchronous: runs `raw[kernel](...args, start, end)` over disjoint chunks of [0, total) on the calling thread
   * and the workers; returns when all chunks are done. Chunk boundaries are multiples of `grain` (default 1);
   * chunk t runs on thread t (the caller is thread 0) and the split depends only on (total, grain, threads).
   * @param scratch an argument that is a per-thread scratch buffer (e.g. attention's scores); default none.
   * @throws InferenceError `invalid_argument` for an unknown kernel, a wrong argument count or a bad total/grain;
   *   `internal` when a chunk fails (a WebAssembly trap) or a worker has exited; `closed` after `close()`.
   */
  run(kernel: string, args: readonly number[], total: number, grain?: number, scratch?: ThreadScratch): void;
  /** Ends the workers; resolves when they have exited. Later `run()` calls throw `closed`. Idempotent. */
  close(): Promise<void>;
}

const OP = "cpu.kernelPool";

function invalid(op: string, message: string, details?: Record<string, unknown>): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message, details });
}

/** The exported functions of the module, in a fixed order shared with the workers, and their arities. */
function kernelNames(module: WebAssembly.Module): string[] {
  return WebAssembly.Module.exports(module)
    .filter((e) => e.kind === "function")
    .map((e) => e.name)
    .sort();
}

type RawKernel = (...args: number[]) => void;

class Pool implements KernelPool {
  readonly threads: number;
  private readonly names: string[];
  private readonly index = new Map<string, number>();
  private readonly kernels: RawKernel[];
  /** Arguments each kernel takes before (start, end). */
  private readonly arity: number[];
  private readonly control: SharedArrayBuffer;
  private readonly ctl: Int32Array; // (HEADER_WORDS)
  private readonly args: Float64Array; // (MAX_ARGS)
  private readonly workers: Worker[] = [];
  private readonly spinMicros: number;
  /** One reusable argument array per arity. */
  private readonly calls: number[][] = [];
  private readonly range: [number, number] = [0, 0];
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Why the pool cannot run jobs on its workers any more, once it cannot. */
  private broken: string | undefined;

  constructor(options: KernelPoolOptions) {
    const op = `${OP}.create`;
    const { memory, module, threads } = options;
    const spinMicros = options.spinMicros ?? (threads <= availableParallelism() ? DEFAULT_SPIN_MICROS : 0);
    if (!Number.isSafeInteger(threads) || threads < 1 || threads > MAX_POOL_THREADS) {
      throw invalid(op, `threads must be an integer from 1 to ${MAX_POOL_THREADS}, got ${threads}`, { threads });
    }
    if (!(spinMicros >= 0) || !Number.isFinite(spinMicros)) {
      throw invalid(op, `spinMicros must be a non-negative number of microseconds, got ${spinMicros}`, { spinMicros });
    }
    if (!(module instanceof WebAssembly.Module)) {
      throw invalid(op, "module must be a compiled WebAssembly.Module (use compileKernelModuleSync())");
    }
    // Checks the memory (shared) and makes the calling thread's instance.
    const raw = loadKernelsSync(memory, module).raw as unknown as Record<string, RawKernel>;
    this.threads = threads;
    this.spinMicros = spinMicros;
    this.names = kernelNames(module);
    this.kernels = this.names.map((name) => raw[name]);
    this.arity = this.kernels.map((f) => Math.max(0, f.length - 2));
    this.names.forEach((name, i) => this.index.set(name, i));
    for (let n = 0; n <= MAX_ARGS; n++) this.calls.push(new Array<number>(n + 2).fill(0));
    this.control = new SharedArrayBuffer(CONTROL_BYTES);
    this.ctl = new Int32Array(this.control, 0, HEADER_WORDS);
    this.args = new Float64Array(this.control, ARGS_OFFSET, MAX_ARGS);
    for (let index = 1; index < threads; index++) this.workers.push(this.startWorker(index, memory, module));
  }

  run(kernel: string, args: readonly number[], total: number, grain = 1, scratch?: ThreadScratch): void {
    const op = `${OP}.run`;
    if (this.closed) {
      throw new InferenceError({ code: "closed", op, message: `the kernel pool is closed; cannot run ${kernel}` });
    }
    const k = this.index.get(kernel);
    if (k === undefined) throw invalid(op, `unknown kernel ${JSON.stringify(kernel)}`, { kernel });
    const n = args.length;
    if (n !== this.arity[k]) {
      throw invalid(op, `${kernel} takes ${this.arity[k]} arguments before (start, end), got ${n}`, {
        kernel,
        expected: this.arity[k],
        got: n,
      });
    }
    if (n > MAX_ARGS) {
      throw invalid(op, `${kernel} takes ${n} arguments before (start, end); the pool passes at most ${MAX_ARGS}`, { kernel });
    }
    if (!Number.isSafeInteger(total) || total < 0 || total > 0x7fffffff) {
      throw invalid(op, `total must be an integer from 0 to 2^31 − 1, got ${total}`, { kernel, total });
    }
    if (!Number.isSafeInteger(grain) || grain < 1 || grain > 0x7fffffff) {
      throw invalid(op, `grain must be an integer from 1 to 2^31 − 1, got ${grain}`, { kernel, grain });
    }
    let scratchArg = -1;
    let scratchStride = 0;
    if (scratch !== undefined) {
      scratchArg = scratch.arg;
      scratchStride = scratch.stride;
      if (!Number.isSafeInteger(scratchArg) || scratchArg < 0 || scratchArg >= n) {
        throw invalid(op, `scratch.arg must index one of the ${n} arguments of ${kernel}, got ${scratchArg}`, { kernel, arg: scratchArg });
      }
      if (!Number.isSafeInteger(scratchStride) || scratchStride < 0 || scratchStride > 0x7fffffff || scratchStride * this.threads > 2 ** 32) {
        throw invalid(op, `scratch.stride must be a non-negative integer number of bytes below 4 GiB in all, got ${scratchStride}`, {
          kernel,
          stride: scratchStride,
        });
      }
    }
    if (this.broken !== undefined) {
      throw new InferenceError({ code: "internal", op, message: `cannot run ${kernel}: ${this.broken}`, details: { kernel } });
    }
    if (total === 0) return;
    const call = this.calls[n];
    for (let i = 0; i < n; i++) call[i] = args[i];
    if (this.threads === 1 || total <= grain) {
      call[n] = 0;
      call[n + 1] = total;
      this.runChunk(kernel, k, call, 0);
      return;
    }
    this.dispatch(kernel, k, call, total, grain, scratchArg, scratchStride);
  }

  close(): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    this.closed = true;
    Atomics.store(this.ctl, STOP, 1);
    Atomics.add(this.ctl, SEQ, 1);
    Atomics.notify(this.ctl, SEQ);
    this.closing = Promise.all(this.workers.map((w) => Worker.prototype.terminate.call(w))).then(() => undefined);
    return this.closing;
  }

  /** Runs one chunk on the calling thread; a trap becomes an `internal` InferenceError. */
  private runChunk(kernel: string, k: number, call: number[], thread: number): void {
    try {
      Reflect.apply(this.kernels[k], undefined, call);
    } catch (cause) {
      const n = call.length - 2;
      throw this.chunkFailed(kernel, thread, `${kernel} failed on thread ${thread} (rows ${call[n]} to ${call[n + 1]})`, cause);
    }
  }

  private chunkFailed(kernel: string, thread: number, message: string, cause?: unknown): InferenceError {
    return new InferenceError({
      code: "internal",
      op: `${OP}.run`,
      message,
      cause,
      details: { kernel, thread, threads: this.threads },
    });
  }

  /** Hands the job to the workers, runs chunk 0 here, then waits until every worker has counted itself done. */
  private dispatch(
    kernel: string, k: number, call: number[], total: number, grain: number, scratchArg: number, scratchStride: number,
  ): void {
    const ctl = this.ctl;
    const n = call.length - 2;
    ctl[KERNEL] = k;
    ctl[NARGS] = n;
    ctl[TOTAL] = total;
    ctl[GRAIN] = grain;
    ctl[SCRATCH_ARG] = scratchArg;
    ctl[SCRATCH_STRIDE] = scratchStride;
    for (let i = 0; i < n; i++) this.args[i] = call[i];
    ctl[ERROR] = 0;
    ctl[ERROR_LENGTH] = 0;
    Atomics.store(ctl, PENDING, this.threads - 1);
    Atomics.add(ctl, SEQ, 1);
    Atomics.notify(ctl, SEQ);

    chunkRange(0, this.threads, total, grain, this.range);
    let own: InferenceError | undefined;
    if (this.range[0] < this.range[1]) {
      call[n] = this.range[0];
      call[n + 1] = this.range[1];
      try {
        this.runChunk(kernel, k, call, 0);
      } catch (e) {
        own = e as InferenceError;
      }
    }

    let pending = Atomics.load(ctl, PENDING);
    if (pending !== 0 && this.spinMicros > 0) {
      const deadline = performance.now() + this.spinMicros / 1000;
      poll: for (;;) {
        for (let i = 0; i < 64; i++) {
          pending = Atomics.load(ctl, PENDING);
          if (pending === 0) break poll;
        }
        if (performance.now() >= deadline) break;
      }
    }
    while (pending !== 0) {
      Atomics.wait(ctl, PENDING, pending);
      pending = Atomics.load(ctl, PENDING);
    }

    if (own !== undefined) throw own;
    const failed = Atomics.load(ctl, ERROR);
    if (failed !== 0) {
      const length = Atomics.load(ctl, ERROR_LENGTH);
      const text = new TextDecoder().decode(new Uint8Array(this.control, ERROR_TEXT_OFFSET, length).slice());
      const broken = Atomics.load(ctl, BROKEN);
      if (broken !== 0) this.breakPool(`${broken} kernel worker(s) could not instantiate the kernels`);
      throw this.chunkFailed(kernel, failed - 1, text);
    }
  }

  private startWorker(index: number, memory: WebAssembly.Memory, module: WebAssembly.Module): Worker {
    const workerData: WorkerData = {
      module,
      memory,
      control: this.control,
      index,
      threads: this.threads,
      names: this.names,
      spinMicros: this.spinMicros,
    };
    // The worker source is a CommonJS script: drop an inherited --input-type (e.g. `node --input-type=module -e`),
    // which would make Node evaluate it as an ES module, where `require` is undefined. Otherwise inherit execArgv
    // untouched (passing it explicitly makes Node reject V8 flags such as --no-wasm-dynamic-tiering).
    const inherited = process.execArgv;
    const execArgv = inherited.some((a) => a.startsWith("--input-type"))
      ? inherited.filter((a, i, all) => !a.startsWith("--input-type") && all[i - 1] !== "--input-type")
      : undefined;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData,
      execArgv,
      resourceLimits: WORKER_HEAP_LIMITS,
      name: `dappcore kernel worker ${index}`,
    });
    worker.unref();
    let error: string | undefined;
    worker.on("error", (e) => {
      error = describe(e);
    });
    worker.on("exit", (code) => {
      if (this.closed) return;
      this.breakPool(`kernel worker ${index} exited (code ${code})${error === undefined ? "" : `: ${error}`}`);
    });
    // terminate() reaches the thread at once but 'exit' only on a later turn of the event loop: a run() in between
    // would wait for the dead worker forever. Whoever terminates one of the pool's workers breaks the pool first.
    const terminate = worker.terminate;
    Object.defineProperty(worker, "terminate", {
      configurable: true,
      value: () => {
        if (!this.closed) this.breakPool(`kernel worker ${index} was terminated`);
        return terminate.call(worker);
      },
    });
    return worker;
  }

  private breakPool(reason: string): void {
    if (this.broken === undefined) this.broken = reason;
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * Starts a pool of `threads − 1` workers, each with its own instance of `module` on `memory`.
 *
 * @example
 * const arena = new WasmArena();
 * const pool = createKernelPool({ memory: arena.memory, module: compileKernelModuleSync(), threads: 2 });
 * pool.run("matmulF32", [out, x, w, T, C, O], O, 4); // rows of out split between 2 threads
 * await pool.close();
 *
 * @throws InferenceError `invalid_argument` for a thread count outside 1 .. 256, a bad spinMicros, a module that is
 *   not a WebAssembly.Module or a memory that is not shared.
 */
export function createKernelPool(options: KernelPoolOptions): KernelPool {
  return new Pool(options);
}
