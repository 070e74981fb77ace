/**
 * The `cpu` backend: loads Hugging Face model directories into `CpuTextModel`s. Always available (it needs only
 * Node). Loading reads the directory, the tokenizer and the weights; everything after that is in `model/`.
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
import { loadModelDir } from "./loader/model-dir.js";
import { loadTokenizer } from "./text/tokenizer.js";
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
      const checkpoint = await loadModelDir(path, { onProgress: load.onProgress, signal: load.signal });
      const tokenizer = await loadTokenizer(path);
      return new CpuTextModel({ checkpoint, tokenizer, load }) as TextModel;
    });
  }
}
