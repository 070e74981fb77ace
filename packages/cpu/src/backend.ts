/**
 * The `cpu` backend: loads Hugging Face model directories into `CpuTextModel`s. Always available (it needs only
 * Node). Loading reads a Hugging Face directory or a GGUF file: the tokenizer and the weights (into the
 * WebAssembly arena of the fast kernels, quantised when asked; see engine/engine-options.ts for `kernels`,
 * `threads`, `quantization`); everything after that is in `model/`.
 */
import {
  applyLoadOpts,
  InferenceError,
  resultOf,
  type Backend,
  type Capability,
  type LoadOption,
  type Result,
  type TextModel,
} from "@dappcore/inference";
import { createTokenizer, loadTokenizer, type Tokenizer } from "./text/tokenizer.js";
import { loadGGUFCheckpoint } from "./loader/gguf-checkpoint.js";
import type { LoadedCheckpoint } from "./loader/model-dir.js";
import { loadEngineCheckpoint } from "./engine/arena-checkpoint.js";
import { readEngineOptions } from "./engine/engine-options.js";
import { WasmRuntime } from "./engine/wasm-runtime.js";
import { CpuTextModel } from "./model/cpu-text-model.js";
import { backendCapabilities } from "./capabilities.js";

export class CpuBackend implements Backend {
  readonly name = "cpu";

  available(): boolean {
    return true;
  }

  capabilities(): readonly Capability[] {
    return backendCapabilities();
  }

  loadModel(path: string, ...opts: LoadOption[]): Promise<Result<TextModel>> {
    return resultOf("cpu.loadModel", async () => {
      const load = applyLoadOpts(opts);
      if (typeof path !== "string" || path === "") {
        throw new InferenceError({ code: "invalid_argument", op: "cpu.loadModel", message: "model path must be a non-empty string" });
      }
      if (load.gpuLayers > 0) {
        throw new InferenceError({
          code: "unsupported",
          op: "inference.withGPULayers",
          message: `the cpu backend has no GPU layers (gpuLayers ${load.gpuLayers}); use 0 or leave it unset`,
        });
      }
      if (load.adapterPath !== "") {
        throw new InferenceError({
          code: "unsupported",
          op: "inference.withAdapterPath",
          message: "LoRA adapters are not supported by the cpu backend yet",
        });
      }
      const engine = readEngineOptions(load);
      const gguf = path.toLowerCase().endsWith(".gguf");
      if (gguf && engine.quantization !== undefined) {
        throw new InferenceError({
          code: "unsupported",
          op: "cpu.withQuantization",
          message: `quantization applies to Hugging Face directories; the GGUF file "${path}" runs in the types it stores (Q8_0/Q4_0 included)`,
          details: { option: "quantization", path },
        });
      }
      // Weights are read straight into the WebAssembly arena (quantised there when asked); the reference kernels
      // read them from ordinary buffers.
      const runtime = engine.kernels === "wasm" ? WasmRuntime.create({ threads: engine.threads }) : undefined;
      try {
        let checkpoint: LoadedCheckpoint;
        let tokenizer: Tokenizer;
        if (gguf) {
          const alloc = runtime && ((n: number) => runtime.u8(runtime.alloc(n), n));
          const loaded = await loadGGUFCheckpoint(path, { alloc, onProgress: load.onProgress, signal: load.signal });
          checkpoint = loaded.checkpoint;
          const t = loaded.tokenizer;
          tokenizer = createTokenizer(t.json, t.config, { chatTemplate: t.chatTemplate });
        } else {
          checkpoint = await loadEngineCheckpoint(path, {
            runtime,
            quantization: engine.quantization,
            onProgress: load.onProgress,
            signal: load.signal,
          });
          tokenizer = await loadTokenizer(path);
        }
        return new CpuTextModel({ checkpoint, tokenizer, load, engine, runtime }) as TextModel;
      } catch (e) {
        await runtime?.close();
        throw e;
      }
    });
  }
}
