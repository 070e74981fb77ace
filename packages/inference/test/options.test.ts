// Generate and load options: defaults, functional and object options mixed, last write wins, `explicit`, every
// out-of-range value failing with invalid_argument naming the option, and copies of stop lists.
import { describe, expect, it } from "vitest";
import {
  applyGenerateOpts,
  applyLoadOpts,
  defaultGenerateConfig,
  defaultLoRAConfig,
  newProbeBus,
  withAdapterPath,
  withBackend,
  withContextLen,
  withGPULayers,
  withLogits,
  withMaxTokens,
  withMinP,
  withParallelSlots,
  withProbeBus,
  withProgress,
  withRepeatPenalty,
  withSeed,
  withSignal,
  withStop,
  withStopTokens,
  withTemperature,
  withTopK,
  withTopP,
  type GenerateOption,
  type LoadOption,
} from "@dappcore/inference";

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    const err = e as { code: string; message: string };
    return { code: err.code, message: err.message };
  }
  throw new Error("expected a throw");
}

describe("generate options", () => {
  it("defaults: greedy, no cap, repeat penalty 1, nothing explicit; idempotent", () => {
    const d = defaultGenerateConfig();
    expect(d).toMatchObject({ maxTokens: 0, temperature: 0, topK: 0, topP: 0, minP: 0, seed: undefined, stopTokens: [], stop: [], repeatPenalty: 1, logits: false, signal: undefined });
    expect(d.explicit.size).toBe(0);
    expect(defaultGenerateConfig()).toEqual(d);
    for (const opts of [[], [null], [undefined, null]] as GenerateOption[][]) expect(applyGenerateOpts(opts)).toEqual(d);
  });

  it("each option sets only its own field and marks it explicit", () => {
    const signal = new AbortController().signal;
    const cases: [GenerateOption, string, unknown][] = [
      [withMaxTokens(5), "maxTokens", 5], [withTemperature(0.7), "temperature", 0.7], [withTopK(40), "topK", 40],
      [withTopP(0.9), "topP", 0.9], [withMinP(0.05), "minP", 0.05], [withSeed(42), "seed", 42],
      [withStopTokens(2, 7), "stopTokens", [2, 7]], [withStop("\n\n"), "stop", ["\n\n"]],
      [withRepeatPenalty(1.1), "repeatPenalty", 1.1], [withLogits(), "logits", true], [withSignal(signal), "signal", signal],
    ];
    const d = defaultGenerateConfig() as unknown as Record<string, unknown>;
    for (const [opt, field, value] of cases) {
      const cfg = applyGenerateOpts([opt]) as unknown as Record<string, unknown>;
      expect(cfg[field]).toEqual(value);
      expect([...(cfg.explicit as Set<string>)]).toEqual([field]);
      for (const k of Object.keys(d)) if (k !== field && k !== "explicit") expect(cfg[k]).toEqual(d[k]);
    }
  });

  it("mixes functions and objects in order; the last write wins", () => {
    const cfg = applyGenerateOpts([withMaxTokens(256), { temperature: 0.7, maxTokens: 10 }, withTemperature(0.2)]);
    expect(cfg.maxTokens).toBe(10);
    expect(cfg.temperature).toBe(0.2);
    expect([...cfg.explicit].sort()).toEqual(["maxTokens", "temperature"]);
  });

  it("an explicit zero is distinguishable from unset", () => {
    expect(applyGenerateOpts([withTemperature(0)]).explicit.has("temperature")).toBe(true);
    expect(applyGenerateOpts([]).explicit.has("temperature")).toBe(false);
    expect(applyGenerateOpts([{ temperature: undefined }]).explicit.has("temperature")).toBe(false);
  });

  it("copies stop tokens and stop strings; a later call replaces the list; no ids gives []", () => {
    const ids = [1, 2];
    const opt = withStopTokens(...ids);
    ids.push(3);
    expect(applyGenerateOpts([opt]).stopTokens).toEqual([1, 2]);
    const fromObject = [4];
    const cfg = applyGenerateOpts([{ stopTokens: fromObject }]);
    fromObject.push(5);
    expect(cfg.stopTokens).toEqual([4]);
    expect(applyGenerateOpts([withStopTokens(1), withStopTokens(9)]).stopTokens).toEqual([9]);
    expect(applyGenerateOpts([withStopTokens()]).stopTokens).toEqual([]);
    const strings = ["a"];
    const s = withStop(...strings);
    strings.push("b");
    expect(applyGenerateOpts([s]).stop).toEqual(["a"]);
  });

  it("fails with invalid_argument naming the option for each out-of-range value", () => {
    const cases: [GenerateOption, string][] = [
      [withMaxTokens(-1), "inference.withMaxTokens: maxTokens must be a non-negative integer, got -1"],
      [withMaxTokens(1.5), "inference.withMaxTokens: maxTokens must be a non-negative integer, got 1.5"],
      [withTemperature(-0.1), "inference.withTemperature: temperature must be a finite number >= 0, got -0.1"],
      [withTemperature(Number.NaN), "inference.withTemperature: temperature must be a finite number >= 0, got NaN"],
      [withTemperature(Number.POSITIVE_INFINITY), "inference.withTemperature: temperature must be a finite number >= 0, got Infinity"],
      [withTopK(-3), "inference.withTopK: topK must be a non-negative integer, got -3"],
      [withTopP(1.5), "inference.withTopP: topP must be a finite number in [0, 1], got 1.5"],
      [withMinP(-0.5), "inference.withMinP: minP must be a finite number in [0, 1], got -0.5"],
      [withSeed(-1), "inference.withSeed: seed must be a non-negative safe integer, got -1"],
      [withStopTokens(-2), "inference.withStopTokens: stop token ids must be non-negative integers, got -2"],
      [withStop(""), "inference.withStop: stop strings must be non-empty strings"],
      [withRepeatPenalty(0), "inference.withRepeatPenalty: repeatPenalty must be a finite number > 0, got 0"],
      [{ logits: "yes" as never }, "inference.withLogits: logits must be a boolean, got string"],
      [withSignal({} as AbortSignal), "inference.withSignal: signal must be an AbortSignal"],
      [42 as never, "inference.generate: an option must be a function or an object, got number"],
    ];
    for (const [opt, message] of cases) {
      expect(errorOf(() => applyGenerateOpts([opt]))).toEqual({ code: "invalid_argument", message });
    }
  });
});

describe("load options", () => {
  it("defaults: gpuLayers -1, everything else unset; null options ignored", () => {
    const cfg = applyLoadOpts([null, undefined]);
    expect(cfg).toMatchObject({ backend: "", contextLen: 0, gpuLayers: -1, parallelSlots: 0, adapterPath: "" });
    expect(cfg.explicit.size).toBe(0);
  });

  it("combines functions and objects; last write wins; backend-specific keys pass through", () => {
    const bus = newProbeBus();
    const progress = () => {};
    const opts: LoadOption[] = [
      withBackend("metal"), withContextLen(4096), withGPULayers(0), withParallelSlots(4), withAdapterPath("lora/"),
      withProbeBus(bus), withProgress(progress), { backend: "cpu", threads: 2 },
    ];
    const cfg = applyLoadOpts(opts);
    expect(cfg).toMatchObject({ backend: "cpu", contextLen: 4096, gpuLayers: 0, parallelSlots: 4, adapterPath: "lora/", threads: 2 });
    expect(cfg.probeBus).toBe(bus);
    expect(cfg.onProgress).toBe(progress);
    expect([...cfg.explicit].sort()).toEqual(
      ["adapterPath", "backend", "contextLen", "gpuLayers", "onProgress", "parallelSlots", "probeBus", "threads"],
    );
    expect(applyLoadOpts([withContextLen(8)])).toMatchObject({ contextLen: 8, gpuLayers: -1 });
  });

  it("fails with invalid_argument naming the option for each bad value", () => {
    const cases: [LoadOption, string][] = [
      [{ backend: 3 as never }, "inference.withBackend: backend must be a string, got number"],
      [withContextLen(-1), "inference.withContextLen: contextLen must be a non-negative integer, got -1"],
      [withGPULayers(-2), "inference.withGPULayers: gpuLayers must be an integer >= -1, got -2"],
      [withParallelSlots(0.5), "inference.withParallelSlots: parallelSlots must be a non-negative integer, got 0.5"],
      [{ adapterPath: 1 as never }, "inference.withAdapterPath: adapterPath must be a string"],
      [{ onProgress: 1 as never }, "inference.load: onProgress must be a function"],
      [{ signal: {} as never }, "inference.load: signal must be an AbortSignal"],
      ["x" as never, "inference.load: an option must be a function or an object, got string"],
    ];
    for (const [opt, message] of cases) {
      expect(errorOf(() => applyLoadOpts([opt]))).toEqual({ code: "invalid_argument", message });
    }
  });
});

describe("defaultLoRAConfig", () => {
  it("is rank 8, alpha 16, q_proj and v_proj, with a fresh array each call", () => {
    const a = defaultLoRAConfig();
    expect(a).toEqual({ rank: 8, alpha: 16, targetKeys: ["q_proj", "v_proj"] });
    (a.targetKeys as string[]).push("o_proj");
    expect(defaultLoRAConfig().targetKeys).toEqual(["q_proj", "v_proj"]);
  });
});
