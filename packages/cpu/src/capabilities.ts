/**
 * What the `cpu` backend can do, as capability lists for the backend and for a loaded model. Only what is implemented
 * and tested is `supported`; the rest is absent or `planned` with a reason.
 */
import { CapabilityId, plannedCapability, supportedCapability, type Capability } from "@dappcore/inference";

const base: readonly Capability[] = [
  supportedCapability(CapabilityId.generate, "model"),
  supportedCapability(CapabilityId.chat, "model"),
  supportedCapability(CapabilityId.classify, "model"),
  supportedCapability(CapabilityId.batchGenerate, "model"),
  supportedCapability(CapabilityId.tokenizer, "model"),
  supportedCapability(CapabilityId.requestCancel, "runtime"),
  supportedCapability(CapabilityId.probeEvents, "probe"),
  supportedCapability(CapabilityId.probeLogits, "probe"),
  plannedCapability(CapabilityId.loraInference, "model", "PEFT adapters are planned (issue 5)"),
  plannedCapability(CapabilityId.loraTraining, "training", "training is planned (issue 5)"),
  plannedCapability(CapabilityId.quantization, "runtime", "Q8_0/Q4_0 weights are planned (issue 4)"),
];

/** The backend's list: everything a model of it can do, plus loading. */
export function backendCapabilities(): readonly Capability[] {
  return [
    supportedCapability(CapabilityId.modelLoad, "runtime", "Hugging Face directories: safetensors F32/F16/BF16"),
    supportedCapability(CapabilityId.chatTemplate, "model"),
    ...base,
  ];
}

/** A loaded model's list; `chat.template` only when the checkpoint has one. */
export function modelCapabilities(opts: { hasChatTemplate: boolean }): readonly Capability[] {
  return opts.hasChatTemplate ? [supportedCapability(CapabilityId.chatTemplate, "model"), ...base] : base;
}
