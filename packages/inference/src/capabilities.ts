/**
 * Capabilities: what a backend or a loaded model can do, as data a caller can inspect before it tries
 * (`supports(report, CapabilityId.probeLogits)`). The IDs are the stable strings of the Go contract that apply to us.
 *
 * This file is not where capabilities are exercised or enforced: a backend reports them, the conformance kit checks
 * that every claimed one works. Registry-level lookups (`backendCaps(name)`) live in `registry.ts`.
 */
import { InferenceError } from "./errors.js";
import { fail, ok, type Result } from "./result.js";
import type { Backend, ModelInfo, TextModel } from "./types.js";
import { unwrapChain } from "./wrapped-model.js";

/** Which part of the system a capability belongs to. */
export type CapabilityGroup = "model" | "runtime" | "training" | "probe";

/** How far a capability is implemented. `supported` and `experimental` are usable; the others are information. */
export type CapabilityStatus = "supported" | "experimental" | "planned" | "unsupported";

/** The stable capability IDs (Go's `CapabilityID` constants that apply to this library). */
export const CapabilityId = {
  modelLoad: "model.load",
  generate: "generate",
  chat: "chat",
  classify: "classify",
  batchGenerate: "batch.generate",
  tokenizer: "tokenizer",
  chatTemplate: "chat.template",
  loraInference: "lora.inference",
  loraTraining: "lora.training",
  stateBundle: "state.bundle",
  kvSnapshot: "kv.snapshot",
  promptCache: "prompt.cache",
  kvCachePlanning: "kv.cache.planning",
  memoryPlanning: "memory.planning",
  modelFit: "model.fit",
  runtimeDiscovery: "runtime.discovery",
  benchmark: "benchmark",
  evaluation: "evaluation",
  quantization: "quantization",
  probeEvents: "probe.events",
  probeLogits: "probe.logits",
  probeAttention: "probe.attention",
  embeddings: "embeddings",
  scheduler: "scheduler",
  requestCancel: "request.cancel",
  structuredOutput: "structured.output",
} as const;

/** One of the stable IDs. `Capability.id` is typed `string` so backends may publish IDs of their own. */
export type CapabilityIdValue = (typeof CapabilityId)[keyof typeof CapabilityId];

/** One thing a backend or model can (or cannot yet) do. */
export interface Capability {
  readonly id: string;
  readonly group: CapabilityGroup;
  readonly status: CapabilityStatus;
  /** Free text for people: limits, caveats ("greedy only", "f32 and bf16 weights"). */
  readonly detail?: string;
  /** Machine-readable extras (`{ dtypes: "f32,bf16" }`). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** What `capabilitiesOf` answers: who reports, whether it can run here, and its capability list. */
export interface CapabilityReport {
  /** The backend's name; "" when the report comes from a model that does not say which backend loaded it. */
  readonly backend: string;
  /** False when the backend's `available()` is false (or throws). A loaded model is always available. */
  readonly available: boolean;
  /** Present when the report is about a loaded model. */
  readonly model?: ModelInfo;
  readonly capabilities: readonly Capability[];
}

function capability(id: string, group: CapabilityGroup, status: CapabilityStatus, detail?: string): Capability {
  return detail === undefined ? { id, group, status } : { id, group, status, detail };
}

/** `supportedCapability(CapabilityId.generate, "model")` */
export function supportedCapability(id: string, group: CapabilityGroup, detail?: string): Capability {
  return capability(id, group, "supported", detail);
}

/** `experimentalCapability(CapabilityId.loraTraining, "training", "f32 only")` */
export function experimentalCapability(id: string, group: CapabilityGroup, detail?: string): Capability {
  return capability(id, group, "experimental", detail);
}

/** `plannedCapability(CapabilityId.kvSnapshot, "runtime")` */
export function plannedCapability(id: string, group: CapabilityGroup, detail?: string): Capability {
  return capability(id, group, "planned", detail);
}

/** `unsupportedCapability(CapabilityId.embeddings, "model", "not a goal of this backend")` */
export function unsupportedCapability(id: string, group: CapabilityGroup, detail?: string): Capability {
  return capability(id, group, "unsupported", detail);
}

/** True for `supported` and `experimental`: a caller may rely on it. */
export function isUsable(cap: Capability): boolean {
  return cap.status === "supported" || cap.status === "experimental";
}

/** True when the report lists `id` with a usable status. */
export function supports(report: CapabilityReport, id: string): boolean {
  return report.capabilities.some((c) => c.id === id && isUsable(c));
}

/** The first capability with this id, as a copy (its labels too), or undefined. */
export function findCapability(report: CapabilityReport, id: string): Capability | undefined {
  const found = report.capabilities.find((c) => c.id === id);
  return found === undefined ? undefined : cloneCapability(found);
}

/** The usable IDs, sorted and de-duplicated. */
export function supportedCapabilityIds(report: CapabilityReport): string[] {
  return sortedUnique(report.capabilities.filter(isUsable).map((c) => c.id));
}

/** All IDs whatever their status, sorted and de-duplicated. */
export function capabilityIds(report: CapabilityReport): string[] {
  return sortedUnique(report.capabilities.map((c) => c.id));
}

/** The four capabilities every `TextModel` has by contract. */
export function baseModelCapabilities(): Capability[] {
  return [
    supportedCapability(CapabilityId.generate, "model"),
    supportedCapability(CapabilityId.chat, "model"),
    supportedCapability(CapabilityId.classify, "model"),
    supportedCapability(CapabilityId.batchGenerate, "model"),
  ];
}

/**
 * The capability report of a backend or a loaded model.
 *
 * - A `Backend` answers from its `capabilities()` (a backend without one reports `model.load`), with `available()`
 *   (which counts as false when it throws).
 * - A `TextModel` answers from its own `capabilities()` when it has one, else from the first model down its
 *   `unwrap()` chain that has one (so decorators cannot hide capabilities), else with the four base capabilities
 *   (generate, chat, classify, batch.generate). `model` is filled from `info()`.
 * - Anything else fails with `invalid_argument`; so does a `capabilities()` that throws or returns a non-array.
 *
 * @example
 * const r = capabilitiesOf(model);
 * if (r.ok && supports(r.value, CapabilityId.probeLogits)) { ... }
 */
export function capabilitiesOf(modelOrBackend: unknown): Result<CapabilityReport> {
  const op = "inference.capabilitiesOf";
  if (isBackendLike(modelOrBackend)) {
    const backend = modelOrBackend;
    const caps = typeof backend.capabilities === "function"
      ? readCapabilities(() => backend.capabilities(), op, `backend "${backend.name}"`)
      : ok([supportedCapability(CapabilityId.modelLoad, "runtime")]);
    if (!caps.ok) return caps;
    return ok({ backend: backend.name, available: safeAvailable(backend), capabilities: caps.value });
  }
  if (isTextModelLike(modelOrBackend)) {
    let caps: Result<Capability[]> = ok(baseModelCapabilities());
    for (const layer of unwrapChain(modelOrBackend)) {
      const candidate = layer as Partial<TextModel>;
      if (typeof candidate.capabilities === "function") {
        caps = readCapabilities(() => candidate.capabilities!.call(layer), op, "model");
        break;
      }
    }
    if (!caps.ok) return caps;
    let info: ModelInfo | undefined;
    try {
      info = modelOrBackend.info();
    } catch {
      info = undefined;
    }
    return ok({ backend: "", available: true, ...(info === undefined ? {} : { model: info }), capabilities: caps.value });
  }
  const what = modelOrBackend === null ? "null" : typeof modelOrBackend;
  return fail(new InferenceError({
    code: "invalid_argument",
    op,
    message: `expected a Backend or a TextModel, got ${what}`,
  }));
}

/** `available()` that throws counts as unavailable: a broken probe must not take the registry down. */
export function safeAvailable(backend: Backend): boolean {
  try {
    return backend.available() === true;
  } catch {
    return false;
  }
}

function readCapabilities(fn: () => readonly Capability[], op: string, who: string): Result<Capability[]> {
  let caps: unknown;
  try {
    caps = fn();
  } catch (e) {
    return fail(new InferenceError({ code: "invalid_argument", op, message: `${who} capabilities() threw`, cause: e }));
  }
  if (!Array.isArray(caps)) {
    return fail(new InferenceError({ code: "invalid_argument", op, message: `${who} capabilities() did not return an array` }));
  }
  return ok((caps as Capability[]).map(cloneCapability));
}

function cloneCapability(c: Capability): Capability {
  return c.labels === undefined ? { ...c } : { ...c, labels: { ...c.labels } };
}

function sortedUnique(ids: string[]): string[] {
  return [...new Set(ids)].sort();
}

function isBackendLike(v: unknown): v is Backend {
  return typeof v === "object" && v !== null && typeof (v as Backend).name === "string" &&
    typeof (v as Backend).available === "function" && typeof (v as Backend).loadModel === "function";
}

function isTextModelLike(v: unknown): v is TextModel {
  return typeof v === "object" && v !== null && typeof (v as TextModel).generate === "function" &&
    typeof (v as TextModel).chat === "function" && typeof (v as TextModel).info === "function";
}
