/**
 * Loads a Hugging Face model directory for the engine: the loader reads every tensor straight into the WebAssembly
 * arena (no second copy), and with a quantisation each matrix is turned into Q8_0/Q4_0 blocks in place as soon as
 * its bytes are read, the arena's top released back to the blocks' end, so the next tensor reuses the rest. Peak
 * memory is therefore the final weights plus one tensor as stored. Without an arena (reference kernels) tensors
 * land in ordinary buffers and are quantised in place there. Not the loader itself (loader/model-dir.ts) and not
 * the quantisation rules (quantization.ts).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Tensor, WeightStore } from "../model-config.js";
import { readModelConfig } from "../loader/config.js";
import { loadModelDir, type LoadedCheckpoint, type LoadModelDirOptions } from "../loader/model-dir.js";
import type { TensorAllocInfo } from "../loader/safetensors-reader.js";
import { quantizedDType, quantizeInPlace, type QuantDType, type Quantization } from "./quantization.js";
import { Q8_0_BLOCK_BYTES } from "./kernels/wasm/quant-layout.js";
import type { WasmRuntime } from "./wasm-runtime.js";

/** Options of `loadEngineCheckpoint`. */
export interface EngineCheckpointOptions {
  /**
   * Where the weights go: this runtime's arena. Default: ordinary buffers (for the reference kernels).
   * @example loadEngineCheckpoint(dir, { runtime: WasmRuntime.create() })
   */
  readonly runtime?: WasmRuntime;
  /**
   * Quantise matrices at load time to llama.cpp's Q8_0 or Q4_0 blocks (rules in quantization.ts). Default: none.
   * @example loadEngineCheckpoint(dir, { quantization: "q8_0" })
   */
  readonly quantization?: Quantization;
  /**
   * Called after each chunk of weights is read (as loadModelDir's). Default: none.
   * @example loadEngineCheckpoint(dir, { onProgress: (p) => console.log(p.loadedBytes / p.totalBytes) })
   */
  readonly onProgress?: LoadModelDirOptions["onProgress"];
  /**
   * Aborts loading between chunks with an `aborted` error (as loadModelDir's). Default: none.
   * @example loadEngineCheckpoint(dir, { signal: AbortSignal.timeout(60_000) })
   */
  readonly signal?: AbortSignal;
}

/** The loader's weights with the quantised tensors swapped in. */
class QuantizedWeights implements WeightStore {
  readonly byteLength: number;

  constructor(
    private readonly base: WeightStore,
    private readonly replaced: ReadonlyMap<string, Tensor>,
  ) {
    let bytes = base.byteLength;
    for (const [name, t] of replaced) bytes += t.data.byteLength - base.get(name).data.byteLength;
    this.byteLength = bytes;
  }

  has(name: string): boolean {
    return this.base.has(name);
  }

  get(name: string): Tensor {
    return this.replaced.get(name) ?? this.base.get(name);
  }

  names(): string[] {
    return this.base.names();
  }
}

interface Pending {
  readonly info: TensorAllocInfo;
  readonly data: Uint8Array;
  readonly ptr: number; // −1 off the arena
  readonly to: QuantDType;
}

/**
 * Reads the directory's config and weights; weights go into `runtime`'s arena when given, quantised when asked.
 * Errors as loadModelDir, and `out_of_memory` from the arena when the weights do not fit its 4 GiB.
 *
 * @example
 * const runtime = WasmRuntime.create({ threads: 2 });
 * const ckpt = await loadEngineCheckpoint("./SmolLM2-135M", { runtime, quantization: "q8_0" });
 * const engine = new Transformer(ckpt.config, ckpt.weights, { runtime });
 */
export async function loadEngineCheckpoint(dir: string, opts: EngineCheckpointOptions = {}): Promise<LoadedCheckpoint> {
  const { runtime, quantization } = opts;
  const tied = quantization === undefined ? true : await readTied(dir);
  const replaced = new Map<string, Tensor>();
  let pending: Pending | undefined;

  const finish = () => {
    if (pending === undefined) return;
    const { info, data, ptr, to } = pending;
    pending = undefined;
    const [rows, C] = info.shape;
    let bytes: number;
    if (runtime !== undefined && ptr >= 0 && to === "Q8_0" && C % 32 === 0 && (info.dtype === "F32" || info.dtype === "F16" || info.dtype === "BF16")) {
      // The kernel's bits are quantizeInPlace's (tested); about 20x faster than it.
      runtime.kernels.quantizeQ8_0Blocks(ptr, ptr, info.dtype, (rows * C) / 32);
      bytes = (rows * C * Q8_0_BLOCK_BYTES) / 32;
    } else {
      bytes = quantizeInPlace(data, info.dtype, to, rows, C);
    }
    if (runtime !== undefined && ptr >= 0) runtime.arena.release(ptr + bytes);
    const blocks = runtime !== undefined && ptr >= 0 ? runtime.u8(ptr, bytes) : data.subarray(0, bytes);
    replaced.set(info.name, { name: info.name, dtype: to, shape: [...info.shape], data: blocks });
  };

  const alloc = (byteLength: number, info: TensorAllocInfo): Uint8Array => {
    finish(); // the previous tensor is fully read by now
    let ptr = -1;
    let data: Uint8Array;
    if (runtime !== undefined) {
      ptr = runtime.alloc(byteLength);
      data = runtime.u8(ptr, byteLength);
    } else {
      data = new Uint8Array(byteLength);
    }
    const to = quantization === undefined ? undefined : quantizedDType(info.name, info.shape, quantization, tied);
    if (to !== undefined) pending = { info, data, ptr, to };
    return data;
  };

  const needsHook = runtime !== undefined || quantization !== undefined;
  const ckpt = await loadModelDir(dir, {
    onProgress: opts.onProgress,
    signal: opts.signal,
    alloc: needsHook ? alloc : undefined,
  });
  finish();
  if (replaced.size === 0) return ckpt;
  return { ...ckpt, weights: new QuantizedWeights(ckpt.weights, replaced) };
}

/**
 * Whether the checkpoint ties its output head to the embeddings, read ahead of the loader (which reports any
 * problem with config.json itself); true when unreadable, which keeps the shared table at the finer Q8_0.
 */
async function readTied(dir: string): Promise<boolean> {
  try {
    return readModelConfig(JSON.parse(await readFile(join(dir, "config.json"), "utf8"))).tieWordEmbeddings;
  } catch {
    return true;
  }
}
