/**
 * The cpu backend's own load options — `kernels`, `threads`, `quantization`, `kvCacheType` — as functional options
 * and as plain object keys (`loadModel(path, { quantization: "q8_0" })`), read from a resolved LoadConfig and
 * validated, each failure an `invalid_argument` naming the option. Not the engine; not the shared options of
 * @dappcore/inference.
 */
import { availableParallelism } from "node:os";
import { InferenceError, type LoadConfig, type LoadOptionFn } from "@dappcore/inference";
import type { KernelSet } from "./forward-kernels.js";
import { KV_CACHE_TYPES, type KVCacheType } from "./kv-cache.js";
import { QUANTIZATIONS, type Quantization } from "./quantization.js";
import { checkThreads, wasmKernelsSupported } from "./wasm-runtime.js";

/** The cpu engine's settings for one model. */
export interface CpuEngineOptions {
  readonly kernels: KernelSet;
  readonly threads: number;
  readonly quantization: Quantization | undefined;
  readonly kvCacheType: KVCacheType;
}

/**
 * The KV cache's element type: "f32", or "f16" (IEEE halves, llama.cpp's default: half the memory of a long context;
 * keys and values are rounded to nearest-even when stored, and attention widens them back exactly). Default "f32".
 * @example backend.loadModel(dir, withKVCacheType("f16"))
 */
export function withKVCacheType(type: KVCacheType): LoadOptionFn {
  return (draft) => {
    draft.kvCacheType = type;
  };
}

/**
 * Quantise weight matrices at load time to llama.cpp's Q8_0 or Q4_0 blocks (from F32/F16/BF16 checkpoints).
 * Default: none (weights run in their stored dtype).
 * @example backend.loadModel(dir, withQuantization("q8_0"))
 */
export function withQuantization(quantization: Quantization): LoadOptionFn {
  return (draft) => {
    draft.quantization = quantization;
  };
}

/**
 * Threads that run each kernel call (WebAssembly kernels only), the calling one included.
 * Default: os.availableParallelism().
 * @example backend.loadModel(dir, withThreads(2))
 */
export function withThreads(threads: number): LoadOptionFn {
  return (draft) => {
    draft.threads = threads;
  };
}

/**
 * The kernel set: "wasm" (WebAssembly SIMD, shared memory, worker threads) or "reference" (plain TypeScript,
 * single-threaded). Default "wasm" where the runtime supports WebAssembly SIMD and threads, else "reference".
 * @example backend.loadModel(dir, withKernels("reference"))
 */
export function withKernels(kernels: KernelSet): LoadOptionFn {
  return (draft) => {
    draft.kernels = kernels;
  };
}

function invalid(option: string, message: string, value: unknown): InferenceError {
  return new InferenceError({
    code: "invalid_argument",
    op: `cpu.${option}`,
    message,
    details: { option, value: typeof value === "number" || typeof value === "string" ? value : String(value) },
  });
}

/** Reads and checks the cpu options of `load`, filling defaults. */
export function readEngineOptions(load: LoadConfig): CpuEngineOptions {
  const { kernels, threads, quantization, kvCacheType } = load as Record<string, unknown>;
  if (kernels !== undefined && kernels !== "wasm" && kernels !== "reference") {
    throw invalid("withKernels", `kernels must be "wasm" or "reference", got ${JSON.stringify(kernels)}`, kernels);
  }
  if (quantization !== undefined && !(QUANTIZATIONS as readonly unknown[]).includes(quantization)) {
    throw invalid(
      "withQuantization",
      `quantization must be one of ${QUANTIZATIONS.map((q) => `"${q}"`).join(", ")}, got ${JSON.stringify(quantization)}`,
      quantization,
    );
  }
  if (kvCacheType !== undefined && !(KV_CACHE_TYPES as readonly unknown[]).includes(kvCacheType)) {
    throw invalid(
      "withKVCacheType",
      `kvCacheType must be one of ${KV_CACHE_TYPES.map((t) => `"${t}"`).join(", ")}, got ${JSON.stringify(kvCacheType)}`,
      kvCacheType,
    );
  }
  let n = availableParallelism();
  if (threads !== undefined) {
    try {
      n = checkThreads(threads, "cpu.withThreads");
    } catch {
      throw invalid("withThreads", `threads must be an integer >= 1 (at most 256), got ${String(threads)}`, threads);
    }
  }
  const set: KernelSet = (kernels as KernelSet | undefined) ?? (wasmKernelsSupported() ? "wasm" : "reference");
  return {
    kernels: set,
    threads: set === "reference" ? 1 : n,
    quantization: quantization as Quantization | undefined,
    kvCacheType: (kvCacheType as KVCacheType | undefined) ?? "f32",
  };
}
