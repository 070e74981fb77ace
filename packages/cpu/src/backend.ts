/**
 * The `cpu` backend: loads Hugging Face model directories into `CpuTextModel`s. Always available (it needs only
 * Node). Loading reads a Hugging Face directory or a GGUF file: the tokenizer and the weights (into the
 * WebAssembly arena of the fast kernels, quantised when asked; see engine/engine-options.ts for `kernels`,
 * `threads`, `quantization`), and a PEFT LoRA adapter from withAdapterPath; everything after that is in `model/`.
 * `loadTrainable` wraps such a model in a `CpuTrainableModel` (training/).
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
  type TrainableModel,
} from "@dappcore/inference";
import { createTokenizer, loadTokenizer, type Tokenizer } from "./text/tokenizer.js";
import { loadGGUFCheckpoint } from "./loader/gguf-checkpoint.js";
import type { LoadedCheckpoint } from "./loader/model-dir.js";
import { loadEngineCheckpoint } from "./engine/arena-checkpoint.js";
import { readEngineOptions } from "./engine/engine-options.js";
import { WasmRuntime } from "./engine/wasm-runtime.js";
import { CpuTextModel } from "./model/cpu-text-model.js";
import { backendCapabilities } from "./capabilities.js";
import { readEngineAdapter } from "./model/adapter-loading.js";
import { CpuTrainableModel } from "./training/cpu-trainable-model.js";
import { readTrainableOptions } from "./training/cpu-trainable-options.js";

export class CpuBackend implements Backend {
  readonly name = "cpu";

  available(): boolean {
    return true;
  }

  capabilities(): readonly Capability[] {
    return backendCapabilities();
  }

  loadModel(path: string, ...opts: LoadOption[]): Promise<Result<TextModel>> {
    return this.load(path, opts, true);
  }

  /** loadModel's work; `ownsWeights`: false when the model will be trained (its weights keep their stored layout). */
  private load(path: string, opts: readonly LoadOption[], ownsWeights: boolean): Promise<Result<TextModel>> {
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
        // A bad adapter fails the load here, before the model exists; the catch below closes the runtime.
        const adapter = load.adapterPath !== "" ? await readEngineAdapter(load.adapterPath, checkpoint.config) : undefined;
        return new CpuTextModel({ checkpoint, tokenizer, load, engine, runtime, adapter, ownsWeights }) as TextModel;
      } catch (e) {
        await runtime?.close();
        throw e;
      }
    });
  }

  /**
   * Loads a model that trains (`CpuTrainableModel`): every load option of `loadModel` (an adapter from
   * withAdapterPath is trained on in LoRA mode and merged into the weights in full mode), plus the training options
   * of `TrainableLoadOptions` (`trainingMode`, `learningRate`, `weightDecay`, `betas`, `maxGradNorm`, `seed`).
   * Errors: those of `loadModel`; `invalid_argument` naming a bad training option; `unsupported` for quantised
   * weights (training needs F32, F16 or BF16).
   */
  loadTrainable(path: string, ...opts: LoadOption[]): Promise<Result<TrainableModel>> {
    return resultOf("cpu.loadTrainable", async () => {
      const load = applyLoadOpts(opts);
      const options = readTrainableOptions(load);
      const loaded = await this.load(path, opts, false);
      if (!loaded.ok) throw loaded.error;
      const model = loaded.value as CpuTextModel;
      try {
        if (model.info().quantBits !== 0) {
          throw new InferenceError({
            code: "unsupported",
            op: "cpu.loadTrainable",
            message: `training needs F32, F16 or BF16 weights; "${path}" loads as ${model.info().quantBits}-bit quantised weights`,
            details: { path },
          });
        }
        const adapter = load.adapterPath !== "" ? await readEngineAdapter(load.adapterPath, model.loaded.checkpoint.config) : undefined;
        return CpuTrainableModel.create({ model, options, adapter }) as TrainableModel;
      } catch (e) {
        await model.close();
        throw e;
      }
    });
  }
}
