/**
 * How a `CpuTrainableModel` hands trained values to its generation engine: LoRA A/B copied into the engine
 * (`setEngineAdapter`, O(adapter parameters)), or, in full mode, a new `CpuTextModel` over the trained float32 weights
 * (one O(parameters) copy, and on the WebAssembly kernels a new arena and thread pool); plus the small LoRA helpers
 * (merging an adapter into a matrix, comparing settings). Not when to sync (cpu-trainable-model.ts decides).
 */
import { InferenceError } from "@dappcore/inference";
import { CpuTextModel } from "../model/cpu-text-model.js";
import type { ActiveAdapterInfo } from "../model/adapter-loading.js";
import type { EngineLoraModule } from "../engine/lora-slots.js";
import { WasmRuntime } from "../engine/wasm-runtime.js";
import type { Tensor, WeightStore } from "../model-config.js";
import type { NormalizedLoRAConfig } from "./lora-config.js";
import type { TrainableTransformer } from "./trainable-transformer.js";

/** What a model reports for an adapter trained in memory. */
export function memoryAdapterInfo(lora: NormalizedLoRAConfig, modules: number): ActiveAdapterInfo {
  return { path: "", rank: lora.rank, alpha: lora.alpha, scale: lora.alpha / lora.rank, targetKeys: lora.targetKeys, modules };
}

/** Copies the LoRA pairs of `net` (PEFT order: lora_A then lora_B per module) into `model`'s engine. */
export function syncLoRA(model: CpuTextModel, net: TrainableTransformer, lora: NormalizedLoRAConfig): void {
  const params = net.parameters();
  const modules = new Map<string, EngineLoraModule>();
  for (let i = 0; i < params.length; i += 2) {
    const a = params[i]!;
    const b = params[i + 1]!;
    modules.set(a.name.replace(/\.lora_A\.weight$/, ""), { a: a.value, b: b.value, rank: lora.rank, scale: lora.alpha / lora.rank });
  }
  model.setEngineAdapter({ modules }, memoryAdapterInfo(lora, modules.size));
}

/** A new model like `model` (tokenizer, load options, kernels) over the full-mode weights of `net`. */
export function rebuiltModel(model: CpuTextModel, net: TrainableTransformer): CpuTextModel {
  const parts = model.loaded;
  const weights = new TensorWeights(net.exportWeights().map((t) => ({ name: t.name, dtype: "F32", shape: t.shape, data: t.data })));
  const runtime = parts.engine?.kernels === "wasm" ? WasmRuntime.create({ threads: parts.engine.threads }) : undefined;
  try {
    return new CpuTextModel({ ...parts, checkpoint: { ...parts.checkpoint, weights }, runtime, adapter: undefined });
  } catch (e) {
    void runtime?.close();
    throw e;
  }
}

/** y = W + scale · B · A merged into a float32 (out, in) matrix. */
export function mergeInto(w: Float32Array, m: EngineLoraModule): void {
  const inDim = m.a.length / m.rank;
  const out = m.b.length / m.rank;
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < inDim; c++) {
      let s = 0;
      for (let r = 0; r < m.rank; r++) s += m.b[o * m.rank + r]! * m.a[r * inDim + c]!;
      w[o * inDim + c] = w[o * inDim + c]! + m.scale * s;
    }
  }
}

export function sameLoRA(a: NormalizedLoRAConfig, b: NormalizedLoRAConfig): boolean {
  return a.rank === b.rank && a.alpha === b.alpha && a.dropout === b.dropout && a.targetKeys.join("\n") === b.targetKeys.join("\n");
}

/** A WeightStore over tensors held in memory. */
class TensorWeights implements WeightStore {
  private readonly map: Map<string, Tensor>;
  readonly byteLength: number;

  constructor(tensors: readonly Tensor[]) {
    this.map = new Map(tensors.map((t) => [t.name, t]));
    this.byteLength = tensors.reduce((n, t) => n + t.data.byteLength, 0);
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  get(name: string): Tensor {
    const t = this.map.get(name);
    if (t === undefined) throw new InferenceError({ code: "internal", op: "cpu.trainable", message: `trained weights lack tensor "${name}"` });
    return t;
  }

  names(): string[] {
    return [...this.map.keys()];
  }
}
