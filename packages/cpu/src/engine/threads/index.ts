/**
 * Worker threads for the WebAssembly kernels: a pool that splits one kernel call by rows across the calling thread
 * and workers sharing the same WebAssembly.Memory. Not the kernels themselves (../kernels/wasm/).
 */
export { MAX_POOL_THREADS, createKernelPool } from "./kernel-pool.js";
export type { KernelPool, KernelPoolOptions, ThreadScratch } from "./kernel-pool.js";
