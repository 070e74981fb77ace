/**
 * The WebAssembly SIMD kernels of the cpu backend, by name: the shared-memory arena, the loader and the typed
 * kernel wrappers. Sources of the module: packages/cpu/assembly/; build: packages/cpu/scripts/build-wasm.mjs.
 */
export { WasmArena, WASM_MAX_BYTES, WASM_MAX_PAGES, WASM_PAGE_BYTES } from "./wasm-arena.js";
export type { WasmArenaOptions } from "./wasm-arena.js";
export {
  compileKernelModule,
  compileKernelModuleSync,
  kernelsWasmPath,
  loadKernels,
  loadKernelsSync,
} from "./load-kernels.js";
export { WasmKernels } from "./wasm-kernels.js";
export type { KernelExports } from "./wasm-kernels.js";
export {
  ATTENTION_ROWS,
  Q4_0_BLOCK_BYTES,
  Q8_0_BLOCK_BYTES,
  PREFILL_ROWS,
  QUANT_BLOCK,
  QUANT_PREFILL_ROWS,
  attentionScratchBytes,
  prefillScratchBytes,
  q8ActivationBytes,
  quantPrefillScratchBytes,
  weightBytes,
} from "./quant-layout.js";
export type { WasmWeightDtype } from "./quant-layout.js";
