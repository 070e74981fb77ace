/**
 * Finds, compiles and instantiates the WebAssembly kernel module (wasm-dist/kernels.wasm, built from
 * packages/cpu/assembly by scripts/build-wasm.mjs) against a shared memory. Not where kernels are wrapped
 * (wasm-kernels.ts) or memory is allocated (wasm-arena.ts).
 *
 * Both forms exist: `loadKernels` compiles asynchronously (the default; fine everywhere) and `loadKernelsSync`
 * compiles synchronously (Node allows it for any size; browsers allow it only off the main thread). The compiled
 * `WebAssembly.Module` is cached per path, and `compileKernelModule` hands it out so worker threads can be sent it
 * and instantiate against the same shared memory without compiling again.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { InferenceError } from "@dappcore/inference";
import { WasmKernels, type KernelExports } from "./wasm-kernels.js";

/**
 * The default location of kernels.wasm: packages/cpu/wasm-dist/. This file sits four levels below the package
 * root both as src/engine/kernels/wasm/load-kernels.ts (tests) and as dist/engine/kernels/wasm/load-kernels.js.
 */
export function kernelsWasmPath(): string {
  return fileURLToPath(new URL("../../../../wasm-dist/kernels.wasm", import.meta.url));
}

const BUILD_REMEDY = "run `node packages/cpu/scripts/build-wasm.mjs` (the root `npm run build` does it) to build the kernels";

const compiled = new Map<string, WebAssembly.Module>();
const compiling = new Map<string, Promise<WebAssembly.Module>>();

function readFailed(path: string, cause: unknown): InferenceError {
  return new InferenceError({
    code: "internal",
    op: "cpu.loadKernels",
    message: `cannot read the WebAssembly kernels at ${path}`,
    cause,
    details: { path },
    remedy: BUILD_REMEDY,
  });
}

function compileFailed(path: string, cause: unknown): InferenceError {
  return new InferenceError({
    code: "unsupported",
    op: "cpu.loadKernels",
    message: `cannot compile the WebAssembly kernels at ${path}: this runtime needs WebAssembly SIMD and threads (Node 20 has both)`,
    cause,
    details: { path },
  });
}

/**
 * Compiles kernels.wasm (once per path; later calls return the cached module).
 * @param path the .wasm file; default `kernelsWasmPath()`.
 * @throws InferenceError `internal` when the file cannot be read (not built), `unsupported` when it does not compile.
 */
export async function compileKernelModule(path: string = kernelsWasmPath()): Promise<WebAssembly.Module> {
  const done = compiled.get(path);
  if (done !== undefined) return done;
  let pending = compiling.get(path);
  if (pending === undefined) {
    pending = (async () => {
      let bytes: Uint8Array<ArrayBuffer>;
      try {
        bytes = await readFile(path);
      } catch (cause) {
        throw readFailed(path, cause);
      }
      try {
        const module = await WebAssembly.compile(bytes);
        compiled.set(path, module);
        return module;
      } catch (cause) {
        throw compileFailed(path, cause);
      }
    })();
    compiling.set(path, pending);
    pending.catch(() => compiling.delete(path));
  }
  return pending;
}

/** Synchronous `compileKernelModule`. */
export function compileKernelModuleSync(path: string = kernelsWasmPath()): WebAssembly.Module {
  const done = compiled.get(path);
  if (done !== undefined) return done;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = readFileSync(path);
  } catch (cause) {
    throw readFailed(path, cause);
  }
  try {
    const module = new WebAssembly.Module(bytes);
    compiled.set(path, module);
    return module;
  } catch (cause) {
    throw compileFailed(path, cause);
  }
}

function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): WasmKernels {
  if (!(memory instanceof WebAssembly.Memory) || !(memory.buffer instanceof SharedArrayBuffer)) {
    throw new InferenceError({
      code: "invalid_argument",
      op: "cpu.loadKernels",
      message: "the kernels need a shared WebAssembly.Memory (use new WasmArena().memory)",
    });
  }
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, { env: { memory } });
  } catch (cause) {
    throw new InferenceError({
      code: "invalid_argument",
      op: "cpu.loadKernels",
      message: "cannot instantiate the WebAssembly kernels against this memory (it must be shared, with at most 65536 pages)",
      cause,
    });
  }
  return new WasmKernels(instance.exports as unknown as KernelExports, memory);
}

/**
 * Instantiates the kernels against `memory` (asynchronous compile, cached).
 *
 * @example
 * const arena = new WasmArena();
 * const kernels = await loadKernels(arena.memory);
 *
 * @param memory a shared memory, normally `WasmArena.memory`.
 * @param module a module compiled earlier (e.g. sent to a worker); default: compile kernelsWasmPath().
 * @throws InferenceError `invalid_argument` for a memory that is not shared, and as compileKernelModule.
 */
export async function loadKernels(memory: WebAssembly.Memory, module?: WebAssembly.Module): Promise<WasmKernels> {
  return instantiate(module ?? (await compileKernelModule()), memory);
}

/** Synchronous `loadKernels`. */
export function loadKernelsSync(memory: WebAssembly.Memory, module?: WebAssembly.Module): WasmKernels {
  return instantiate(module ?? compileKernelModuleSync(), memory);
}
