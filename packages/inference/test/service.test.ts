// The inference service on a Core: registration, every inference.* action, defaults from the options, and errors.
import { afterEach, describe, expect, it } from "vitest";
import {
  Core,
  fail,
  InferenceError,
  newService,
  registerCore,
  register,
  resetRegistry,
  SERVICE_ACTIONS,
  supportedCapability,
  type InferenceService,
} from "@dappcore/inference";
import { FakeBackend } from "./support/fake-backend.js";

afterEach(() => resetRegistry());

async function run(c: Core, name: string, options?: Record<string, unknown>) {
  return c.action(name).run(options);
}

describe("registerCore / newService", () => {
  it("registers the service and its actions", () => {
    const c = new Core();
    const r = registerCore(c);
    expect(r.ok).toBe(true);
    expect(c.service("inference").ok).toBe(true);
    expect(c.actions()).toEqual([...SERVICE_ACTIONS]);
    const again = newService({})(c);
    expect(!again.ok && again.error.message).toBe(
      "inference.newService: actions already registered: " + SERVICE_ACTIONS.join(", "),
    );
  });

  it("fails when the service name is taken, registering no actions", () => {
    const c = new Core();
    c.registerService("inference", {});
    const r = newService()(c);
    expect(!r.ok && r.error.message).toBe('core.registerService: service "inference" is already registered');
    expect(c.actions()).toEqual([]);
  });

  it("rejects options of the wrong type", () => {
    const c = new Core();
    let r = newService({ defaultBackend: 1 as never })(c);
    expect(!r.ok && [r.error.code, r.error.message]).toEqual(["invalid_argument", "inference.newService: defaultBackend must be a string"]);
    r = newService({ modelPath: {} as never })(c);
    expect(!r.ok && r.error.message).toBe("inference.newService: modelPath must be a string");
  });
});

describe("actions", () => {
  it("load, generate, chat, unload through the actions", async () => {
    const cpu = new FakeBackend("cpu");
    register(cpu);
    const c = new Core();
    registerCore(c);
    const loaded = await run(c, "inference.load", { path: "/m", contextLen: 32 });
    if (!loaded.ok) throw loaded.error;
    expect(loaded.value).toMatchObject({ id: "model-1", modelType: "fake", info: { architecture: "fake" } });
    expect(cpu.loads[0]!.path).toBe("/m");
    const gen = await run(c, "inference.generate", { prompt: "hello", maxTokens: 3 });
    if (!gen.ok) throw gen.error;
    const out = gen.value as { text: string; tokens: { id: number }[]; metrics: { generatedTokens: number } };
    expect(out.text).toBe("hel");
    expect(out.tokens.map((t) => t.id)).toEqual([104, 101, 108]);
    expect(out.metrics.generatedTokens).toBe(3);
    const chat = await run(c, "inference.chat", { messages: [{ role: "user", content: "hi" }], model: "model-1" });
    expect(chat.ok && (chat.value as { text: string }).text).toBe("hi");
    expect(await run(c, "inference.unload", { model: "model-1" })).toEqual({ ok: true, value: { id: "model-1" } });
    expect(cpu.models[0]!.closed).toBe(true);
    const after = await run(c, "inference.generate", { prompt: "x" });
    expect(!after.ok && after.error.message).toBe(
      "inference.generate: no model is loaded: run inference.load first or set the service's modelPath",
    );
  });

  it("uses modelPath and defaultBackend when the request omits them, loading on first use", async () => {
    const cpu = new FakeBackend("cpu");
    const metal = new FakeBackend("metal");
    register(cpu);
    register(metal);
    const c = new Core();
    const svc = newService({ defaultBackend: "cpu", modelPath: "/srv/model" })(c);
    const gen = await run(c, "inference.generate", { prompt: "ok" });
    expect(gen.ok && (gen.value as { text: string }).text).toBe("ok");
    expect(cpu.loads.map((l) => l.path)).toEqual(["/srv/model"]);
    expect(metal.loads).toEqual([]);
    const pinned = await run(c, "inference.load", { backend: "metal", id: "m" });
    expect(pinned.ok && (pinned.value as { id: string }).id).toBe("m");
    expect(metal.loads.map((l) => l.path)).toEqual(["/srv/model"]);
    expect(svc.ok && (svc.value as InferenceService).models()).toEqual(["model-1", "m"]);
    expect(svc.ok && (await (svc.value as InferenceService).closeAll()).ok).toBe(true);
    expect(cpu.models[0]!.closed && metal.models[0]!.closed).toBe(true);
  });

  it("backends lists names, availability and capabilities", async () => {
    register(new FakeBackend("cpu", { capabilities: [supportedCapability("model.load", "runtime")] }));
    register(new FakeBackend("metal", { available: false, capabilities: [] }));
    const c = new Core();
    registerCore(c);
    expect(await run(c, "inference.backends")).toEqual({
      ok: true,
      value: [
        { name: "cpu", available: true, capabilities: [supportedCapability("model.load", "runtime")] },
        { name: "metal", available: false, capabilities: [] },
      ],
    });
  });

  it("capabilities of a backend or a loaded model", async () => {
    register(new FakeBackend("cpu"));
    const c = new Core();
    registerCore(c);
    const b = await run(c, "inference.capabilities", { backend: "cpu" });
    expect(b.ok && (b.value as { backend: string }).backend).toBe("cpu");
    await run(c, "inference.load", { path: "/m", id: "x" });
    const m = await run(c, "inference.capabilities", { model: "x" });
    expect(m.ok && (m.value as { capabilities: { id: string }[] }).capabilities.map((x) => x.id))
      .toEqual(["generate", "chat", "classify", "batch.generate"]);
  });

  it("reports every bad request with a typed error", async () => {
    register(new FakeBackend("cpu"));
    const c = new Core();
    registerCore(c);
    const cases: [string, Record<string, unknown>, string, string][] = [
      ["inference.load", {}, "invalid_argument", "inference.load: no model path: give `path` or set the service's modelPath"],
      ["inference.load", { path: 5 }, "invalid_argument", "inference.load: path must be a string"],
      ["inference.load", { path: "/m", id: "" }, "invalid_argument", "inference.load: id must be a non-empty string"],
      ["inference.load", { path: "/m", backend: "rocm" }, "backend_not_registered", 'inference.loadModel: backend "rocm" not registered (registered: cpu)'],
      ["inference.load", { path: "/m", contextLen: -1 }, "invalid_argument", "inference.withContextLen: contextLen must be a non-negative integer, got -1"],
      ["inference.generate", {}, "invalid_argument", "inference.generate: prompt must be a string"],
      ["inference.generate", { prompt: "x", model: "ghost" }, "invalid_argument", 'inference.generate: model "ghost" is not loaded'],
      ["inference.chat", { messages: "hi" }, "invalid_argument", "inference.chat: messages must be an array of { role, content } strings"],
      ["inference.unload", {}, "invalid_argument", "inference.unload: no model is loaded"],
      ["inference.unload", { model: "ghost" }, "invalid_argument", 'inference.unload: model "ghost" is not loaded'],
      ["inference.capabilities", {}, "invalid_argument", "inference.capabilities: give `backend` (a backend name) or `model` (a loaded model id)"],
      ["inference.capabilities", { backend: "rocm" }, "backend_not_registered", 'inference.capabilities: backend "rocm" not registered (registered: cpu)'],
      ["inference.capabilities", { model: "ghost" }, "invalid_argument", 'inference.capabilities: model "ghost" is not loaded'],
    ];
    for (const [action, options, code, message] of cases) {
      const r = await run(c, action, options);
      if (r.ok) throw new Error(`${action} ${JSON.stringify(options)} should fail`);
      expect([r.error.code, r.error.message]).toEqual([code, message]);
    }
    await run(c, "inference.load", { path: "/m", id: "dup" });
    const dup = await run(c, "inference.load", { path: "/m", id: "dup" });
    expect(!dup.ok && dup.error.message).toBe('inference.load: model id "dup" is already in use');
  });

  it("a failing generation fails the action with the stream's error; a failing close fails unload", async () => {
    const cpu = new FakeBackend("cpu");
    register(cpu);
    const c = new Core();
    registerCore(c);
    await run(c, "inference.load", { path: "/m" });
    const r = await run(c, "inference.generate", { prompt: "x", topP: 2 });
    expect(!r.ok && [r.error.code, r.error.message]).toEqual([
      "invalid_argument", "inference.withTopP: topP must be a finite number in [0, 1], got 2",
    ]);
    cpu.models[0]!.closeResult = fail(new InferenceError({ code: "internal", op: "fake.close", message: "stuck" }));
    const u = await run(c, "inference.unload");
    expect(!u.ok && u.error.message).toBe("fake.close: stuck");
  });

  it("a load failure of modelPath on first use is returned", async () => {
    const c = new Core();
    newService({ modelPath: "/srv/m" })(c);
    const r = await run(c, "inference.generate", { prompt: "x" });
    expect(!r.ok && r.error.message).toBe("inference.defaultBackend: no backends registered");
  });
});
