// The kit's own error paths: option validation, loaders that fail, exercisers, coverage as data, and the stream
// drain that keeps a runaway backend from hanging the suite.
import { describe, expect, it } from "vitest";
import { InferenceError, type LoadOption, type Token, fail, supportedCapability } from "@dappcore/inference";
import {
  CONTRACT_CHECK_IDS,
  ContractViolation,
  capabilityCoverage,
  contractCheck,
  contractChecks,
  drainStream,
  isContractViolation,
  planBackendContract,
  prepareContractOptions,
  resolveContractOptions,
  runCapabilityExerciser,
  runContractCheck,
} from "@dappcore/inference-testing";
import { scriptedLoader } from "./scripted-backend.js";

const load = scriptedLoader();

describe("resolveContractOptions", () => {
  it("fills the documented defaults", () => {
    const r = resolveContractOptions({ name: "x", load });
    expect(r.prompt).toBe("The quick brown fox");
    expect(r.prompts).toEqual(["The quick brown fox", "Hello", "One two three"]);
    expect(r.chatMessages).toEqual([{ role: "user", content: "hi" }]);
    expect(r.maxTokens).toBe(8);
    expect([r.seed, r.temperature]).toEqual([1234, 0.8]);
    expect(r.generateOptions).toEqual([]);
    expect(r.skip).toEqual({});
    expect(r.backend).toBeUndefined();
  });

  const bad: [string, Record<string, unknown>, string][] = [
    ["an empty name", { name: " " }, "unnamed backend contract, check options: name must be a non-empty string"],
    ["a missing loader", { load: undefined }, "t contract, check options: load must be a function that loads a fresh model"],
    ["an empty prompt", { prompt: "" }, "t contract, check options: prompt must be a non-empty string"],
    ["two prompts", { prompts: ["a", "b"] }, "t contract, check options: prompts must be at least 3 non-empty strings"],
    ["no chat messages", { chatMessages: [] }, "t contract, check options: chatMessages must be a non-empty array"],
    ["maxTokens 3", { maxTokens: 3 }, "t contract, check options: maxTokens must be an integer in [4, 64], got 3"],
    ["a negative seed", { sampling: { seed: -1 } }, "t contract, check options: sampling.seed must be a non-negative integer, got -1"],
    ["temperature 0", { sampling: { temperature: 0 } }, "t contract, check options: sampling.temperature must be a finite number > 0, got 0"],
    ["a non-function exerciser", { exercisers: { x: 1 } }, 't contract, check options: exercisers["x"] must be a function'],
    ["an unknown skip", { skip: { nope: "r" } }, `t contract, check options: skip names unknown check "nope"; known checks: ${CONTRACT_CHECK_IDS.join(", ")}`],
    ["a skip without reason", { skip: { abort: "  " } }, 't contract, check options: skip["abort"] must state a reason'],
    ["timeoutMs 0", { timeoutMs: 0 }, "t contract, check options: timeoutMs must be a positive number, got 0"],
  ];
  it.each(bad)("rejects %s", (_what, patch, message) => {
    const call = () => resolveContractOptions({ name: "t", load, ...patch } as never);
    expect(call).toThrow(ContractViolation);
    expect(call).toThrow(message);
  });

  it("rejects bad options through runContractCheck too", async () => {
    await expect(runContractCheck("info", { name: "t", load, maxTokens: 100 })).rejects.toThrow(
      "t contract, check options: maxTokens must be an integer in [4, 64], got 100",
    );
  });
});

describe("loading", () => {
  it("a failed load Result is a violation carrying the backend's error", async () => {
    const error = new InferenceError({ code: "invalid_model", op: "scripted.loadModel", message: "no config.json" });
    const failure = await runContractCheck("info", { name: "broken", load: async () => fail(error) }).catch((e) => e);
    expect(isContractViolation(failure)).toBe(true);
    expect(failure.message).toBe(
      'broken contract, check info: load failed: InferenceError [invalid_model] "scripted.loadModel: no config.json"',
    );
    expect(failure.cause).toBe(error);
  });

  it("a loader that throws is a violation", async () => {
    await expect(
      runContractCheck("info", { name: "broken", load: async () => { throw new Error("disk on fire"); } }),
    ).rejects.toThrow('broken contract, check info: load threw Error "disk on fire"');
  });

  it("a loader that gives something else than a model is a violation", async () => {
    await expect(runContractCheck("info", { name: "broken", load: async () => ({}) as never })).rejects.toThrow(
      "broken contract, check info: load did not produce a TextModel",
    );
  });

  it("a backend whose capabilities() throws is a violation", async () => {
    const backend = { name: "b", available: () => true, loadModel: async () => fail(undefined as never), capabilities: () => { throw new Error("no list"); } };
    await expect(runContractCheck("capability-coverage", { name: "caps", load, backend })).rejects.toThrow(
      'caps contract, check capability-coverage: backend.capabilities() threw Error "no list"',
    );
  });

  it("a malformed capability is a violation", async () => {
    const malformed = scriptedLoader({ capabilities: [{ id: 7 } as never] });
    await expect(runContractCheck("capability-coverage", { name: "caps", load: malformed })).rejects.toThrow(
      "caps contract, check capability-coverage: the model's capabilities returned a malformed capability: {\"id\":7}",
    );
  });
});

describe("exercisers", () => {
  it("runs the caller's exerciser with a fresh model and passes", async () => {
    const seen: string[] = [];
    const outcome = await runCapabilityExerciser("kv.snapshot", {
      name: "ex",
      load,
      exercisers: { "kv.snapshot": async (model) => void seen.push(model.modelType()) },
    });
    expect(outcome).toEqual({ status: "passed" });
    expect(seen).toEqual(["scripted"]);
  });

  it("wraps an exerciser's failure in a violation of check exerciser:<id>", async () => {
    const boom = new Error("snapshot lost");
    const failure = await runCapabilityExerciser("kv.snapshot", {
      name: "ex",
      load,
      exercisers: { "kv.snapshot": async () => { throw boom; } },
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(ContractViolation);
    expect(failure.check).toBe("exerciser:kv.snapshot");
    expect(failure.message).toBe('ex contract, check exerciser:kv.snapshot: the exerciser for "kv.snapshot" failed: Error "snapshot lost"');
    expect(failure.cause).toBe(boom);
  });

  it("fails for a capability without an exerciser", async () => {
    await expect(runCapabilityExerciser("lora.inference", { name: "ex", load })).rejects.toThrow(
      'ex contract, check exerciser:lora.inference: no exerciser for capability "lora.inference"',
    );
  });
});

describe("capabilityCoverage", () => {
  it("treats model.load as exercised by loading and reports the rest", () => {
    const coverage = capabilityCoverage(contractChecks, { skip: {}, exercisers: { "lora.inference": async () => {} } },
      new Set(["model.load", "generate", "lora.inference", "quantization", "embeddings"]));
    expect(coverage).toEqual({ missing: ["embeddings", "quantization"], blocked: [] });
  });

  it("every check id is listed once, in order, and contractCheck finds it", () => {
    expect(contractChecks.map((c) => c.id)).toEqual([...CONTRACT_CHECK_IDS]);
    for (const id of CONTRACT_CHECK_IDS) expect(contractCheck(id).id).toBe(id);
    expect(() => contractCheck("nope" as never)).toThrow('contract contract, check options: unknown check "nope"');
  });

  it("the claimed base capabilities of a model without its own list are all covered", async () => {
    const backend = { name: "b", available: () => true, loadModel: (_path: string, ...opts: LoadOption[]) => load(...opts), capabilities: () => [supportedCapability("model.load", "runtime")] };
    await expect(runContractCheck("capability-coverage", { name: "base", load, backend })).resolves.toEqual({ status: "passed" });
  });
});

describe("drainStream", () => {
  async function* endless(): AsyncGenerator<Token> {
    for (let i = 0; ; i++) yield { id: i % 3, text: "x" };
  }

  it("stops reading one token past the cap and marks the overflow", async () => {
    const run = await drainStream(endless, 5);
    expect(run.tokens).toHaveLength(6);
    expect(run.overflow).toBe(true);
    expect(run.error).toBeUndefined();
  });

  it("captures a synchronous throw instead of crashing", async () => {
    const boom = new Error("sync");
    const run = await drainStream(() => { throw boom; }, 5);
    expect(run).toEqual({ tokens: [], error: boom, overflow: false, threwSynchronously: true });
  });
});

describe("planBackendContract", () => {
  const backend = {
    name: "b",
    available: () => true,
    loadModel: (_path: string, ...opts: LoadOption[]) => load(...opts),
    capabilities: () => [supportedCapability("model.load", "runtime"), supportedCapability("request.cancel", "runtime")],
  };

  it("plans one test per check, then one per exerciser", () => {
    const plan = planBackendContract(prepareContractOptions({ name: "p", load, exercisers: { "kv.snapshot": async () => {} } }));
    expect(plan.map((t) => t.kind)).toEqual([...CONTRACT_CHECK_IDS.map(() => "check"), "exerciser"]);
    expect(plan.at(-1)).toEqual({ kind: "exerciser", title: "exerciser: kv.snapshot", capability: "kv.snapshot" });
  });

  it("shows a skip's reason in its title", () => {
    const plan = planBackendContract(prepareContractOptions({ name: "p", load, skip: { metrics: "no clock here" } }));
    expect(plan.find((t) => t.kind !== "exerciser" && t.check === "metrics")).toEqual({
      kind: "skipped",
      title: "metrics() after a completed generate: counts match, durations and rates finite and >= 0 (skipped: no clock here)",
      check: "metrics",
      reason: "no clock here",
    });
  });

  it("turns a skip of a check whose capability the backend claims into a failing test", () => {
    const plan = planBackendContract(prepareContractOptions({ name: "p", load, backend, skip: { abort: "flaky" } }));
    const test = plan.find((t) => t.kind !== "exerciser" && t.check === "abort");
    expect(test?.kind).toBe("blocked-skip");
    expect(test?.kind === "blocked-skip" && test.violation.message).toBe(
      'p contract, check abort: is skipped (flaky) but exercises claimed capabilities "request.cancel"; claimed capabilities are never skipped',
    );
  });
});
