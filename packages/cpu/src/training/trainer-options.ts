/**
 * What the training loop (`trainer.ts`) takes and gives back: the slice of a trainable model it drives, the data
 * splits, the options with their defaults and checks, the progress hooks and the summary. This file holds no loop,
 * no file I/O and no numerics; it turns the caller's options into a checked plan (`resolveTrainingPlan`).
 */
import { InferenceError, type Loss, type ProbeSink, type Result, type TrainingBatch } from "@dappcore/inference";
import { createSchedule, type LearningRateSchedule } from "./schedule.js";

/**
 * The part of a trainable model the loop drives (the cpu backend's `CpuTrainableModel` has it). `loss` runs the
 * forward pass of one micro-batch; `backward(loss, scale)` accumulates the gradient of that loss times `scale`
 * (the micro-batch's share of the targets of its optimiser step); `step` applies the optimiser at the learning rate
 * last set; `saveTrainingState` / `loadTrainingState` write and read everything a resumed run needs (trainable
 * weights, optimiser moments and step, random streams) in a directory.
 */
export interface TrainerModel {
  loss(batch: TrainingBatch): Promise<Result<Loss>>;
  backward(loss: Loss, scale?: number): Promise<Result<void>>;
  step(): Promise<Result<void>>;
  zeroGrad(): void;
  setLearningRate(lr: number): void;
  saveTrainingState(dir: string): Promise<Result<void>>;
  loadTrainingState(dir: string): Promise<Result<void>>;
  /** The loss without dropout and without keeping activations for a backward, for evaluation; `loss` when absent. */
  evalLoss?(batch: TrainingBatch): Promise<Result<Loss>>;
  /** Tells the model the epoch of the coming step (for the model's own `training` probe events), when it wants it. */
  setEpoch?(epoch: number): void;
}

/** One split of a prepared dataset: the batches of an epoch, the same for the same epoch (`loadJsonlDataset`'s splits). */
export interface TrainingSplit {
  batches(epoch?: number): TrainingBatch[];
}

/** What to train on, and optionally what to evaluate on. */
export interface TrainingData {
  readonly train: TrainingSplit;
  readonly heldOut?: TrainingSplit | undefined;
}

/** The learning-rate schedule by name; its length (total steps) comes from the run. */
export interface TrainingScheduleSpec {
  /** "constant", "cosine" (warmup then half a cosine) or "linear" (warmup then a straight line). */
  readonly kind: "constant" | "cosine" | "linear";
  /** Peak learning rate, finite and >= 0. */
  readonly lr: number;
  /** Steps of linear warmup. Default 0. */
  readonly warmupSteps?: number;
  /** Where cosine and linear decay end, in [0, lr]. Default 0. */
  readonly minLr?: number;
}

/** Options of `runTraining`. */
export interface TrainingOptions {
  /**
   * Passes over the training split. Give `epochs` or `maxSteps`, not both. Default 1 (when `maxSteps` is not given).
   * @example { epochs: 3 }
   */
  readonly epochs?: number;
  /**
   * Optimiser steps to run, crossing epochs as needed (the split is reshuffled each epoch). Default: none.
   * @example { maxSteps: 500 }
   */
  readonly maxSteps?: number;
  /**
   * Micro-batches whose gradients add up into one optimiser step, each weighted by its share of the step's targets,
   * so K batches of B act as one batch of K·B. The last step of an epoch may take fewer. Default 1.
   * @example { gradientAccumulation: 4 }
   */
  readonly gradientAccumulation?: number;
  /**
   * The learning-rate schedule over the run's optimiser steps. Default `{ kind: "cosine", lr: 1e-4, warmupSteps: 0 }`.
   * @example { schedule: { kind: "cosine", lr: 2e-4, warmupSteps: 20, minLr: 2e-5 } }
   */
  readonly schedule?: TrainingScheduleSpec;
  /**
   * Evaluate the held-out loss every N optimiser steps (0: only at the end). Ignored without a held-out split. Default 0.
   * @example { evalInterval: 50 }
   */
  readonly evalInterval?: number;
  /**
   * Also evaluate before the first step of a fresh run (not of a resumed one), so the summary holds the starting
   * held-out loss. Default false.
   * @example { evalAtStart: true }
   */
  readonly evalAtStart?: boolean;
  /**
   * Directory of checkpoints, one sub-directory `step-NNNNNNNN` each (training state and `trainer-state.json`).
   * Checkpoints are written every `checkpointInterval` steps, when the run is aborted, and at the end. Default: none.
   * @example { checkpointDir: "runs/lora-1/checkpoints" }
   */
  readonly checkpointDir?: string;
  /** Write a checkpoint every N optimiser steps (0: only on abort and at the end). Default 0. @example { checkpointInterval: 100 } */
  readonly checkpointInterval?: number;
  /** Keep only the newest N checkpoints (0 keeps all). Default 0. @example { keepCheckpoints: 2 } */
  readonly keepCheckpoints?: number;
  /**
   * Continue from the newest checkpoint in `checkpointDir` (required then): the model's training state is loaded and
   * the run goes on from the step and data position saved there, with the same schedule. Fails with
   * `invalid_argument` when there is no checkpoint, or it was written for other data, batching or schedule.
   * Default false.
   * @example { checkpointDir: "ckpt", resume: true }
   */
  readonly resume?: boolean;
  /** Stops the run at the next step boundary, after writing a checkpoint when `checkpointDir` is set. @example { signal: controller.signal } */
  readonly signal?: AbortSignal;
  /** Receives one `training` probe event per optimiser step. Default: none. @example { probe: newProbeBus(sink) } */
  readonly probe?: ProbeSink;
  /** Labels attached to the probe events. Default: none. @example { probeLabels: { run: "lora-1" } } */
  readonly probeLabels?: Readonly<Record<string, string>>;
  /** Milliseconds clock for tokens/s. Default `performance.now`. @example { now: () => fakeMs } */
  readonly now?: () => number;
}

/** What a progress hook receives after each optimiser step. */
export interface TrainingProgress {
  /** Optimiser steps done, this one included (1 for the first). */
  readonly step: number;
  /** Total optimiser steps of the run. */
  readonly totalSteps: number;
  /** The epoch (0-based) the step's batches came from. */
  readonly epoch: number;
  /** Epochs of the run: `epochs`, or the epochs `maxSteps` spans. */
  readonly totalEpochs: number;
  /** The step's loss: the target-weighted mean over its micro-batches. */
  readonly loss: number;
  /** The learning rate the step used. */
  readonly learningRate: number;
  /** Tokens (every position of every sequence) per second of training time in this run so far. */
  readonly tokensPerSec: number;
  /** Tokens processed in this run so far (a resumed run counts from its resume). */
  readonly tokens: number;
  /** The last held-out loss, when one was evaluated. */
  readonly evalLoss?: number;
}

/** A held-out evaluation. */
export interface EvalResult {
  /** Optimiser steps done when it ran (0: before the first). */
  readonly step: number;
  /** The target-weighted mean loss over every held-out batch. */
  readonly loss: number;
  /** Targets it counted. */
  readonly tokens: number;
}

/** Callbacks of `runTraining`; each is awaited, so a hook may write files. */
export interface TrainingHooks {
  onStep?(progress: TrainingProgress): void | Promise<void>;
  onEval?(result: EvalResult): void | Promise<void>;
  onCheckpoint?(checkpoint: { readonly step: number; readonly dir: string }): void | Promise<void>;
}

/** What `runTraining` answers. */
export interface TrainingSummary {
  /** "completed", or "aborted" when the signal stopped it. */
  readonly stopped: "completed" | "aborted";
  /** Optimiser steps done in total (a resumed run includes the steps before the resume). */
  readonly steps: number;
  readonly totalSteps: number;
  /** Epochs completed, fractional: 1.5 is halfway through the second. */
  readonly epochs: number;
  /** The step the run began at (0, or the resumed checkpoint's step). */
  readonly startStep: number;
  /** The last step's loss; NaN when no step ran in this call. */
  readonly finalLoss: number;
  /** The last held-out loss; undefined without a held-out split. */
  readonly finalEvalLoss?: number;
  /** Every held-out evaluation of this call, in order. */
  readonly evals: readonly EvalResult[];
  /** Tokens processed by this call, and their rate over its training time (0 when no step ran). */
  readonly tokens: number;
  readonly tokensPerSec: number;
  /** The newest checkpoint written by this call, when any. */
  readonly checkpoint?: string;
}

/** The options with defaults applied and the derived sizes. */
export interface TrainingPlan {
  readonly accumulation: number;
  readonly batchesPerEpoch: number;
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly totalEpochs: number;
  readonly schedule: LearningRateSchedule;
  readonly scheduleSpec: Required<TrainingScheduleSpec>;
  readonly evalInterval: number;
  readonly checkpointInterval: number;
  readonly keepCheckpoints: number;
}

export const TRAINER_OP = "cpu.train";

/** An `invalid_argument` error of the trainer. */
export function trainerInvalid(message: string, details?: Record<string, unknown>): InferenceError {
  return new InferenceError({ code: "invalid_argument", op: TRAINER_OP, message, ...(details === undefined ? {} : { details }) });
}

function count(name: string, value: number | undefined, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw trainerInvalid(`${name} must be an integer >= ${min}, got ${String(value)}`, { [name]: value });
  return value;
}

/**
 * Checks the options against the data and derives the plan. Throws `invalid_argument` for a bad count, both or
 * an invalid `epochs`/`maxSteps`, an empty training split, `resume` without `checkpointDir`, or a bad schedule.
 *
 * @example resolveTrainingPlan({ epochs: 2, gradientAccumulation: 2 }, 10) // 5 steps per epoch, 10 in all
 */
export function resolveTrainingPlan(opts: TrainingOptions, batchesPerEpoch: number): TrainingPlan {
  if (opts.epochs !== undefined && opts.maxSteps !== undefined) throw trainerInvalid("give epochs or maxSteps, not both");
  const accumulation = count("gradientAccumulation", opts.gradientAccumulation, 1, 1);
  if (batchesPerEpoch < 1) throw trainerInvalid("the training split has no batch", { batchesPerEpoch });
  const stepsPerEpoch = Math.ceil(batchesPerEpoch / accumulation);
  let totalSteps: number;
  let totalEpochs: number;
  if (opts.maxSteps !== undefined) {
    totalSteps = count("maxSteps", opts.maxSteps, 1, 1);
    totalEpochs = Math.ceil(totalSteps / stepsPerEpoch);
  } else {
    totalEpochs = count("epochs", opts.epochs, 1, 1);
    totalSteps = totalEpochs * stepsPerEpoch;
  }
  if (opts.resume === true && opts.checkpointDir === undefined) throw trainerInvalid("resume needs checkpointDir");
  if (opts.checkpointDir !== undefined && (typeof opts.checkpointDir !== "string" || opts.checkpointDir.length === 0)) {
    throw trainerInvalid("checkpointDir must be a non-empty path");
  }
  const given = opts.schedule ?? { kind: "cosine", lr: 1e-4 };
  const scheduleSpec: Required<TrainingScheduleSpec> = {
    kind: given.kind,
    lr: given.lr,
    warmupSteps: given.warmupSteps ?? 0,
    minLr: given.minLr ?? 0,
  };
  let schedule: LearningRateSchedule;
  try {
    schedule = given.kind === "constant"
      ? createSchedule({ kind: "constant", lr: scheduleSpec.lr, warmupSteps: scheduleSpec.warmupSteps })
      : createSchedule({ kind: given.kind, lr: scheduleSpec.lr, warmupSteps: scheduleSpec.warmupSteps, minLr: scheduleSpec.minLr, totalSteps });
  } catch (cause) {
    // The schedule's own text, under the trainer's op (its op prefix would repeat the message).
    throw trainerInvalid(`schedule: ${cause instanceof InferenceError ? cause.detail : String(cause)}`, { schedule: scheduleSpec });
  }
  return {
    accumulation,
    batchesPerEpoch,
    stepsPerEpoch,
    totalSteps,
    totalEpochs,
    schedule,
    scheduleSpec,
    evalInterval: count("evalInterval", opts.evalInterval, 0, 0),
    checkpointInterval: count("checkpointInterval", opts.checkpointInterval, 0, 0),
    keepCheckpoints: count("keepCheckpoints", opts.keepCheckpoints, 0, 0),
  };
}
