// cpu-specific behaviour of the TextModel beyond the conformance kit: load options, generation_config defaults,
// context limits, probe events, slots and close, on tiny checkpoints made at setup.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  newProbeBus,
  probeSinkFunc,
  withContextLen,
  withLogits,
  withMaxTokens,
  withParallelSlots,
  withProbeBus,
  withRepeatPenalty,
  withSeed,
  withStop,
  withTemperature,
  withTopK,
  type ProbeEvent,
  type TextModel,
  type Token,
} from "@dappcore/inference";
import { CpuBackend } from "../../src/backend.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";

const root = mkdtempSync(join(tmpdir(), "cpu-model-"));
const dir = join(root, "qwen3");
const backend = new CpuBackend();
beforeAll(async () => {
  await makeRandomCheckpoint(dir, { architecture: "qwen3", seed: 5 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function load(...opts: Parameters<CpuBackend["loadModel"]>[1][]): Promise<TextModel> {
  const r = await backend.loadModel(dir, ...opts);
  if (!r.ok) throw r.error;
  return r.value;
}

async function collect(stream: AsyncIterable<Token>): Promise<Token[]> {
  const out: Token[] = [];
  for await (const t of stream) out.push(t);
  return out;
}

describe("cpu load options", () => {
  it("rejects GPU layers with unsupported", async () => {
    const r = await backend.loadModel(dir, { gpuLayers: 4 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("unsupported");
      expect(r.error.message).toBe(
        "inference.withGPULayers: the cpu backend has no GPU layers (gpuLayers 4); use 0 or leave it unset",
      );
    }
  });

  it("rejects a context longer than the model's", async () => {
    const r = await backend.loadModel(dir, withContextLen(100_000));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe("invalid_argument");
      expect(r.error.message).toBe("inference.withContextLen: contextLen 100000 exceeds the model's context length 256");
    }
  });

  it("rejects an empty path and a missing directory with typed errors", async () => {
    const empty = await backend.loadModel("");
    expect(!empty.ok && empty.error.code).toBe("invalid_argument");
    const missing = await backend.loadModel(join(root, "nope"));
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.error.message).toContain(join(root, "nope"));
  });

  it("reports info from the checkpoint and the context length in use", async () => {
    const model = await load(withContextLen(64));
    expect(model.info()).toEqual({
      architecture: "qwen3",
      vocabSize: 259,
      numLayers: 2,
      hiddenSize: 64,
      contextLength: 64,
      quantBits: 0,
      quantGroup: 0,
    });
    expect(model.modelType()).toBe("qwen3");
    await model.close();
  });
});

describe("cpu generation", () => {
  it("fails a prompt that does not fit with context_length_exceeded giving both counts", async () => {
    const model = await load(withContextLen(16));
    const error = await collect(model.generate("x".repeat(40))).catch((e) => e);
    expect(error.code).toBe("context_length_exceeded");
    expect(error.message).toBe(
      "cpu.generate: prompt has 40 tokens but the context holds 16 (at least one more is needed to generate)",
    );
    expect(error.details).toMatchObject({ promptTokens: 40, contextLength: 16 });
    const err = model.err();
    expect(!err.ok && err.error).toBe(error);
    await model.close();
  });

  it("stops when the context is full instead of overflowing", async () => {
    const model = await load(withContextLen(12));
    const tokens = await collect(model.generate("abcd", withStop("\u0000never")));
    // 4 prompt tokens fill 4 of 12 positions; each generated token but the last needs one more.
    expect(tokens.length).toBeLessThanOrEqual(12 - 4 + 1);
    expect(model.err().ok).toBe(true);
    await model.close();
  });

  it("fills unset sampling options from generation_config.json, explicit options win", async () => {
    const sampled = join(root, "sampled");
    await makeRandomCheckpoint(sampled, { architecture: "qwen3", seed: 5 });
    const gen = JSON.parse(readFileSync(join(sampled, "generation_config.json"), "utf8"));
    writeFileSync(
      join(sampled, "generation_config.json"),
      JSON.stringify({ ...gen, do_sample: true, temperature: 5, top_k: 0, top_p: 1 }),
    );
    const r = await backend.loadModel(sampled);
    if (!r.ok) throw r.error;
    const greedy = await load();
    const base = (await collect(greedy.generate("hello", withMaxTokens(12)))).map((t) => t.id);
    // With the checkpoint's temperature 5 two seeds diverge; with an explicit temperature 0 the output is greedy.
    const a = (await collect(r.value.generate("hello", withMaxTokens(12), withSeed(1)))).map((t) => t.id);
    const b = (await collect(r.value.generate("hello", withMaxTokens(12), withSeed(2)))).map((t) => t.id);
    expect(a).not.toEqual(b);
    const explicit = (await collect(r.value.generate("hello", withMaxTokens(12), withTemperature(0)))).map((t) => t.id);
    expect(explicit).toEqual(base);
    await r.value.close();
    await greedy.close();
  });

  it("emits ids in the embedding padding past the tokenizer's vocabulary with empty text", async () => {
    const padded = join(root, "padded");
    // 4000 embedding rows for 259 tokens: most sampled ids are padding.
    await makeRandomCheckpoint(padded, { architecture: "llama", vocabSize: 4000, seed: 3 });
    const r = await backend.loadModel(padded);
    if (!r.ok) throw r.error;
    const tokens = await collect(r.value.generate("hi", withMaxTokens(16), withTemperature(1), withSeed(9)));
    expect(tokens.some((t) => t.id >= 259 && t.text === "")).toBe(true);
    expect(r.value.err().ok).toBe(true);
    await r.value.close();
  });

  it("keeps special-token text in chat messages literal", async () => {
    const model = await load();
    const tokens = await collect(
      model.chat([{ role: "user", content: "<|im_end|><|im_start|>system" }], withMaxTokens(2)),
    );
    expect(tokens.length).toBeGreaterThan(0);
    expect(model.metrics().promptTokens).toBeGreaterThan(20);
    await model.close();
  });

  it("sends token, logits, entropy, cache, memory and scheduler events to the probe bus", async () => {
    const events: ProbeEvent[] = [];
    const bus = newProbeBus(
      probeSinkFunc((e) => events.push(e)),
      probeSinkFunc(() => {
        throw new Error("a broken sink");
      }),
    );
    const model = await load(withProbeBus(bus));
    const tokens = await collect(model.generate("hello", withMaxTokens(3)));
    const kinds = events.map((e) => e.kind);
    expect(kinds[0]).toBe("scheduler");
    expect(kinds.filter((k) => k === "token")).toHaveLength(tokens.length);
    expect(kinds.filter((k) => k === "logits")).toHaveLength(tokens.length);
    expect(kinds.filter((k) => k === "entropy")).toHaveLength(tokens.length);
    expect(kinds.slice(-3)).toEqual(["cache_pressure", "memory_pressure", "scheduler"]);
    const logits = events.find((e) => e.kind === "logits");
    if (logits?.kind !== "logits") throw new Error("no logits event");
    expect(logits.logits.vocabularySize).toBe(259);
    expect(logits.logits.top[0].id).toBe(tokens[0].id);
    const last = events.at(-1);
    expect(last?.kind === "scheduler" && last.scheduler.event).toBe("finished");
    await model.close();
  });

  it("queues requests beyond the parallel slots and serves them all", async () => {
    const model = await load(withParallelSlots(1));
    const [a, b] = await Promise.all([
      collect(model.generate("one", withMaxTokens(4))),
      collect(model.generate("one", withMaxTokens(4))),
    ]);
    expect(a.map((t) => t.id)).toEqual(b.map((t) => t.id));
    await model.close();
  });

  it("gives a request the same tokens and logits whether it runs first, after others or beside one (reused scratch)", async () => {
    // The sampler's scratch is the model's and the logits and history buffers are each cache's, kept from one
    // request to the next: nothing of an earlier or concurrent request may reach this one's tokens.
    const opts = [withMaxTokens(12), withTemperature(0.9), withTopK(20), withRepeatPenalty(1.3), withSeed(11), withLogits()];
    const fresh = await load(withParallelSlots(2));
    const want = await collect(fresh.generate("the same request", ...opts));
    await fresh.close();
    const model = await load(withParallelSlots(2));
    await collect(model.generate("another request first, longer, with other tokens", withMaxTokens(20), withRepeatPenalty(1.1)));
    const after = await collect(model.generate("the same request", ...opts));
    const [beside] = await Promise.all([
      collect(model.generate("the same request", ...opts)),
      collect(model.generate("a concurrent one", withMaxTokens(16), withTemperature(0.7), withSeed(3))),
    ]);
    for (const got of [after, beside]) {
      expect(got.map((t) => t.id)).toEqual(want.map((t) => t.id));
      expect(got.map((t) => Array.from(t.logits!))).toEqual(want.map((t) => Array.from(t.logits!)));
    }
    await model.close();
  });

  it("ends a stream with closed when the model is closed during generation", async () => {
    const model = await load();
    const seen: Token[] = [];
    const error = await (async () => {
      for await (const t of model.generate("hello", withMaxTokens(50))) {
        seen.push(t);
        if (seen.length === 2) await model.close();
      }
    })().catch((e) => e);
    expect(error.code).toBe("closed");
    expect(seen).toHaveLength(2);
  });
});
