/**
 * The control block of the kernel pool: a small SharedArrayBuffer (its own, not the WebAssembly memory) through
 * which the calling thread hands a job to the workers and learns that they are done, without a postMessage per
 * call. Also the static split of a job's rows into one chunk per thread. Not the pool (kernel-pool.ts) nor the
 * worker program (worker-source.ts), which both read this layout.
 *
 * Layout: int32 words first (the job, the counters, the error slot), then the float64 arguments (exact for every
 * JavaScript number: byte offsets up to 4 GiB, dimensions, eps, scale), then the UTF-8 text of the first error.
 */

/** int32 word: the job sequence number; the caller adds 1 per job, workers Atomics.wait on it. */
export const SEQ = 0;
/** int32 word: the index of the job's kernel in the pool's kernel name list. */
export const KERNEL = 1;
/** int32 word: how many arguments precede (start, end). */
export const NARGS = 2;
/** int32 word: the job's row count; rows [0, TOTAL) are split between the threads. */
export const TOTAL = 3;
/** int32 word: chunk boundaries are multiples of GRAIN. */
export const GRAIN = 4;
/** int32 word: workers still running the current job; the last one to finish notifies the caller. */
export const PENDING = 5;
/** int32 word: 0, or 1 + the thread index of the first thread whose chunk failed in the current job. */
export const ERROR = 6;
/** int32 word: the byte length of the error text. */
export const ERROR_LENGTH = 7;
/** int32 word: 1 once the pool is closing; workers leave their loop. */
export const STOP = 8;
/** int32 word: workers whose kernel instance could not be made (each still answers jobs with an error). */
export const BROKEN = 9;
/** int32 word: the index of the argument that is per-thread scratch, or −1 for none. */
export const SCRATCH_ARG = 10;
/** int32 word: bytes between consecutive threads' scratch: thread t gets args[SCRATCH_ARG] + t·SCRATCH_STRIDE. */
export const SCRATCH_STRIDE = 11;
/** int32 words in the header. */
export const HEADER_WORDS = 16;

/** Byte offset of the float64 arguments. */
export const ARGS_OFFSET = HEADER_WORDS * 4;
/** The most arguments a kernel may take before (start, end). */
export const MAX_ARGS = 16;
/** Byte offset of the error text. */
export const ERROR_TEXT_OFFSET = ARGS_OFFSET + MAX_ARGS * 8;
/** Bytes kept for the error text (longer text is cut). */
export const ERROR_TEXT_BYTES = 1024;
/** Bytes in the whole control block. */
export const CONTROL_BYTES = ERROR_TEXT_OFFSET + ERROR_TEXT_BYTES;

/**
 * The rows of chunk `i` of `n`: the ⌈total/grain⌉ grains are dealt out in n contiguous runs of ⌊G/n⌋ or ⌈G/n⌉
 * grains, the longer runs first, so the split depends only on (total, grain, n). Chunk 0 runs on the calling
 * thread, which starts at once while the workers are still picking the job up: it takes the extra grain (9
 * attention heads on 2 threads: 5 here, 4 on the worker). [start, end) is written into `into` so the hot path
 * allocates nothing. The worker program (worker-source.ts) repeats this formula.
 */
export function chunkRange(i: number, n: number, total: number, grain: number, into: [number, number]): void {
  const grains = Math.ceil(total / grain);
  const g0 = Math.ceil((i * grains) / n);
  const g1 = Math.ceil(((i + 1) * grains) / n);
  into[0] = Math.min(total, g0 * grain);
  into[1] = Math.min(total, g1 * grain);
}
