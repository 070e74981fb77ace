/**
 * The program each worker thread of the kernel pool runs, as source text started with `new Worker(source,
 * { eval: true })`. It instantiates the kernel module on the shared WebAssembly memory, then loops: wait for the
 * job sequence number to move, run this thread's chunk of the job, count itself done. Not the calling side
 * (kernel-pool.ts) nor the layout (control-block.ts, whose constants are written into the text below).
 *
 * Why text and not a file: vitest runs the package from its TypeScript sources and does not transform files that
 * `new Worker(url)` starts, while the published package runs from dist/, where tsc copies no .js/.mjs file. Source
 * text evaluated by Node (as a CommonJS script: `require` is available) loads the same way in both layouts and needs
 * no path. It imports only `node:worker_threads`.
 */
import {
  ARGS_OFFSET,
  BROKEN,
  ERROR,
  ERROR_LENGTH,
  ERROR_TEXT_BYTES,
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
} from "./control-block.js";

/** What the pool passes as `workerData`. */
export interface WorkerData {
  /** The compiled kernel module (structured-cloned: shared, not recompiled). */
  readonly module: WebAssembly.Module;
  /** The shared memory every instance imports as env.memory. */
  readonly memory: WebAssembly.Memory;
  /** The control block (control-block.ts). */
  readonly control: SharedArrayBuffer;
  /** This worker's thread index, 1 .. threads − 1 (the caller is 0). */
  readonly index: number;
  /** Threads in the pool, the caller included. */
  readonly threads: number;
  /** Kernel export names; a job names its kernel by index into this list. */
  readonly names: readonly string[];
  /** Microseconds of polling the sequence number before sleeping in Atomics.wait. */
  readonly spinMicros: number;
}

/** The worker program. */
export const WORKER_SOURCE = `"use strict";
const { workerData } = require("node:worker_threads");
const { module, memory, control, index, threads, names, spinMicros } = workerData;
const ctl = new Int32Array(control, 0, ${HEADER_WORDS});
const args = new Float64Array(control, ${ARGS_OFFSET}, ${MAX_ARGS});
const text = new Uint8Array(control, ${ERROR_TEXT_OFFSET}, ${ERROR_TEXT_BYTES});

function describe(e) {
  if (e instanceof Error) return e.message;
  return String(e);
}

// Records the first failure of the current job: its thread and text (the caller reads both after PENDING is 0).
function fail(message) {
  if (Atomics.compareExchange(ctl, ${ERROR}, 0, index + 1) !== 0) return;
  const bytes = new TextEncoder().encode(message).subarray(0, ${ERROR_TEXT_BYTES});
  text.set(bytes);
  Atomics.store(ctl, ${ERROR_LENGTH}, bytes.length);
}

let kernels = null;
let setupError = "";
try {
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  kernels = names.map((name) => exports[name]);
} catch (e) {
  setupError = "worker " + index + " could not instantiate the kernels: " + describe(e);
  Atomics.add(ctl, ${BROKEN}, 1);
}

// One argument array per arity, reused for every call.
const calls = [];
for (let n = 0; n <= ${MAX_ARGS}; n++) calls.push(new Array(n + 2).fill(0));

let seen = 0;
for (;;) {
  let seq = Atomics.load(ctl, ${SEQ});
  if (seq === seen && spinMicros > 0) {
    const deadline = performance.now() + spinMicros / 1000;
    poll: for (;;) {
      for (let i = 0; i < 64; i++) {
        seq = Atomics.load(ctl, ${SEQ});
        if (seq !== seen) break poll;
      }
      if (performance.now() >= deadline) break;
    }
  }
  while (seq === seen) {
    Atomics.wait(ctl, ${SEQ}, seen);
    seq = Atomics.load(ctl, ${SEQ});
  }
  seen = seq;
  if (Atomics.load(ctl, ${STOP}) !== 0) break;
  const total = ctl[${TOTAL}];
  const grain = ctl[${GRAIN}];
  const grains = Math.ceil(total / grain);
  const start = Math.min(total, Math.ceil((index * grains) / threads) * grain);
  const end = Math.min(total, Math.ceil(((index + 1) * grains) / threads) * grain);
  if (kernels === null) {
    fail(setupError);
  } else if (start < end) {
    const kernel = ctl[${KERNEL}];
    const n = ctl[${NARGS}];
    const call = calls[n];
    for (let i = 0; i < n; i++) call[i] = args[i];
    const scratch = ctl[${SCRATCH_ARG}];
    if (scratch >= 0) call[scratch] += index * ctl[${SCRATCH_STRIDE}];
    call[n] = start;
    call[n + 1] = end;
    try {
      Reflect.apply(kernels[kernel], undefined, call);
    } catch (e) {
      fail(names[kernel] + " failed on thread " + index + " (rows " + start + " to " + end + "): " + describe(e));
    }
  }
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
}
`;
