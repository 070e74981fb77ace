// CpuTrainableModel: LoRA training lowers the loss and the saved adapter reproduces the trained model's logits through
// withAdapterPath; full training saved with saveWeights reloads with loadModel; gradient accumulation equals one
// batch; resuming from saveTrainingState continues identically; probe events; and every error path.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newProbeBus, probeSinkFunc, withAdapterPath, withProbeBus, type LoadOption, type ProbeEvent, type Result } from "@dappcore/inference";
import { CpuBackend } from "../../src/backend.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import type { CpuTrainableModel } from "../../src/training/cpu-trainable-model.js";
import { readTrainingState } from "../../src/training/cpu-trainable-state.js";
import { maxDiff, promptLogits, writeRandomAdapter } from "../adapters/lora-helpers.js";

const root = mkdtempSync(join(tmpdir(), "cpu-trainable-"));
const modelDir = join(root, "model");
const backend = new CpuBackend();
const TEXT = "abcabcabcabcabcabcabcab";

beforeAll(async () => {
  await makeRandomCheckpoint(modelDir, { architecture: "llama", seed: 6, hiddenSize: 32, intermediateSize: 64, numHeads: 4, numKVHeads: 2, numLayers: 2 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function trainable(...opts: LoadOption[]): Promise<CpuTrainableModel> {
  const r = await backend.loadTrainable(modelDir, { threads: 1 }, ...opts);
  if (!r.ok) throw r.error;
  return r.value as CpuTrainableModel;
}

function value<T>(r: Result<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

/** One optimiser step on `batch`; returns the loss before it. */
async function trainStep(m: CpuTrainableModel, batch: { tokens: number[][]; lossMask?: number[][] }): Promise<number> {
  const loss = value(await m.loss(batch));
  value(await m.backward(loss));
  value(await m.step());
  return loss.value;
}

function errorOf<T>(r: Result<T>): { code: string; message: string } {
  expect(r.ok).toBe(false);
  if (r.ok) throw new Error("expected a failure");
  return { code: r.error.code, message: r.error.message };
}

describe("LoRA training", () => {
  it("lowers the loss; generation uses the trained adapter; the saved adapter reloads with withAdapterPath and reproduces the logits", async () => {
    const bus = newProbeBus();
    const events: ProbeEvent[] = [];
    bus.add(probeSinkFunc((e) => events.push(e)));
    const m = await trainable({ learningRate: 1e-2 }, withProbeBus(bus));
    const base = await promptLogits(m);
    const adapter = value(m.applyLoRA({ rank: 4, alpha: 8, targetKeys: ["q_proj", "k_proj", "v_proj", "o_proj"] }));
    expect(adapter.totalParams()).toBe(2 * (2 * (4 * 32 + 32 * 4) + 2 * (4 * 32 + 16 * 4))); // 2 layers: q, o (32 × 32) and k, v (16 × 32) at rank 4
    const batch = { tokens: [m.encode(TEXT).slice(0, 16)] };
    const losses: number[] = [];
    for (let i = 0; i < 8; i++) losses.push(await trainStep(m, batch));
    expect(losses[7]!).toBeLessThan(losses[0]! - 0.05);
    const trained = await promptLogits(m);
    expect(maxDiff(trained, base)).toBeGreaterThan(1e-3);
    expect(m.capabilities().find((c) => c.id === "lora.inference")?.detail).toContain("active: trained in memory (r=4, alpha=8, 8 modules)");
    expect(m.capabilities().find((c) => c.id === "lora.training")?.status).toBe("supported");

    const dir = join(root, "lora-adapter");
    value(await adapter.save(dir));
    const reloaded = value(await backend.loadModel(modelDir, withAdapterPath(dir), { threads: 1 }));
    expect(maxDiff(await promptLogits(reloaded), trained)).toBeLessThan(1e-5);
    await reloaded.close();

    const training = events.filter((e) => e.kind === "training");
    expect(training.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const first = training[0]!;
    expect(first.kind === "training" && first.training).toMatchObject({ epoch: 0, step: 1, learningRate: 1e-2 });
    expect(first.kind === "training" && first.training.loss).toBeCloseTo(losses[0]!, 6);
    await m.close();
  });

  it("loadTrainable with withAdapterPath trains on from that adapter (same logits at the start); applyLoRA then fails", async () => {
    const dir = join(root, "start-adapter");
    await writeRandomAdapter(modelDir, dir, { seed: 3 });
    const inference = value(await backend.loadModel(modelDir, withAdapterPath(dir), { threads: 1 }));
    const expected = await promptLogits(inference);
    await inference.close();
    const m = await trainable(withAdapterPath(dir), { learningRate: 1e-2 });
    expect(maxDiff(await promptLogits(m), expected)).toBeLessThan(1e-6);
    expect(errorOf(m.applyLoRA()).message).toMatch(/already attached/);
    await trainStep(m, { tokens: [m.encode(TEXT).slice(0, 12)] });
    expect(maxDiff(await promptLogits(m), expected)).toBeGreaterThan(1e-4);
    await m.close();
  });

  it("gradient accumulation equals one batch: the first AdamW moment (0.1·g) matches; unweighted micro-batches do not", async () => {
    const tokens = [Array.from({ length: 12 }, (_, i) => 40 + ((i * 7) % 20)), Array.from({ length: 12 }, (_, i) => 60 + ((i * 5) % 17))];
    // The second sequence counts 9 targets, the first 3: weighting matters.
    const lossMask = [[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1]];
    const moments = async (run: (m: CpuTrainableModel) => Promise<void>) => {
      const m = await trainable({ learningRate: 1e-3, maxGradNorm: 0 });
      value(m.applyLoRA({ rank: 2, targetKeys: ["q_proj", "v_proj", "down_proj"] }));
      // One step first so lora_B is non-zero and lora_A receives gradients too.
      await trainStep(m, { tokens: [tokens[0]!] });
      await run(m);
      const dir = join(root, `moments-${Math.random().toString(36).slice(2)}`);
      value(await m.saveTrainingState(dir));
      await m.close();
      const state = await readTrainingState(dir);
      return Float32Array.from(state.params.flatMap((p) => [...p.m]));
    };
    const one = await moments(async (m) => {
      value(await m.backward(value(await m.loss({ tokens, lossMask }))));
      value(await m.step());
    });
    const accumulated = await moments(async (m) => {
      for (let b = 0; b < 2; b++) value(await m.backward(value(await m.loss({ tokens: [tokens[b]!], lossMask: [lossMask[b]!] }))));
      value(await m.step());
    });
    const unweighted = await moments(async (m) => {
      for (let b = 0; b < 2; b++) value(await m.backward(value(await m.loss({ tokens: [tokens[b]!], lossMask: [lossMask[b]!] })), 0.5));
      value(await m.step());
    });
    const scale = Math.max(...one.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    expect(maxDiff(accumulated, one) / scale).toBeLessThan(1e-5);
    expect(maxDiff(unweighted, one) / scale).toBeGreaterThan(1e-2);
  });

  for (const dropout of [0, 0.3]) it(`resume from saveTrainingState continues identically to an uninterrupted run (LoRA dropout ${dropout})`, async () => {
    const batches = [TEXT.slice(0, 14), TEXT.slice(1, 15), TEXT.slice(2, 16)].map((t) => ({ tokens: [[...t].map((c) => c.charCodeAt(0))] }));
    const run = async (m: CpuTrainableModel, from: number, to: number) => {
      const out: number[] = [];
      for (let s = from; s < to; s++) {
        m.setLearningRate(1e-2 * (1 - s / 10));
        out.push(await trainStep(m, batches[s % 3]!));
      }
      return out;
    };
    const straight = await trainable({ seed: 9 });
    value(straight.applyLoRA({ rank: 4, dropout }));
    const all = await run(straight, 0, 6);
    await straight.close();

    const first = await trainable({ seed: 9 });
    value(first.applyLoRA({ rank: 4, dropout }));
    const head = await run(first, 0, 3);
    const dir = join(root, `resume-state-${dropout}`);
    value(await first.saveTrainingState(dir));
    await first.close();
    const second = await trainable({ seed: 1234 }); // another seed: everything comes from the state
    value(await second.loadTrainingState(dir));
    expect(second.stepCount()).toBe(3);
    const tail = await run(second, 3, 6);
    expect([...head, ...tail]).toEqual(all);
    await second.close();
    if (dropout > 0) {
      // Without the saved dropout position the masks differ, and so do the losses (the check above can fail).
      const state = JSON.parse(readFileSync(join(dir, "training-state.json"), "utf8"));
      expect(state.dropoutRng).toHaveLength(4);
      delete state.dropoutRng;
      writeFileSync(join(dir, "training-state.json"), JSON.stringify(state));
      const third = await trainable({ seed: 1234 });
      value(await third.loadTrainingState(dir));
      expect(await run(third, 3, 6)).not.toEqual(tail);
      await third.close();
    }
  });
});

describe("evalLoss", () => {
  it("is the loss without dropout and keeps no activations (a pending loss goes stale)", async () => {
    const plain = await trainable({ seed: 3 });
    value(plain.applyLoRA({ rank: 4 }));
    const dropped = await trainable({ seed: 3 });
    value(dropped.applyLoRA({ rank: 4, dropout: 0.3 }));
    const batch = { tokens: [plain.encode(TEXT).slice(0, 12), plain.encode(TEXT).slice(1, 13)], lossMask: [Array(12).fill(1), [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]] };
    const reference = value(await plain.loss(batch));
    for (const m of [plain, dropped]) {
      const pending = value(await m.loss(batch));
      const e = value(await m.evalLoss(batch));
      expect(e.tokens).toBe(11 + 8);
      expect(Math.abs(e.value - reference.value)).toBeLessThan(1e-5);
      expect(errorOf(await m.backward(pending)).message).toMatch(/stale/);
    }
    await plain.close();
    await dropped.close();
  });
});

describe("full fine-tuning", () => {
  it("lowers the loss; saveWeights writes a Hugging Face directory that loadModel reproduces (F32), and BF16 loads", async () => {
    const m = await trainable({ trainingMode: "full", learningRate: 3e-3 });
    const batch = { tokens: [m.encode(TEXT).slice(0, 16)] };
    const base = await promptLogits(m);
    const losses: number[] = [];
    for (let i = 0; i < 6; i++) losses.push(await trainStep(m, batch));
    expect(losses[5]!).toBeLessThan(losses[0]! - 0.05);
    const trained = await promptLogits(m); // the engine is rebuilt from the trained weights here
    expect(maxDiff(trained, base)).toBeGreaterThan(1e-3);
    const dir = join(root, "full-out");
    value(await m.saveWeights(dir));
    const reloaded = value(await backend.loadModel(dir, { threads: 1 }));
    expect(maxDiff(await promptLogits(reloaded), trained)).toBeLessThan(1e-5);
    await reloaded.close();
    const bf16 = join(root, "full-bf16");
    value(await m.saveWeights(bf16, { dtype: "BF16" }));
    const half = value(await backend.loadModel(bf16, { threads: 1 }));
    expect(maxDiff(await promptLogits(half), trained)).toBeLessThan(0.1);
    await half.close();
    // Streams run on the trained weights too.
    let n = 0;
    for await (const t of m.generate("abc", { maxTokens: 3 })) if (Number.isInteger(t.id)) n++;
    expect(n).toBe(3);
    await m.close();
  });
});

describe("errors", () => {
  it("backward of a stale loss, a foreign loss, a used loss, or mixing scales: invalid_argument", async () => {
    const m = await trainable();
    value(m.applyLoRA());
    const batch = { tokens: [m.encode(TEXT).slice(0, 8)] };
    const a = value(await m.loss(batch));
    const b = value(await m.loss(batch));
    const stale = /backward takes the most recent loss returned by loss\(\), once/;
    expect(errorOf(await m.backward(a))).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(stale) });
    expect(errorOf(await m.backward({ value: b.value, tokens: b.tokens })).message).toMatch(stale);
    value(await m.backward(b));
    expect(errorOf(await m.backward(b)).message).toMatch(stale);
    const c = value(await m.loss(batch));
    expect(errorOf(await m.backward(c, 0.5)).message).toMatch(/all pass a scale or all leave it out/);
    expect(errorOf(await m.backward(value(await m.loss(batch)), Number.NaN)).message).toMatch(/scale must be a finite number, got NaN/);
    value(await m.step());
    expect(errorOf(await m.step())).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/step needs at least one backward/) });
    await m.close();
  });

  it("applyLoRA twice, applyLoRA in full mode, a bad LoRA config, training before applyLoRA: invalid_argument", async () => {
    const m = await trainable();
    const batch = { tokens: [[1, 2, 3]] };
    expect(errorOf(await m.loss(batch))).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/loss needs a LoRA adapter: call applyLoRA first/) });
    expect(errorOf(await m.step()).message).toMatch(/step needs a LoRA adapter/);
    expect(errorOf(m.applyLoRA({ rank: 0 }))).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/LoRA rank must be an integer > 0, got 0/) });
    expect(errorOf(m.applyLoRA({ alpha: Number.POSITIVE_INFINITY })).message).toMatch(/LoRA alpha must be a finite number > 0/);
    expect(errorOf(m.applyLoRA({ targetKeys: ["qkv_proj"] })).message).toMatch(/LoRA target "qkv_proj" matches no module/);
    value(m.applyLoRA());
    expect(errorOf(m.applyLoRA())).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/already attached to this model \(applyLoRA runs once\)/) });
    expect(errorOf(await m.saveWeights(join(root, "nope"))).message).toMatch(/saveWeights needs trainingMode "full"/);
    await m.close();
    const full = await trainable({ trainingMode: "full" });
    expect(errorOf(full.applyLoRA())).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/applyLoRA needs trainingMode "lora"/) });
    await full.close();
  });

  it("malformed batches: invalid_argument naming the problem", async () => {
    const m = await trainable();
    value(m.applyLoRA());
    const cases: [unknown, RegExp][] = [
      [{ tokens: [] }, /a batch needs tokens/],
      [{ tokens: [[1]] }, /at least 2 tokens/],
      [{ tokens: [[1, 2, 3], [1, 2]] }, /sequence 1 has 2 tokens, sequence 0 has 3/],
      [{ tokens: [[1, 2.5, 3]] }, /token 1 of sequence 0 is not an integer id: 2\.5/],
      [{ tokens: [[1, 2, 3]], lossMask: [[1, 1]] }, /lossMask row 0 must have 3 entries/],
      [{ tokens: [[1, 2, 3]], lossMask: [[0, 2, 1]] }, /lossMask entries must be 0 or 1, got 2/],
      [{ tokens: [[1, 2, 3]], lossMask: [[1, 0, 0]] }, /the mask counts no next-token target/],
      [{ tokens: [[1, 2, 99999]] }, /token id 99999 at index 2 is outside the vocabulary/],
    ];
    for (const [batch, message] of cases) {
      const e = errorOf(await m.loss(batch as never));
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toMatch(message);
    }
    expect(() => m.setLearningRate(-1)).toThrow(/learning rate must be a finite number >= 0, got -1/);
    await m.close();
  });

  it("bad training options fail loadTrainable with invalid_argument naming the option", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ trainingMode: "half" }, /trainingMode must be "lora" or "full", got "half"/],
      [{ learningRate: -1 }, /learningRate must be a finite number >= 0, got -1/],
      [{ betas: [0.9, 1] }, /betas must be a finite number >= 0 and < 1, got 1/],
      [{ maxGradNorm: Number.NaN }, /maxGradNorm must be a finite number >= 0, got NaN/],
      [{ seed: -2 }, /seed must be a non-negative integer, got -2/],
    ];
    for (const [opts, message] of cases) {
      const e = errorOf(await backend.loadTrainable(modelDir, opts));
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toMatch(message);
    }
    const q = errorOf(await backend.loadTrainable(modelDir, { quantization: "q8_0", threads: 1 }));
    expect(q).toMatchObject({ code: "unsupported", message: expect.stringMatching(/training needs F32, F16 or BF16 weights/) });
  });

  it("training states of another mode or LoRA config, or no state at all: typed errors, nothing changes", async () => {
    const m = await trainable();
    value(m.applyLoRA({ rank: 4 }));
    const dir = join(root, "state-r4");
    value(await m.saveTrainingState(dir));
    const other = await trainable();
    value(other.applyLoRA({ rank: 2 }));
    expect(errorOf(await other.loadTrainingState(dir))).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/is for LoRA rank 4, alpha 16/) });
    const full = await trainable({ trainingMode: "full" });
    expect(errorOf(await full.loadTrainingState(dir)).message).toMatch(/was saved in lora mode; this model trains in full mode/);
    expect(errorOf(await m.loadTrainingState(join(root, "no-state")))).toMatchObject({ code: "invalid_model", message: expect.stringMatching(/training-state\.json: cannot be read/) });
    const statePath = join(dir, "training-state.json");
    const good = readFileSync(statePath, "utf8");
    const before = m.stepCount();
    for (const bad of [[0, 0, 0, 0], [1, 2, 3], [1, 2, 3, -4], "x"]) {
      writeFileSync(statePath, JSON.stringify({ ...JSON.parse(good), dropoutRng: bad }));
      expect(errorOf(await m.loadTrainingState(dir))).toMatchObject({ code: "invalid_model", message: expect.stringMatching(/dropoutRng must be four 32-bit words, not all zero/) });
    }
    expect(m.stepCount()).toBe(before);
    for (const x of [m, other, full]) await x.close();
  });

  it("after close every call fails with closed", async () => {
    const m = await trainable();
    const adapter = value(m.applyLoRA());
    const loss = value(await m.loss({ tokens: [[1, 2, 3]] }));
    await m.close();
    expect(value(await m.close())).toBeUndefined(); // idempotent
    const closed = { code: "closed" };
    expect(errorOf(await m.loss({ tokens: [[1, 2, 3]] }))).toMatchObject(closed);
    expect(errorOf(await m.backward(loss))).toMatchObject(closed);
    expect(errorOf(await m.step())).toMatchObject(closed);
    expect(errorOf(m.applyLoRA())).toMatchObject(closed);
    expect(errorOf(await m.saveTrainingState(join(root, "x")))).toMatchObject(closed);
    expect(errorOf(await m.loadTrainingState(join(root, "x")))).toMatchObject(closed);
    expect(errorOf(await m.saveWeights(join(root, "x")))).toMatchObject(closed);
    expect(errorOf(await adapter.save(join(root, "x")))).toMatchObject(closed);
    expect(errorOf(await m.classify(["a"]))).toMatchObject(closed);
    expect(() => m.encode("a")).toThrow(/model is closed/);
  });
});
