// runTraining's bookkeeping over a scripted model: the order of calls, gradient-accumulation weights, epochs and
// step budgets, the token-weighted evaluation, checkpoint pruning, and every error path with its typed error.
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceError, type TrainingBatch } from "@dappcore/inference";
import { batchTargets, evaluateLoss, runTraining } from "../../src/training/trainer.js";
import { dataFingerprint } from "../../src/training/trainer-checkpoint.js";
import type { TrainingData, TrainingOptions, TrainingSplit } from "../../src/training/trainer-options.js";
import { ScriptedTrainerModel } from "./trainer-test-model.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "trainer-loop-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A batch of one sequence of `n + 1` tokens with `n` targets (token values tagged by `tag`). */
const seq = (n: number, tag = 1): TrainingBatch => ({
  tokens: [Array.from({ length: n + 1 }, (_, i) => tag * 100 + i)],
  lossMask: [Array.from({ length: n + 1 }, (_, i) => (i === 0 ? 0 : 1))],
});

/** A split whose epochs return `batches` rotated by the epoch, recording which epochs were asked for. */
function split(batches: TrainingBatch[], asked: number[] = []): TrainingSplit {
  return {
    batches: (epoch = 0) => {
      asked.push(epoch);
      return batches.map((_, i) => batches[(i + epoch) % batches.length] as TrainingBatch);
    },
  };
}

async function rejection(p: Promise<unknown>): Promise<InferenceError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(InferenceError);
  return e as InferenceError;
}

describe("runTraining: the loop", () => {
  it("accumulates micro-batches weighted by their targets, then steps and zeroes the gradients", async () => {
    const model = new ScriptedTrainerModel();
    model.losses = [2, 1];
    const steps: { step: number; epoch: number; loss: number; lr: number }[] = [];
    const summary = await runTraining(model, { train: split([seq(3), seq(1), seq(4)]) }, {
      epochs: 1,
      gradientAccumulation: 2,
      schedule: { kind: "constant", lr: 0.5 },
    }, { onStep: (p) => void steps.push({ step: p.step, epoch: p.epoch, loss: p.loss, lr: p.learningRate }) });
    expect(model.calls).toEqual([
      "zeroGrad",
      "lr 0.5", "epoch 0", "loss", "backward", "loss", "backward", "step", "zeroGrad",
      "lr 0.5", "epoch 0", "loss", "backward", "step", "zeroGrad",
    ]);
    expect(model.scales).toEqual([3 / 4, 1 / 4, 1]);
    // Step 1: (2·3 + 1·1) / 4; step 2: a lone batch of loss 2.
    expect(steps).toEqual([{ step: 1, epoch: 0, loss: 7 / 4, lr: 0.5 }, { step: 2, epoch: 0, loss: 2, lr: 0.5 }]);
    expect(summary).toMatchObject({ stopped: "completed", steps: 2, totalSteps: 2, epochs: 1, startStep: 0, finalLoss: 2, tokens: 4 + 2 + 5 });
    expect(summary.finalEvalLoss).toBeUndefined();
  });

  it("maxSteps crosses epochs, asking the split for each epoch's order; epochs counts whole passes", async () => {
    const asked: number[] = [];
    const model = new ScriptedTrainerModel();
    const progress: [number, number, number][] = [];
    const s = await runTraining(model, { train: split([seq(2), seq(2), seq(2)], asked) }, { maxSteps: 7 }, {
      onStep: (p) => void progress.push([p.step, p.epoch, p.totalEpochs]),
    });
    expect(s.steps).toBe(7);
    expect(s.epochs).toBeCloseTo(7 / 3, 12);
    expect(progress.map((p) => p[1])).toEqual([0, 0, 0, 1, 1, 1, 2]);
    expect(model.calls.filter((c) => c.startsWith("epoch "))).toEqual(["epoch 0", "epoch 0", "epoch 0", "epoch 1", "epoch 1", "epoch 1", "epoch 2"]);
    expect(progress[0]![2]).toBe(3);
    expect(asked).toEqual([0, 1, 2]);
    const e = await runTraining(new ScriptedTrainerModel(), { train: split([seq(2), seq(2)]) }, { epochs: 3 });
    expect([e.steps, e.totalSteps, e.epochs]).toEqual([6, 6, 3]);
  });

  it("the default schedule is cosine from 1e-4 to 0 over the run", async () => {
    const model = new ScriptedTrainerModel();
    await runTraining(model, { train: split([seq(1), seq(1), seq(1)]) }, {});
    const lrs = model.calls.filter((c) => c.startsWith("lr ")).map((c) => Number(c.slice(3)));
    expect(lrs).toHaveLength(3);
    [1e-4, 0.75e-4, 0.25e-4].forEach((want, i) => expect(lrs[i]).toBeCloseTo(want, 15));
  });

  it("evaluates the token-weighted mean held-out loss, with evalLoss when the model has it", async () => {
    const model = new ScriptedTrainerModel();
    model.losses = [3, 1];
    const r = await evaluateLoss(model, split([seq(1), seq(3)]), 5);
    expect(r).toEqual({ step: 5, loss: (3 * 1 + 1 * 3) / 4, tokens: 4 });
    const withEval = Object.assign(new ScriptedTrainerModel(), {
      evalLoss: async () => ({ ok: true as const, value: { value: 0.25, tokens: 2 } }),
    });
    const s = await runTraining(withEval, { train: split([seq(1)]), heldOut: split([seq(1)]) }, { maxSteps: 2, evalInterval: 1, evalAtStart: true });
    expect(s.evals).toEqual([{ step: 0, loss: 0.25, tokens: 2 }, { step: 1, loss: 0.25, tokens: 2 }, { step: 2, loss: 0.25, tokens: 2 }]);
    expect(withEval.calls.filter((c) => c === "loss")).toHaveLength(2); // training only
  });

  it("an abort before the first step stops at once and checkpoints step 0; keepCheckpoints prunes old ones", async () => {
    const controller = new AbortController();
    controller.abort();
    const dir = join(root, "abort-0");
    const model = new ScriptedTrainerModel();
    const s = await runTraining(model, { train: split([seq(1)]) }, { maxSteps: 3, checkpointDir: dir, signal: controller.signal });
    expect(s).toMatchObject({ stopped: "aborted", steps: 0, checkpoint: join(dir, "step-00000000") });
    expect(model.calls).toEqual(["zeroGrad"]);

    const pruned = join(root, "pruned");
    const seen: number[] = [];
    await runTraining(new ScriptedTrainerModel(), { train: split([seq(1)]) }, {
      maxSteps: 7, checkpointDir: pruned, checkpointInterval: 2, keepCheckpoints: 2,
    }, { onCheckpoint: (c) => void seen.push(c.step) });
    expect(seen).toEqual([2, 4, 6, 7]);
    expect((await readdir(pruned)).sort()).toEqual(["step-00000006", "step-00000007"]);
  });

  it("the data fingerprint changes with tokens, masks and order", () => {
    const a = [seq(2, 1), seq(2, 2)];
    expect(dataFingerprint(a)).toBe(dataFingerprint([seq(2, 1), seq(2, 2)]));
    expect(dataFingerprint(a)).not.toBe(dataFingerprint([seq(2, 2), seq(2, 1)]));
    const masked = { tokens: a[0]!.tokens, lossMask: [[0, 0, 1]] };
    expect(dataFingerprint([masked, a[1]!])).not.toBe(dataFingerprint(a));
    expect(batchTargets({ tokens: [[1, 2, 3], [4, 5]] })).toBe(3);
    expect(batchTargets(masked)).toBe(1);
  });
});

describe("runTraining: errors", () => {
  const data: TrainingData = { train: split([seq(2), seq(2)]) };
  const badOptions: [TrainingOptions, string][] = [
    [{ epochs: 1, maxSteps: 2 }, "cpu.train: give epochs or maxSteps, not both"],
    [{ epochs: 0 }, "cpu.train: epochs must be an integer >= 1, got 0"],
    [{ maxSteps: 1.5 }, "cpu.train: maxSteps must be an integer >= 1, got 1.5"],
    [{ gradientAccumulation: 0 }, "cpu.train: gradientAccumulation must be an integer >= 1, got 0"],
    [{ evalInterval: -1 }, "cpu.train: evalInterval must be an integer >= 0, got -1"],
    [{ checkpointInterval: Number.NaN }, "cpu.train: checkpointInterval must be an integer >= 0, got NaN"],
    [{ resume: true }, "cpu.train: resume needs checkpointDir"],
    [{ checkpointDir: "" }, "cpu.train: checkpointDir must be a non-empty path"],
    [{ maxSteps: 2, schedule: { kind: "cosine", lr: 1e-3, warmupSteps: 5 } }, "cpu.train: schedule: totalSteps (2) must be >= warmupSteps (5)"],
    [{ schedule: { kind: "constant", lr: -1 } }, "cpu.train: schedule: lr must be a finite number >= 0, got -1"],
  ];
  for (const [opts, message] of badOptions) {
    it(`invalid_argument: ${message}`, async () => {
      const e = await rejection(runTraining(new ScriptedTrainerModel(), data, opts));
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toBe(message);
    });
  }

  it("an empty training split, or a step without targets, is invalid_argument", async () => {
    const empty = await rejection(runTraining(new ScriptedTrainerModel(), { train: split([]) }));
    expect([empty.code, empty.message]).toEqual(["invalid_argument", "cpu.train: the training split has no batch"]);
    const none = { tokens: [[1, 2, 3]], lossMask: [[0, 0, 0]] };
    const e = await rejection(runTraining(new ScriptedTrainerModel(), { train: split([seq(1), none]) }, { epochs: 1 }));
    expect([e.code, e.message]).toEqual(["invalid_argument", "cpu.train: the batches of step 2 have no target token"]);
    const held = await rejection(evaluateLoss(Object.assign(new ScriptedTrainerModel(), {
      evalLoss: async () => ({ ok: true as const, value: { value: 1, tokens: 0 } }),
    }), split([seq(1)])));
    expect([held.code, held.message]).toEqual(["invalid_argument", "cpu.train: the held-out split has no target token"]);
  });

  it("a non-finite loss is internal with a remedy; the model's own errors pass through", async () => {
    const nan = new ScriptedTrainerModel();
    nan.losses = [1, Number.NaN];
    const e = await rejection(runTraining(nan, data, { epochs: 1 }));
    expect([e.code, e.message, e.remedy]).toEqual(["internal", "cpu.train: the loss is NaN: training diverged", "lower the learning rate, or clip gradients harder"]);
    const boom = new InferenceError({ code: "invalid_argument", op: "cpu.loss", message: "token id 999 is outside the vocabulary" });
    for (const key of ["lossError", "stepError", "stateError"] as const) {
      const m = new ScriptedTrainerModel();
      m[key] = boom;
      const err = await rejection(runTraining(m, data, { epochs: 1, checkpointDir: join(root, `err-${key}`) }));
      expect(err).toBe(boom);
    }
  });

  it("resume fails without a checkpoint, with a corrupt state file, and for a run planned differently", async () => {
    const dir = join(root, "resume-errors");
    const none = await rejection(runTraining(new ScriptedTrainerModel(), data, { epochs: 1, checkpointDir: dir, resume: true }));
    expect([none.code, none.message]).toEqual(["invalid_argument", `cpu.train: no checkpoint to resume from in ${dir}`]);

    await runTraining(new ScriptedTrainerModel(), data, { epochs: 2, checkpointDir: dir, checkpointInterval: 1 });
    const other: [TrainingOptions, TrainingData, string][] = [
      [{ epochs: 2, gradientAccumulation: 2 }, data, "gradient accumulation 1, this run has 2"],
      [{ epochs: 3 }, data, "total steps 4, this run has 6"],
      [{ epochs: 2, schedule: { kind: "constant", lr: 1e-4 } }, data, 'schedule {"kind":"cosine","lr":0.0001,"warmupSteps":0,"minLr":0}, this run has {"kind":"constant","lr":0.0001,"warmupSteps":0,"minLr":0}'],
      [{ epochs: 2 }, { train: split([seq(2), seq(2), seq(2)]) }, "batches per epoch 2, this run has 3"],
      [{ epochs: 2 }, { train: split([seq(2, 7), seq(2)]) }, `data fingerprint "${dataFingerprint([seq(2), seq(2)])}", this run has "${dataFingerprint([seq(2, 7), seq(2)])}"`],
    ];
    for (const [opts, d, what] of other) {
      const e = await rejection(runTraining(new ScriptedTrainerModel(), d, { ...opts, checkpointDir: dir, resume: true }));
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toBe(`cpu.train: cannot resume from ${join(dir, "step-00000004")}: it was written with ${what}`);
    }
    // A checkpoint directory without its state file is an interrupted save and is skipped.
    await mkdir(join(dir, "step-00000009"));
    const m = new ScriptedTrainerModel();
    const s = await runTraining(m, data, { epochs: 2, checkpointDir: dir, resume: true });
    expect(m.calls).toContain(`load ${join(dir, "step-00000004")}`);
    expect(s).toMatchObject({ startStep: 4, steps: 4, stopped: "completed" });

    await writeFile(join(dir, "step-00000004", "trainer-state.json"), "{ not json");
    const corrupt = await rejection(runTraining(new ScriptedTrainerModel(), data, { epochs: 2, checkpointDir: dir, resume: true }));
    expect([corrupt.code, corrupt.message.startsWith(`cpu.train: checkpoint state ${join(dir, "step-00000004", "trainer-state.json")} is unreadable: `)])
      .toEqual(["invalid_argument", true]);
    await writeFile(join(dir, "step-00000004", "trainer-state.json"), JSON.stringify({ format: 1, step: -1 }));
    const field = await rejection(runTraining(new ScriptedTrainerModel(), data, { epochs: 2, checkpointDir: dir, resume: true }));
    expect(field.message).toBe(`cpu.train: checkpoint state ${join(dir, "step-00000004", "trainer-state.json")}: step is missing or invalid`);
  });
});
