/**
 * The training loop: epochs or a step budget over a prepared dataset, gradient accumulation, the learning-rate
 * schedule, held-out evaluation, checkpoints and resume, and a clean stop at a step boundary on abort. It drives
 * any `TrainerModel` (the cpu backend's trainable model) and reports through hooks and `training` probe events.
 *
 * Resume is exact: a checkpoint holds the model's training state and the loop's position (epoch, next batch), the
 * data order is a function of the shuffle seed and the epoch (fingerprinted, so other data is refused), and
 * evaluation and checkpoints happen at the same steps either way, so a resumed run computes the same losses as an
 * uninterrupted one, as far as the model's saved state is complete (the cpu model's omits LoRA dropout masks). This file does not compute losses or gradients,
 * read datasets (`dataset.ts`) or know the checkpoint layout (`trainer-checkpoint.ts`).
 */
import { InferenceError, type Loss, type TrainingBatch } from "@dappcore/inference";
import {
  dataFingerprint,
  listCheckpoints,
  readTrainerState,
  TRAINER_STATE_FORMAT,
  writeCheckpoint,
  type TrainerState,
} from "./trainer-checkpoint.js";
import {
  resolveTrainingPlan,
  TRAINER_OP,
  trainerInvalid,
  type EvalResult,
  type TrainerModel,
  type TrainingData,
  type TrainingHooks,
  type TrainingOptions,
  type TrainingPlan,
  type TrainingSplit,
  type TrainingSummary,
} from "./trainer-options.js";

/** Targets a batch counts: its mask's ones, or every position but the first of each sequence without a mask. */
export function batchTargets(batch: TrainingBatch): number {
  let n = 0;
  batch.tokens.forEach((row, r) => {
    const mask = batch.lossMask?.[r];
    if (mask === undefined) n += Math.max(0, row.length - 1);
    else for (let i = 1; i < mask.length; i++) n += mask[i] === 0 ? 0 : 1;
  });
  return n;
}

function batchTokens(batch: TrainingBatch): number {
  let n = 0;
  for (const row of batch.tokens) n += row.length;
  return n;
}

function unwrapLoss(r: Awaited<ReturnType<TrainerModel["loss"]>>): Loss {
  if (!r.ok) throw r.error;
  if (!Number.isFinite(r.value.value)) {
    throw new InferenceError({
      code: "internal",
      op: TRAINER_OP,
      message: `the loss is ${r.value.value}: training diverged`,
      remedy: "lower the learning rate, or clip gradients harder",
      details: { loss: r.value.value },
    });
  }
  return r.value;
}

/**
 * The held-out loss: the target-weighted mean of the loss over every batch of `split` (epoch 0's order), without
 * a backward pass. Throws the model's error, or `invalid_argument` when the split has no target.
 *
 * @example const { loss } = await evaluateLoss(model, heldOut);
 */
export async function evaluateLoss(model: TrainerModel, split: TrainingSplit, step = 0): Promise<EvalResult> {
  let weighted = 0;
  let tokens = 0;
  for (const batch of split.batches(0)) {
    const loss = unwrapLoss(await (model.evalLoss ? model.evalLoss(batch) : model.loss(batch)));
    weighted += loss.value * loss.tokens;
    tokens += loss.tokens;
  }
  if (tokens === 0) throw trainerInvalid("the held-out split has no target token");
  return { step, loss: weighted / tokens, tokens };
}

/** The loop's mutable position. */
interface Position {
  step: number;
  epoch: number;
  batchIndex: number;
  lastLoss: number | null;
  lastEvalLoss: number | null;
}

async function resumePosition(model: TrainerModel, opts: TrainingOptions, plan: TrainingPlan, fingerprint: string): Promise<{ pos: Position; dir: string }> {
  const root = opts.checkpointDir as string;
  const found = await listCheckpoints(root);
  const latest = found[found.length - 1];
  if (latest === undefined) throw trainerInvalid(`no checkpoint to resume from in ${root}`, { path: root });
  const s = await readTrainerState(latest.dir);
  const mismatch = (what: string, saved: unknown, now: unknown) =>
    trainerInvalid(`cannot resume from ${latest.dir}: it was written with ${what} ${JSON.stringify(saved)}, this run has ${JSON.stringify(now)}`, {
      path: latest.dir,
      field: what,
    });
  if (s.gradientAccumulation !== plan.accumulation) throw mismatch("gradient accumulation", s.gradientAccumulation, plan.accumulation);
  if (s.batchesPerEpoch !== plan.batchesPerEpoch) throw mismatch("batches per epoch", s.batchesPerEpoch, plan.batchesPerEpoch);
  if (s.dataFingerprint !== fingerprint) throw mismatch("data fingerprint", s.dataFingerprint, fingerprint);
  if (s.totalSteps !== plan.totalSteps) throw mismatch("total steps", s.totalSteps, plan.totalSteps);
  const sched = plan.scheduleSpec;
  if (JSON.stringify(s.schedule) !== JSON.stringify(sched)) throw mismatch("schedule", s.schedule, sched);
  if (s.step > plan.totalSteps || s.batchIndex >= plan.batchesPerEpoch) throw trainerInvalid(`checkpoint ${latest.dir} is past the end of this run`, { path: latest.dir });
  const loaded = await model.loadTrainingState(latest.dir);
  if (!loaded.ok) throw loaded.error;
  return { pos: { step: s.step, epoch: s.epoch, batchIndex: s.batchIndex, lastLoss: s.lastLoss, lastEvalLoss: s.lastEvalLoss }, dir: latest.dir };
}

/**
 * Trains `model` on `data.train`. Each optimiser step sets the scheduled learning rate, runs up to
 * `gradientAccumulation` micro-batches (loss, then backward weighted by the batch's share of the step's targets),
 * steps the optimiser and zeroes the gradients; then reports progress, evaluates the held-out split when due,
 * writes a checkpoint when due, and stops if `signal` fired. The held-out loss is evaluated at the end too.
 *
 * Throws `invalid_argument` for bad options or a checkpoint that does not fit the run, `internal` when the loss is
 * not finite or checkpoint files cannot be written, and the model's own typed errors.
 *
 * @example
 * const data = await loadJsonlDataset("train.jsonl", tokenizer, { seqLen: 128, batchSize: 4, heldOutEvery: 10 });
 * const summary = await runTraining(model, data, { epochs: 3, schedule: { kind: "cosine", lr: 2e-4, warmupSteps: 10 } });
 * console.log(summary.finalLoss, summary.finalEvalLoss);
 */
export async function runTraining(model: TrainerModel, data: TrainingData, opts: TrainingOptions = {}, hooks: TrainingHooks = {}): Promise<TrainingSummary> {
  const epochBatches = new Map<number, TrainingBatch[]>();
  const batchesOf = (epoch: number): TrainingBatch[] => {
    let b = epochBatches.get(epoch);
    if (b === undefined) {
      epochBatches.clear(); // one epoch at a time: a large split is not held twice over
      b = data.train.batches(epoch);
      epochBatches.set(epoch, b);
    }
    return b;
  };
  const first = batchesOf(0);
  const plan = resolveTrainingPlan(opts, first.length);
  const fingerprint = dataFingerprint(first);
  const now = opts.now ?? (() => performance.now());
  const heldOut = data.heldOut;

  let pos: Position = { step: 0, epoch: 0, batchIndex: 0, lastLoss: null, lastEvalLoss: null };
  let lastCheckpoint: string | undefined;
  if (opts.resume === true) {
    const resumed = await resumePosition(model, opts, plan, fingerprint);
    pos = resumed.pos;
    lastCheckpoint = resumed.dir;
  }
  const startStep = pos.step;
  const evals: EvalResult[] = [];
  let tokens = 0;
  let trainMs = 0;
  let finalLoss = Number.NaN;

  const evaluate = async () => {
    if (heldOut === undefined) return;
    const result = await evaluateLoss(model, heldOut, pos.step);
    pos.lastEvalLoss = result.loss;
    evals.push(result);
    await hooks.onEval?.(result);
  };
  const state = (): TrainerState => ({
    format: TRAINER_STATE_FORMAT,
    step: pos.step,
    epoch: pos.epoch,
    batchIndex: pos.batchIndex,
    totalSteps: plan.totalSteps,
    gradientAccumulation: plan.accumulation,
    batchesPerEpoch: plan.batchesPerEpoch,
    schedule: plan.scheduleSpec,
    dataFingerprint: fingerprint,
    lastLoss: pos.lastLoss,
    lastEvalLoss: pos.lastEvalLoss,
  });
  let savedStep = lastCheckpoint === undefined ? -1 : pos.step;
  const checkpoint = async () => {
    if (opts.checkpointDir === undefined || savedStep === pos.step) return;
    lastCheckpoint = await writeCheckpoint(model, opts.checkpointDir, state(), plan.keepCheckpoints);
    savedStep = pos.step;
    await hooks.onCheckpoint?.({ step: pos.step, dir: lastCheckpoint });
  };
  const summary = (stopped: "completed" | "aborted"): TrainingSummary => ({
    stopped,
    steps: pos.step,
    totalSteps: plan.totalSteps,
    epochs: pos.epoch + pos.batchIndex / plan.batchesPerEpoch,
    startStep,
    finalLoss,
    ...(pos.lastEvalLoss === null ? {} : { finalEvalLoss: pos.lastEvalLoss }),
    evals,
    tokens,
    tokensPerSec: trainMs > 0 ? (tokens * 1000) / trainMs : 0,
    ...(lastCheckpoint === undefined ? {} : { checkpoint: lastCheckpoint }),
  });

  if (opts.evalAtStart === true && opts.resume !== true) await evaluate();
  model.zeroGrad();
  while (pos.step < plan.totalSteps) {
    if (opts.signal?.aborted) {
      await checkpoint();
      return summary("aborted");
    }
    const batches = batchesOf(pos.epoch);
    const window = batches.slice(pos.batchIndex, pos.batchIndex + plan.accumulation);
    const targets = window.map(batchTargets);
    const stepTargets = targets.reduce((a, b) => a + b, 0);
    if (stepTargets === 0) throw trainerInvalid(`the batches of step ${pos.step + 1} have no target token`, { step: pos.step + 1 });
    const learningRate = plan.schedule(pos.step);
    model.setLearningRate(learningRate);
    model.setEpoch?.(pos.epoch);
    const started = now();
    let weighted = 0;
    let counted = 0;
    for (let i = 0; i < window.length; i++) {
      const batch = window[i] as TrainingBatch;
      const loss = unwrapLoss(await model.loss(batch));
      const backward = await model.backward(loss, (targets[i] as number) / stepTargets);
      if (!backward.ok) throw backward.error;
      weighted += loss.value * loss.tokens;
      counted += loss.tokens;
      tokens += batchTokens(batch);
    }
    const stepped = await model.step();
    if (!stepped.ok) throw stepped.error;
    model.zeroGrad();
    trainMs += now() - started;

    const epochOfStep = pos.epoch;
    pos.step++;
    pos.batchIndex += window.length;
    if (pos.batchIndex >= batches.length) {
      pos.epoch++;
      pos.batchIndex = 0;
    }
    finalLoss = counted > 0 ? weighted / counted : Number.NaN;
    pos.lastLoss = finalLoss;
    const tokensPerSec = trainMs > 0 ? (tokens * 1000) / trainMs : 0;
    opts.probe?.emitProbe({
      kind: "training",
      phase: "training",
      step: pos.step,
      ...(opts.probeLabels === undefined ? {} : { labels: opts.probeLabels }),
      training: { epoch: epochOfStep, step: pos.step, loss: finalLoss, learningRate, tokensPerSec },
    });
    await hooks.onStep?.({
      step: pos.step,
      totalSteps: plan.totalSteps,
      epoch: epochOfStep,
      totalEpochs: plan.totalEpochs,
      loss: finalLoss,
      learningRate,
      tokensPerSec,
      tokens,
      ...(pos.lastEvalLoss === null ? {} : { evalLoss: pos.lastEvalLoss }),
    });
    const last = pos.step === plan.totalSteps;
    if (!last && plan.evalInterval > 0 && pos.step % plan.evalInterval === 0) await evaluate();
    if (!last && plan.checkpointInterval > 0 && pos.step % plan.checkpointInterval === 0) await checkpoint();
  }
  // The end: a final evaluation (unless this call resumed at the end and already has it) and checkpoint.
  if (pos.step > startStep || pos.lastEvalLoss === null) await evaluate();
  await checkpoint();
  return summary("completed");
}
