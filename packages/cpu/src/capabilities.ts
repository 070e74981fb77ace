/**
 * What the `cpu` backend can do, as capability lists for the backend and for a loaded model. Only what is implemented
 * and tested is `supported`; the rest is absent or `planned` with a reason.
 */
import { CapabilityId, plannedCapability, supportedCapability, type Capability } from "@dappcore/inference";
import type { KernelSet } from "./engine/forward-kernels.js";
import type { Quantization } from "./engine/quantization.js";

const base: readonly Capability[] = [
  supportedCapability(CapabilityId.generate, "model"),
  supportedCapability(CapabilityId.chat, "model"),
  supportedCapability(CapabilityId.classify, "model"),
  supportedCapability(CapabilityId.batchGenerate, "model"),
  supportedCapability(CapabilityId.tokenizer, "model"),
  supportedCapability(CapabilityId.requestCancel, "runtime"),
  supportedCapability(CapabilityId.probeEvents, "probe"),
  supportedCapability(CapabilityId.probeLogits, "probe"),
];

const LORA_INFERENCE = "PEFT LoRA adapters, unmerged (withAdapterPath, loadAdapter/unloadAdapter on the model)";
const LORA_TRAINING =
  "loadTrainable: LoRA (PEFT adapters) or full fine-tuning, AdamW, gradient accumulation, resumable training state";

const QUANTIZATION_DETAIL =
  "load-time Q8_0/Q4_0 (llama.cpp blocks of 32, activations quantised to Q8 as llama.cpp does) from F32/F16/BF16: " +
  'withQuantization("q8_0" | "q4_0")';

/** The backend's list: everything a model of it can do, plus loading. */
export function backendCapabilities(): readonly Capability[] {
  return [
    supportedCapability(CapabilityId.modelLoad, "runtime", "Hugging Face directories (safetensors F32/F16/BF16) and GGUF files (F32/F16/BF16/Q8_0/Q4_0)"),
    supportedCapability(CapabilityId.chatTemplate, "model"),
    ...base,
    supportedCapability(CapabilityId.loraInference, "model", LORA_INFERENCE),
    supportedCapability(CapabilityId.loraTraining, "training", LORA_TRAINING),
    supportedCapability(CapabilityId.quantization, "runtime", QUANTIZATION_DETAIL),
  ];
}

/** What a loaded model reports about its weights and kernels. */
export interface ModelCapabilityFacts {
  readonly hasChatTemplate: boolean;
  /** The load-time quantisation, if any. */
  readonly quantization?: Quantization;
  readonly kernels?: KernelSet;
  readonly threads?: number;
  /** The LoRA adapter in use, if any. */
  readonly adapter?: { readonly path: string; readonly rank: number; readonly alpha: number; readonly modules: number };
  /** True for a trainable model (adds `lora.training`). */
  readonly trainable?: boolean;
}

/** A loaded model's list; `chat.template` only when the checkpoint has one; `quantization` when it is quantised. */
export function modelCapabilities(opts: ModelCapabilityFacts): readonly Capability[] {
  const list = opts.hasChatTemplate ? [supportedCapability(CapabilityId.chatTemplate, "model"), ...base] : [...base];
  const a = opts.adapter;
  const active = a === undefined ? "; none active" : `; active: ${a.path === "" ? "trained in memory" : a.path} (r=${a.rank}, alpha=${a.alpha}, ${a.modules} modules)`;
  list.push(supportedCapability(CapabilityId.loraInference, "model", LORA_INFERENCE + active));
  if (opts.trainable === true) list.push(supportedCapability(CapabilityId.loraTraining, "training", LORA_TRAINING));
  const q = opts.quantization;
  if (q !== undefined) {
    const kernels = `${opts.kernels ?? "reference"} kernels, ${opts.threads ?? 1} thread(s)`;
    const what = q === "q8_0" ? "Q8_0: 8-bit" : "Q4_0: 4-bit";
    list.push(supportedCapability(CapabilityId.quantization, "runtime", `${what} weights in blocks of 32, quantised at load time; ${kernels}`));
  }
  return list;
}
