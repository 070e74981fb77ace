/**
 * Test helper for the training loop: a `TrainerModel` over the real `TrainableTransformer`, `AdamW` and
 * `clipGradNorm`, with a plain training-state file (parameter values, moments, step), so the loop's tests train a
 * real tiny checkpoint without depending on the backend's model class. Also a scripted model whose losses and
 * failures a test dictates. Not the cpu backend's `CpuTrainableModel`.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fail, InferenceError, ok, type Loss, type Result, type TrainingBatch } from "@dappcore/inference";
import { loadModelDir } from "../../src/loader/model-dir.js";
import { AdamW, clipGradNorm } from "../../src/training/optimizer.js";
import { TrainableTransformer } from "../../src/training/trainable-transformer.js";
import type { TrainableOptions } from "../../src/training/trainable-weights.js";
import type { TrainerModel } from "../../src/training/trainer-options.js";

/** Flattens a batch of (B, T + 1) tokens into the transformer's (B, T + 1) ids and its "position t predicts t + 1" mask. */
function flatten(batch: TrainingBatch): { tokens: Int32Array; mask: Float32Array; B: number; T: number } {
  const B = batch.tokens.length;
  const T = batch.tokens[0]?.length ?? 0;
  const tokens = new Int32Array(B * T);
  const mask = new Float32Array(B * T);
  batch.tokens.forEach((row, b) => {
    row.forEach((id, t) => (tokens[b * T + t] = id));
    for (let t = 0; t + 1 < T; t++) mask[b * T + t] = batch.lossMask?.[b]?.[t + 1] ?? 1;
  });
  return { tokens, mask, B, T };
}

export class TransformerTrainerModel implements TrainerModel {
  readonly net: TrainableTransformer;
  readonly opt: AdamW;
  readonly backwardScales: number[] = [];
  readonly learningRates: number[] = [];

  constructor(net: TrainableTransformer, readonly maxGradNorm = 1) {
    this.net = net;
    this.opt = new AdamW(net.parameters(), { lr: 0, weightDecay: 0 });
  }

  /** Loads `dir` (a checkpoint directory) as a trainable model. */
  static async load(dir: string, opts: TrainableOptions): Promise<TransformerTrainerModel> {
    const ckpt = await loadModelDir(dir);
    return new TransformerTrainerModel(new TrainableTransformer(ckpt.config, ckpt.weights, opts));
  }

  async loss(batch: TrainingBatch): Promise<Result<Loss>> {
    const { tokens, mask, B, T } = flatten(batch);
    const value = this.net.forwardLoss(tokens, mask, B, T);
    return ok({ value, tokens: this.net.lastTokenCount });
  }

  async backward(_loss: Loss, scale = 1): Promise<Result<void>> {
    this.backwardScales.push(scale);
    this.net.backward(scale);
    return ok();
  }

  async step(): Promise<Result<void>> {
    clipGradNorm(this.net.parameters(), this.maxGradNorm);
    this.opt.step();
    return ok();
  }

  zeroGrad(): void {
    this.net.zeroGrad();
  }

  setLearningRate(lr: number): void {
    this.learningRates.push(lr);
    this.opt.lr = lr;
  }

  async saveTrainingState(dir: string): Promise<Result<void>> {
    const params = this.net.parameters();
    const state = this.opt.state();
    const arrays = [...params.map((p) => p.value), ...state.m, ...state.v];
    await writeFile(join(dir, "state.bin"), Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
    await writeFile(join(dir, "state.json"), JSON.stringify({ step: state.step }));
    return ok();
  }

  async loadTrainingState(dir: string): Promise<Result<void>> {
    const bytes = await readFile(join(dir, "state.bin"));
    const { step } = JSON.parse(await readFile(join(dir, "state.json"), "utf8")) as { step: number };
    const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const params = this.net.parameters();
    let at = 0;
    const take = (n: number) => all.slice(at, (at += n));
    for (const p of params) p.value.set(take(p.value.length));
    const m = params.map((p) => take(p.value.length));
    const v = params.map((p) => take(p.value.length));
    this.opt.loadState({ step, m, v });
    return ok();
  }
}

/** A model whose loss for each call comes from `losses` (cycled), for the loop's bookkeeping and error paths. */
export class ScriptedTrainerModel implements TrainerModel {
  readonly calls: string[] = [];
  readonly scales: number[] = [];
  losses: number[] = [2, 1.5, 1];
  lossError: InferenceError | undefined;
  stepError: InferenceError | undefined;
  stateError: InferenceError | undefined;
  savedStates: string[] = [];
  #n = 0;

  async loss(batch: TrainingBatch): Promise<Result<Loss>> {
    this.calls.push("loss");
    if (this.lossError) return fail(this.lossError);
    const value = this.losses[this.#n++ % this.losses.length] as number;
    let tokens = 0;
    batch.tokens.forEach((row, r) => {
      for (let i = 1; i < row.length; i++) tokens += batch.lossMask?.[r]?.[i] ?? 1;
    });
    return ok({ value, tokens });
  }

  async backward(_loss: Loss, scale = 1): Promise<Result<void>> {
    this.calls.push("backward");
    this.scales.push(scale);
    return ok();
  }

  async step(): Promise<Result<void>> {
    this.calls.push("step");
    return this.stepError ? fail(this.stepError) : ok();
  }

  zeroGrad(): void {
    this.calls.push("zeroGrad");
  }

  setLearningRate(lr: number): void {
    this.calls.push(`lr ${lr}`);
  }

  setEpoch(epoch: number): void {
    this.calls.push(`epoch ${epoch}`);
  }

  async saveTrainingState(dir: string): Promise<Result<void>> {
    if (this.stateError) return fail(this.stateError);
    this.savedStates.push(dir);
    await writeFile(join(dir, "scripted.json"), "{}");
    return ok();
  }

  async loadTrainingState(dir: string): Promise<Result<void>> {
    this.calls.push(`load ${dir}`);
    return ok();
  }
}
