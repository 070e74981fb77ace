// The backend registry: register/get/list/all, the automatic choice, loadModel and loadTrainable with every error
// path and message, option forwarding, and interleaved async use (contract checklist 8a).
import { afterEach, describe, expect, it } from "vitest";
import {
  all,
  applyLoadOpts,
  backendCaps,
  defaultBackend,
  fail,
  get,
  InferenceError,
  list,
  loadModel,
  loadTrainable,
  ok,
  register,
  resetRegistry,
  supportedCapability,
  unregister,
  withBackend,
  withContextLen,
  withGPULayers,
  type Backend,
  type TrainableModel,
} from "@dappcore/inference";
import { FakeBackend, FakeModel } from "./support/fake-backend.js";

afterEach(() => resetRegistry());

function trainable(model: FakeModel): TrainableModel {
  return Object.assign(model, {
    applyLoRA: () => ok({ totalParams: () => 1, save: async () => ok() }),
    encode: (t: string) => [...t].map((c) => c.codePointAt(0)!),
    decode: (ids: readonly number[]) => String.fromCodePoint(...ids),
    numLayers: () => 1,
    loss: async () => ok({ value: 1, tokens: 1 }),
    backward: async () => ok(),
    step: async () => ok(),
    zeroGrad: () => {},
  }) as unknown as TrainableModel;
}

describe("register / get / list / all", () => {
  it("registers and gets the same backend", () => {
    const b = new FakeBackend("cpu");
    register(b);
    expect(get("cpu")).toBe(b);
  });

  it("ignores null and undefined", () => {
    register(null);
    register(undefined);
    expect(list()).toEqual([]);
  });

  it("rejects a value without a string name with invalid_argument", () => {
    expect(() => register({} as Backend)).toThrowError(
      expect.objectContaining({ code: "invalid_argument", message: "inference.register: a backend must be an object with a string name" }),
    );
  });

  it("overwrites by name, keeping the count", () => {
    register(new FakeBackend("cpu", { available: false }));
    const second = new FakeBackend("cpu", { available: true });
    register(second);
    expect(list()).toEqual(["cpu"]);
    expect(get("cpu")).toBe(second);
    expect(get("cpu")!.available()).toBe(true);
  });

  it("get of a missing name is undefined; the empty name is allowed", () => {
    expect(get("missing")).toBeUndefined();
    const b = new FakeBackend("");
    register(b);
    expect(get("")).toBe(b);
  });

  it("list is sorted, [] when empty, and a fresh array each call", () => {
    expect(list()).toEqual([]);
    for (const n of ["zeta", "alpha", "metal"]) register(new FakeBackend(n));
    const first = list();
    expect(first).toEqual(["alpha", "metal", "zeta"]);
    first.push("mutated");
    expect(list()).toEqual(["alpha", "metal", "zeta"]);
  });

  it("all is a sorted snapshot, empty when empty, re-iterable, and breaks early", () => {
    expect([...all()]).toEqual([]);
    for (const n of ["b", "c", "a"]) register(new FakeBackend(n));
    const snap = all();
    register(new FakeBackend("d"));
    expect([...snap].map(([n]) => n)).toEqual(["a", "b", "c"]);
    expect([...snap].map(([n]) => n)).toEqual(["a", "b", "c"]);
    let seen = 0;
    for (const _ of all()) {
      seen++;
      break;
    }
    expect(seen).toBe(1);
  });

  it("unregister removes one backend", () => {
    register(new FakeBackend("a"));
    expect(unregister("a")).toBe(true);
    expect(unregister("a")).toBe(false);
    expect(list()).toEqual([]);
  });

  it("shares one registry per realm through globalThis", () => {
    register(new FakeBackend("shared"));
    const map = (globalThis as unknown as Record<symbol, Map<string, Backend>>)[Symbol.for("@dappcore/inference/registry")];
    expect([...map.keys()]).toEqual(["shared"]);
  });
});

describe("defaultBackend", () => {
  const pick = () => {
    const r = defaultBackend();
    return r.ok ? r.value.name : r.error.code;
  };

  it("prefers metal, then rocm, then cuda, then llama_cpp", () => {
    const avail = { metal: true, rocm: true, cuda: true, llama_cpp: true };
    for (const n of ["llama_cpp", "cuda", "rocm", "metal"] as const) {
      register(new FakeBackend(n, { available: () => avail[n] }));
    }
    register(new FakeBackend("aaa"));
    expect(pick()).toBe("metal");
    avail.metal = false;
    expect(pick()).toBe("rocm");
    avail.rocm = false;
    expect(pick()).toBe("cuda");
    avail.cuda = false;
    expect(pick()).toBe("llama_cpp");
    avail.llama_cpp = false;
    expect(pick()).toBe("aaa");
  });

  it("with only custom backends, picks the first available by name, whatever the registration order", () => {
    register(new FakeBackend("zeta"));
    register(new FakeBackend("alpha"));
    expect(pick()).toBe("alpha");
    resetRegistry();
    register(new FakeBackend("custom_b"));
    register(new FakeBackend("custom_a", { available: false }));
    expect(pick()).toBe("custom_b");
  });

  it("treats an available() that throws as unavailable", () => {
    register(new FakeBackend("metal", { available: () => { throw new Error("driver crashed"); } }));
    register(new FakeBackend("cpu"));
    expect(pick()).toBe("cpu");
  });

  it("fails with no_backends_registered when empty", () => {
    const r = defaultBackend();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(InferenceError);
    expect(r.error.code).toBe("no_backends_registered");
    expect(r.error.message).toBe("inference.defaultBackend: no backends registered");
  });

  it("fails with no_backends_available when none is available", () => {
    register(new FakeBackend("metal", { available: false }));
    register(new FakeBackend("cpu", { available: false }));
    const r = defaultBackend();
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("no_backends_available");
    expect(r.error.message).toBe("inference.defaultBackend: no backends available");
    expect(r.error.details).toEqual({ registered: ["cpu", "metal"] });
  });
});

describe("loadModel", () => {
  it("uses the default backend, which receives the path", async () => {
    const metal = new FakeBackend("metal");
    register(metal);
    register(new FakeBackend("cpu"));
    const r = await loadModel("/models/x");
    expect(r.ok).toBe(true);
    expect(metal.loads.map((l) => l.path)).toEqual(["/models/x"]);
  });

  it("a pin selects that backend even when metal is registered, and forwards the same options", async () => {
    const metal = new FakeBackend("metal");
    const rocm = new FakeBackend("rocm");
    register(metal);
    register(rocm);
    const opts = [withBackend("rocm"), withContextLen(128), { gpuLayers: 0 }];
    const r = await loadModel("", ...opts);
    expect(r.ok).toBe(true);
    expect(metal.loads).toEqual([]);
    expect(rocm.loads).toHaveLength(1);
    expect(rocm.loads[0]!.path).toBe("");
    expect(rocm.loads[0]!.opts).toHaveLength(3);
    expect(rocm.loads[0]!.opts.every((o, i) => o === opts[i])).toBe(true);
    const reapplied = applyLoadOpts(rocm.loads[0]!.opts);
    expect(reapplied).toEqual(applyLoadOpts(opts));
    expect(reapplied.backend).toBe("rocm");
  });

  it("returns the defaultBackend failures as they are", async () => {
    let r = await loadModel("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("no_backends_registered");
    expect(r.error.message).toBe("inference.defaultBackend: no backends registered");
    register(new FakeBackend("cpu", { available: false }));
    r = await loadModel("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("no_backends_available");
    expect(r.error.message).toBe("inference.defaultBackend: no backends available");
  });

  it("a pinned backend that is not registered names it and lists what is registered", async () => {
    let r = await loadModel("/m", withBackend("rocm"));
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("backend_not_registered");
    expect(r.error.message).toBe('inference.loadModel: backend "rocm" not registered (no backends are registered)');
    register(new FakeBackend("metal"));
    register(new FakeBackend("cpu"));
    r = await loadModel("/m", { backend: "rocm" });
    if (r.ok) throw new Error("expected failure");
    expect(r.error.message).toBe('inference.loadModel: backend "rocm" not registered (registered: cpu, metal)');
    expect(r.error.details).toEqual({ backend: "rocm", registered: ["cpu", "metal"] });
  });

  it("a pinned backend that is unavailable fails with backend_unavailable", async () => {
    register(new FakeBackend("rocm", { available: false }));
    const r = await loadModel("/m", withBackend("rocm"));
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("backend_unavailable");
    expect(r.error.message).toBe('inference.loadModel: backend "rocm" not available on this hardware (registered: rocm)');
  });

  it("an invalid option fails with invalid_argument before any backend is called", async () => {
    const b = new FakeBackend("cpu");
    register(b);
    const r = await loadModel("/m", withGPULayers(-2));
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("invalid_argument");
    expect(r.error.message).toBe("inference.withGPULayers: gpuLayers must be an integer >= -1, got -2");
    expect(b.loads).toEqual([]);
  });

  it("wraps a backend failure as model_load_failed with the cause, pinned or not", async () => {
    const cause = new InferenceError({ code: "internal", op: "cpu.loadModel", message: "disk on fire" });
    register(new FakeBackend("cpu", { load: () => fail(cause) }));
    for (const opts of [[], [withBackend("cpu")]]) {
      const r = await loadModel("/m", ...opts);
      if (r.ok) throw new Error("expected failure");
      expect(r.error.code).toBe("model_load_failed");
      expect(r.error.op).toBe("inference.loadModel");
      expect(r.error.message).toBe('inference.loadModel: backend "cpu" failed to load model: cpu.loadModel: disk on fire');
      expect(r.error.cause).toBe(cause);
    }
  });

  it("keeps a more specific cause code (invalid_model, unsupported)", async () => {
    for (const code of ["invalid_model", "unsupported"] as const) {
      resetRegistry();
      register(new FakeBackend("cpu", {
        load: () => fail(new InferenceError({ code, op: "cpu.loadModel", message: "bad config.json" })),
      }));
      const r = await loadModel("/m");
      if (r.ok) throw new Error("expected failure");
      expect(r.error.code).toBe(code);
      expect(r.error.message).toBe('inference.loadModel: backend "cpu" failed to load model: cpu.loadModel: bad config.json');
    }
  });

  it("catches a backend that throws instead of returning a Result", async () => {
    register(new FakeBackend("cpu", { load: () => { throw new TypeError("oops"); } }));
    const r = await loadModel("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("model_load_failed");
    expect(r.error.message).toBe(
      'inference.loadModel: backend "cpu" failed to load model: cpu.loadModel: unexpected failure: oops',
    );
  });

  it("rejects a nil model, a malformed result and a non-model value", async () => {
    const cases: [unknown, string][] = [
      [ok(undefined), 'inference.loadModel: backend "cpu" returned a nil model'],
      [ok(null), 'inference.loadModel: backend "cpu" returned a nil model'],
      [undefined, 'inference.loadModel: backend "cpu" returned a malformed result'],
      [{ value: 1 }, 'inference.loadModel: backend "cpu" returned a malformed result'],
      [ok({ generate() {} }), 'inference.loadModel: backend "cpu" returned a value that is not a TextModel'],
    ];
    for (const [answer, message] of cases) {
      resetRegistry();
      register(new FakeBackend("cpu", { load: () => answer as never }));
      const r = await loadModel("/m");
      if (r.ok) throw new Error("expected failure");
      expect(r.error.code).toBe("model_load_failed");
      expect(r.error.message).toBe(message);
    }
  });

  it("stays consistent under interleaved async use", async () => {
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 70; i++) {
      const name = `b${i % 7}`;
      work.push(Promise.resolve().then(() => register(new FakeBackend(name))));
      work.push(Promise.resolve().then(() => list()));
      work.push(Promise.resolve().then(() => get(name)));
      work.push(Promise.resolve().then(() => defaultBackend()));
      work.push(loadModel("/m", withBackend("b0")));
    }
    await Promise.all(work);
    expect(list()).toEqual(["b0", "b1", "b2", "b3", "b4", "b5", "b6"]);
    const r = defaultBackend();
    expect(r.ok && r.value.name).toBe("b0");
  });
});

describe("loadTrainable", () => {
  function trainingBackend(name: string, make: (path: string) => FakeModel | TrainableModel, available = true) {
    const b = new FakeBackend(name, { available });
    b.loadTrainable = async (path) => ok(make(path) as TrainableModel);
    return b;
  }

  it("returns a trainable model", async () => {
    register(trainingBackend("cpu", (p) => trainable(new FakeModel(p))));
    const r = await loadTrainable("/m");
    expect(r.ok).toBe(true);
    if (r.ok) expect(typeof r.value.backward).toBe("function");
  });

  it("works pinned and skips an unavailable backend when unpinned", async () => {
    register(trainingBackend("metal", (p) => trainable(new FakeModel(p)), false));
    register(trainingBackend("cpu", (p) => trainable(new FakeModel(p))));
    expect((await loadTrainable("/m")).ok).toBe(true);
    expect((await loadTrainable("/m", withBackend("cpu"))).ok).toBe(true);
    const r = await loadTrainable("/m", withBackend("metal"));
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("backend_unavailable");
    expect(r.error.message).toBe('inference.loadTrainable: backend "metal" not available on this hardware (registered: cpu, metal)');
  });

  it("fails with no_backends_registered when empty", async () => {
    const r = await loadTrainable("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.message).toBe("inference.defaultBackend: no backends registered");
  });

  it("a backend without loadTrainable is unsupported", async () => {
    register(new FakeBackend("cpu"));
    const r = await loadTrainable("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("unsupported");
    expect(r.error.message).toBe('inference.loadTrainable: backend "cpu" does not support training');
  });

  it("closes a non-trainable model, then fails with unsupported", async () => {
    const model = new FakeModel("/m");
    register(trainingBackend("cpu", () => model));
    const r = await loadTrainable("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("unsupported");
    expect(r.error.message).toBe('inference.loadTrainable: backend "cpu" does not support training');
    expect(model.closeCalls).toBe(1);
  });

  it("reports a failed close of the non-trainable model", async () => {
    const model = new FakeModel("/m");
    model.closeResult = fail(new InferenceError({ code: "internal", op: "fake.close", message: "stuck" }));
    register(trainingBackend("cpu", () => model));
    const r = await loadTrainable("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.message).toBe("inference.loadTrainable: close non-trainable model: fake.close: stuck");
  });

  it("propagates a load error and a nil model, and catches a throw", async () => {
    const b = new FakeBackend("cpu");
    b.loadTrainable = async () => fail(new InferenceError({ code: "out_of_memory", op: "cpu.loadTrainable", message: "GPU out of memory" }));
    register(b);
    let r = await loadTrainable("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("out_of_memory");
    expect(r.error.message).toBe('inference.loadTrainable: backend "cpu" failed to load model: cpu.loadTrainable: GPU out of memory');
    b.loadTrainable = async () => ok(undefined as unknown as TrainableModel);
    r = await loadTrainable("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.message).toBe('inference.loadTrainable: backend "cpu" returned a nil model');
    b.loadTrainable = async () => { throw new Error("segfault"); };
    r = await loadTrainable("/m");
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("model_load_failed");
    expect(r.error.message).toBe(
      'inference.loadTrainable: backend "cpu" failed to load model: cpu.loadTrainable: unexpected failure: segfault',
    );
  });
});

describe("backendCaps", () => {
  it("returns the backend's capabilities, [] when unregistered", () => {
    const caps = [supportedCapability("model.load", "runtime"), supportedCapability("generate", "model")];
    register(new FakeBackend("cpu", { capabilities: caps }));
    expect(backendCaps("cpu")).toEqual(caps);
    expect(backendCaps("nope")).toEqual([]);
  });

  it("infers model.load for a backend without capabilities(), and [] when it throws or is malformed", () => {
    register({ name: "bare", available: () => true, loadModel: async () => fail(new InferenceError({ code: "internal", op: "x", message: "x" })) } as unknown as Backend);
    expect(backendCaps("bare")).toEqual([{ id: "model.load", group: "runtime", status: "supported" }]);
    const broken = new FakeBackend("broken");
    broken.capabilities = () => { throw new Error("boom"); };
    register(broken);
    expect(backendCaps("broken")).toEqual([]);
    const odd = new FakeBackend("odd");
    odd.capabilities = () => "generate" as never;
    register(odd);
    expect(backendCaps("odd")).toEqual([]);
  });
});
