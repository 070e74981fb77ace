// Capabilities: constructors, report helpers, capabilitiesOf for backends, models and wrappers, and its errors.
import { describe, expect, it } from "vitest";
import {
  baseModelCapabilities,
  capabilitiesOf,
  capabilityIds,
  CapabilityId,
  experimentalCapability,
  findCapability,
  isUsable,
  plannedCapability,
  supportedCapability,
  supportedCapabilityIds,
  supports,
  unsupportedCapability,
  type CapabilityReport,
} from "@dappcore/inference";
import { FakeBackend, FakeModel } from "./support/fake-backend.js";

const report = (caps: CapabilityReport["capabilities"]): CapabilityReport => ({ backend: "x", available: true, capabilities: caps });

describe("capability values", () => {
  it("has the stable IDs", () => {
    expect(CapabilityId).toMatchObject({
      modelLoad: "model.load", generate: "generate", chat: "chat", classify: "classify", batchGenerate: "batch.generate",
      tokenizer: "tokenizer", chatTemplate: "chat.template", loraInference: "lora.inference", loraTraining: "lora.training",
      kvSnapshot: "kv.snapshot", promptCache: "prompt.cache", probeEvents: "probe.events", probeLogits: "probe.logits",
      probeAttention: "probe.attention", quantization: "quantization", requestCancel: "request.cancel",
      embeddings: "embeddings", structuredOutput: "structured.output", scheduler: "scheduler", benchmark: "benchmark",
      evaluation: "evaluation", memoryPlanning: "memory.planning", runtimeDiscovery: "runtime.discovery",
    });
  });

  it("builds each status, with detail only when given", () => {
    expect(supportedCapability("generate", "model")).toEqual({ id: "generate", group: "model", status: "supported" });
    expect(experimentalCapability("lora.training", "training", "f32")).toEqual({
      id: "lora.training", group: "training", status: "experimental", detail: "f32",
    });
    expect(plannedCapability("kv.snapshot", "runtime").status).toBe("planned");
    expect(unsupportedCapability("embeddings", "model").status).toBe("unsupported");
  });

  it("isUsable is true for supported and experimental only", () => {
    expect(isUsable(supportedCapability("a", "model"))).toBe(true);
    expect(isUsable(experimentalCapability("a", "model"))).toBe(true);
    expect(isUsable(plannedCapability("a", "model"))).toBe(false);
    expect(isUsable(unsupportedCapability("a", "model"))).toBe(false);
  });
});

describe("report helpers", () => {
  const r = report([
    supportedCapability("generate", "model"),
    plannedCapability("kv.snapshot", "runtime"),
    experimentalCapability("chat", "model"),
    supportedCapability("generate", "model"),
    { ...unsupportedCapability("embeddings", "model"), labels: { why: "no" } },
  ]);

  it("supports only usable IDs", () => {
    expect(supports(r, "generate")).toBe(true);
    expect(supports(r, "chat")).toBe(true);
    expect(supports(r, "kv.snapshot")).toBe(false);
    expect(supports(r, "missing")).toBe(false);
  });

  it("lists usable IDs and all IDs, sorted and de-duplicated", () => {
    expect(supportedCapabilityIds(r)).toEqual(["chat", "generate"]);
    expect(capabilityIds(r)).toEqual(["chat", "embeddings", "generate", "kv.snapshot"]);
  });

  it("findCapability returns a copy whose labels do not alias the report", () => {
    const c = findCapability(r, "embeddings")!;
    (c.labels as Record<string, string>).why = "changed";
    expect(findCapability(r, "embeddings")!.labels).toEqual({ why: "no" });
    expect(findCapability(r, "missing")).toBeUndefined();
  });
});

describe("capabilitiesOf", () => {
  it("a backend answers from capabilities() and available()", () => {
    const b = new FakeBackend("cpu", { available: false, capabilities: [supportedCapability("model.load", "runtime")] });
    const r = capabilitiesOf(b);
    expect(r).toEqual({ ok: true, value: { backend: "cpu", available: false, capabilities: [supportedCapability("model.load", "runtime")] } });
    if (r.ok) expect(supports(r.value, "model.load")).toBe(true);
  });

  it("a backend whose available() throws is reported unavailable", () => {
    const b = new FakeBackend("cpu", { available: () => { throw new Error("no driver"); } });
    const r = capabilitiesOf(b);
    expect(r.ok && r.value.available).toBe(false);
  });

  it("a backend without capabilities() reports model.load", () => {
    const r = capabilitiesOf({ name: "bare", available: () => true, loadModel: async () => undefined });
    expect(r.ok && r.value.capabilities).toEqual([supportedCapability("model.load", "runtime")]);
  });

  it("a plain model gets the four base capabilities and its info", () => {
    const m = new FakeModel("/m");
    const r = capabilitiesOf(m);
    if (!r.ok) throw r.error;
    expect(r.value.capabilities).toEqual(baseModelCapabilities());
    expect(capabilityIds(r.value)).toEqual(["batch.generate", "chat", "classify", "generate"]);
    expect(r.value.model).toEqual(m.info());
    expect(r.value.available).toBe(true);
  });

  it("a model's own report wins", () => {
    const m = new FakeModel("/m", undefined, [supportedCapability("generate", "model"), supportedCapability("probe.logits", "probe")]);
    const r = capabilitiesOf(m);
    expect(r.ok && supportedCapabilityIds(r.value)).toEqual(["generate", "probe.logits"]);
  });

  it("finds capabilities through an unwrap() chain, and survives cycles", () => {
    const inner = new FakeModel("/m", undefined, [supportedCapability("tokenizer", "model")]);
    const wrapper = Object.assign(Object.create(new FakeModel("/w")) as FakeModel, { unwrap: () => inner });
    const outer = Object.assign(Object.create(new FakeModel("/o")) as FakeModel, { unwrap: () => wrapper });
    const r = capabilitiesOf(outer);
    expect(r.ok && capabilityIds(r.value)).toEqual(["tokenizer"]);
    const a: FakeModel & { unwrap?: () => unknown } = new FakeModel("/a");
    const b: FakeModel & { unwrap?: () => unknown } = new FakeModel("/b");
    a.unwrap = () => b;
    b.unwrap = () => a;
    const cyc = capabilitiesOf(a);
    expect(cyc.ok && cyc.value.capabilities).toEqual(baseModelCapabilities());
  });

  it("fails with invalid_argument for anything else", () => {
    for (const [value, what] of [[null, "null"], [undefined, "undefined"], [42, "number"], [{}, "object"]] as const) {
      const r = capabilitiesOf(value);
      if (r.ok) throw new Error("expected failure");
      expect(r.error.code).toBe("invalid_argument");
      expect(r.error.message).toBe(`inference.capabilitiesOf: expected a Backend or a TextModel, got ${what}`);
    }
  });

  it("fails when capabilities() throws or returns a non-array", () => {
    const b = new FakeBackend("cpu");
    b.capabilities = () => { throw new Error("boom"); };
    let r = capabilitiesOf(b);
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("invalid_argument");
    expect(r.error.message).toBe('inference.capabilitiesOf: backend "cpu" capabilities() threw: boom');
    const m = new FakeModel("/m");
    m.capabilities = () => 7 as never;
    r = capabilitiesOf(m);
    if (r.ok) throw new Error("expected failure");
    expect(r.error.message).toBe("inference.capabilitiesOf: model capabilities() did not return an array");
  });
});
