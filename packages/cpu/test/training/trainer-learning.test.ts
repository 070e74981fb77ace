// runTraining over a real tiny checkpoint (a random qwen3 with the byte-level tokenizer) and a learnable JSONL
// dataset: the held-out loss falls, a run stopped by its signal leaves a checkpoint, and resuming from it gives
// exactly the losses of the uninterrupted run (with gradient accumulation and an epoch boundary in between).
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newProbeBus, probeSinkFunc, type ProbeEvent } from "@dappcore/inference";
import { CpuBackend } from "../../src/backend.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import type { CpuTrainableModel } from "../../src/training/cpu-trainable-model.js";
import { loadTokenizer } from "../../src/text/tokenizer.js";
import { loadJsonlDataset, type PreparedDataset } from "../../src/training/dataset.js";
import { runTraining } from "../../src/training/trainer.js";
import type { TrainingOptions, TrainingProgress } from "../../src/training/trainer-options.js";
import { TransformerTrainerModel } from "./trainer-test-model.js";

let root: string;
let modelDir: string;
let data: PreparedDataset;

const lora = { mode: "lora" as const, lora: { rank: 4, alpha: 8, targetKeys: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] } };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "trainer-learning-"));
  modelDir = join(root, "model");
  await makeRandomCheckpoint(modelDir, { architecture: "qwen3", hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 4, numKVHeads: 2, headDim: 8, seed: 3 });
  const lines = Array.from({ length: 24 }, (_, i) => JSON.stringify({ text: `abc abc abc ${"xyz "[i % 4]}abc abc abc` }));
  await writeFile(join(root, "train.jsonl"), `${lines.join("\n")}\n`);
  data = await loadJsonlDataset(join(root, "train.jsonl"), await loadTokenizer(modelDir), { seqLen: 12, batchSize: 2, seed: 5, heldOutEvery: 4 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("runTraining on a tiny checkpoint", () => {
  it("lowers the held-out loss, and reports steps, probe events and a summary", async () => {
    const model = await TransformerTrainerModel.load(modelDir, lora);
    const events: ProbeEvent[] = [];
    const progress: TrainingProgress[] = [];
    const summary = await runTraining(model, data, {
      maxSteps: 30,
      schedule: { kind: "cosine", lr: 3e-2, warmupSteps: 3 },
      evalAtStart: true,
      evalInterval: 10,
      probe: newProbeBus(probeSinkFunc((e) => events.push(e))),
      probeLabels: { run: "t" },
    }, { onStep: (p) => void progress.push(p) });
    expect(summary.stopped).toBe("completed");
    expect(summary.steps).toBe(30);
    expect(summary.evals.map((e) => e.step)).toEqual([0, 10, 20, 30]);
    const first = summary.evals[0]!.loss;
    expect(summary.finalEvalLoss).toBe(summary.evals[3]!.loss);
    expect(summary.finalEvalLoss!).toBeLessThan(first * 0.6);
    expect(summary.finalLoss).toBeLessThan(progress[0]!.loss);
    expect(summary.tokens).toBe(progress[29]!.tokens);
    expect(summary.tokensPerSec).toBeGreaterThan(0);
    // One training event per step, carrying the step's loss and learning rate.
    const training = events.filter((e) => e.kind === "training");
    expect(training).toHaveLength(30);
    expect(training.map((e) => e.kind === "training" && e.training.loss)).toEqual(progress.map((p) => p.loss));
    expect(training.map((e) => e.kind === "training" && e.training.learningRate)).toEqual(model.learningRates);
    expect(training[0]).toMatchObject({ phase: "training", step: 1, labels: { run: "t" }, training: { epoch: 0, step: 1 } });
    expect(model.learningRates[0]).toBeCloseTo(1e-2, 12); // warmup: 3e-2 * 1/3
    expect(model.learningRates[2]).toBeCloseTo(3e-2, 12);
  });

  it("an aborted run checkpoints at a step boundary, and resuming from it repeats the uninterrupted losses exactly", async () => {
    const opts = (dir: string): TrainingOptions => ({
      epochs: 3,
      gradientAccumulation: 2,
      schedule: { kind: "linear", lr: 2e-2, warmupSteps: 2, minLr: 1e-3 },
      evalInterval: 4,
      checkpointDir: dir,
      checkpointInterval: 3,
    });
    const stepsPerEpoch = Math.ceil(data.train.batches(0).length / 2);
    expect(data.train.batches(0).length % 2).toBe(1); // the last step of each epoch has one micro-batch

    const whole = await TransformerTrainerModel.load(modelDir, lora);
    const wholeLosses: number[] = [];
    const wholeRun = await runTraining(whole, data, opts(join(root, "ckpt-whole")), { onStep: (p) => void wholeLosses.push(p.loss) });
    expect(wholeRun.steps).toBe(3 * stepsPerEpoch);

    const stopAt = stepsPerEpoch + 1; // past an epoch boundary, not on a checkpoint interval
    const controller = new AbortController();
    const first = await TransformerTrainerModel.load(modelDir, lora);
    const firstLosses: number[] = [];
    const dir = join(root, "ckpt-split");
    const stopped = await runTraining(first, data, { ...opts(dir), signal: controller.signal }, {
      onStep: (p) => {
        firstLosses.push(p.loss);
        if (p.step === stopAt) controller.abort();
      },
    });
    expect(stopped.stopped).toBe("aborted");
    expect(stopped.steps).toBe(stopAt);
    expect(stopped.checkpoint).toBe(join(dir, `step-${String(stopAt).padStart(8, "0")}`));
    const state = JSON.parse(await readFile(join(stopped.checkpoint!, "trainer-state.json"), "utf8"));
    expect(state).toMatchObject({ step: stopAt, epoch: 1, batchIndex: 2, gradientAccumulation: 2 });
    expect((await readdir(dir)).sort()).toContain("step-00000003");
    expect(firstLosses).toEqual(wholeLosses.slice(0, stopAt));

    const second = await TransformerTrainerModel.load(modelDir, lora);
    const secondLosses: number[] = [];
    const resumed = await runTraining(second, data, { ...opts(dir), resume: true }, { onStep: (p) => void secondLosses.push(p.loss) });
    expect(resumed.startStep).toBe(stopAt);
    expect(resumed.steps).toBe(wholeRun.steps);
    expect(secondLosses).toEqual(wholeLosses.slice(stopAt));
    expect(resumed.finalEvalLoss).toBe(wholeRun.finalEvalLoss);
    expect(resumed.evals.map((e) => [e.step, e.loss])).toEqual(wholeRun.evals.filter((e) => e.step > stopAt).map((e) => [e.step, e.loss]));
  });

  it("drives the backend's CpuTrainableModel: the loss falls, and abort + resume repeats the uninterrupted run", async () => {
    const load = async () => {
      const r = await new CpuBackend().loadTrainable(modelDir, { trainingMode: "lora", seed: 1 });
      if (!r.ok) throw r.error;
      const m = r.value as CpuTrainableModel;
      const adapter = m.applyLoRA(lora.lora);
      if (!adapter.ok) throw adapter.error;
      return m;
    };
    const opts = (dir: string): TrainingOptions => ({
      maxSteps: 12,
      gradientAccumulation: 2,
      schedule: { kind: "cosine", lr: 2e-2, warmupSteps: 2 },
      evalAtStart: true,
      checkpointDir: dir,
    });
    const whole = await load();
    const wholeLosses: number[] = [];
    const run = await runTraining(whole, data, opts(join(root, "cpu-whole")), { onStep: (p) => void wholeLosses.push(p.loss) });
    await whole.close();
    expect(run.finalEvalLoss!).toBeLessThan(run.evals[0]!.loss * 0.6);

    const controller = new AbortController();
    const first = await load();
    const dir = join(root, "cpu-split");
    const stopped = await runTraining(first, data, { ...opts(dir), signal: controller.signal }, {
      onStep: (p) => void (p.step === 7 && controller.abort()),
    });
    await first.close();
    expect([stopped.stopped, stopped.steps]).toEqual(["aborted", 7]);

    const second = await load();
    const losses: number[] = [];
    const resumed = await runTraining(second, data, { ...opts(dir), resume: true }, { onStep: (p) => void losses.push(p.loss) });
    await second.close();
    expect(losses).toEqual(wholeLosses.slice(7));
    expect(resumed.finalEvalLoss).toBe(run.finalEvalLoss);
  });
});
