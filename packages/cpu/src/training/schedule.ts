/**
 * Learning-rate schedules: functions from the index of an optimiser step (0 for the first) to its learning rate.
 * Constant, linear warmup then cosine decay to a floor, and linear warmup then linear decay. Warmup ramps
 * lr * (step + 1) / warmupSteps, so the first step already moves the weights (nanoGPT's convention; Hugging Face's
 * `get_cosine_schedule_with_warmup` starts at 0). This file does not own the optimiser (`optimizer.ts`).
 */
import { InferenceError } from "@dappcore/inference";

/** The learning rate of step `step` (an integer >= 0). */
export type LearningRateSchedule = (step: number) => number;

/** Options shared by every schedule. */
export interface ScheduleOptions {
  /** Peak learning rate (finite, >= 0). @example { lr: 3e-4 } */
  readonly lr: number;
  /** Steps of linear warmup from lr / warmupSteps up to lr. Default 0. @example { warmupSteps: 100 } */
  readonly warmupSteps?: number;
}

/** Options of the decaying schedules. */
export interface DecayScheduleOptions extends ScheduleOptions {
  /** The step at which decay reaches `minLr` (an integer > 0, >= warmupSteps); later steps stay there. @example { totalSteps: 1000 } */
  readonly totalSteps: number;
  /** The floor the decay ends at, in [0, lr]. Default 0. @example { minLr: 3e-5 } */
  readonly minLr?: number;
}

/** A schedule by name, as a command line gives it. */
export type ScheduleSpec =
  | ({ readonly kind: "constant" } & ScheduleOptions)
  | ({ readonly kind: "cosine" } & DecayScheduleOptions)
  | ({ readonly kind: "linear" } & DecayScheduleOptions);

const OP = "cpu.schedule";

function invalid(message: string): InferenceError {
  return new InferenceError({ code: "invalid_argument", op: OP, message });
}

function checkCommon(opts: ScheduleOptions): number {
  if (typeof opts.lr !== "number" || !Number.isFinite(opts.lr) || opts.lr < 0) {
    throw invalid(`lr must be a finite number >= 0, got ${String(opts.lr)}`);
  }
  const warmup = opts.warmupSteps ?? 0;
  if (!Number.isSafeInteger(warmup) || warmup < 0) throw invalid(`warmupSteps must be an integer >= 0, got ${String(warmup)}`);
  return warmup;
}

function checkDecay(opts: DecayScheduleOptions, warmup: number): number {
  const { totalSteps } = opts;
  if (!Number.isSafeInteger(totalSteps) || totalSteps <= 0) throw invalid(`totalSteps must be an integer > 0, got ${String(totalSteps)}`);
  if (totalSteps < warmup) throw invalid(`totalSteps (${totalSteps}) must be >= warmupSteps (${warmup})`);
  const minLr = opts.minLr ?? 0;
  if (typeof minLr !== "number" || !Number.isFinite(minLr) || minLr < 0 || minLr > opts.lr) {
    throw invalid(`minLr must be in [0, lr = ${opts.lr}], got ${String(minLr)}`);
  }
  return minLr;
}

function checkStep(step: number): void {
  if (!Number.isSafeInteger(step) || step < 0) throw invalid(`step must be an integer >= 0, got ${String(step)}`);
}

/** lr * (step + 1) / warmup during warmup, else undefined. */
function warmupLr(lr: number, warmup: number, step: number): number | undefined {
  return step < warmup ? (lr * (step + 1)) / warmup : undefined;
}

/**
 * The same learning rate at every step, after an optional linear warmup.
 *
 * @example constantSchedule({ lr: 1e-3 })(10) // 0.001
 */
export function constantSchedule(opts: ScheduleOptions): LearningRateSchedule {
  const warmup = checkCommon(opts);
  return (step) => {
    checkStep(step);
    return warmupLr(opts.lr, warmup, step) ?? opts.lr;
  };
}

/**
 * Linear warmup, then half a cosine from lr at step `warmupSteps` down to `minLr` at step `totalSteps`.
 *
 * @example cosineSchedule({ lr: 1e-3, warmupSteps: 10, totalSteps: 100, minLr: 1e-4 })
 */
export function cosineSchedule(opts: DecayScheduleOptions): LearningRateSchedule {
  const warmup = checkCommon(opts);
  const minLr = checkDecay(opts, warmup);
  const span = Math.max(1, opts.totalSteps - warmup);
  return (step) => {
    checkStep(step);
    const w = warmupLr(opts.lr, warmup, step);
    if (w !== undefined) return w;
    const progress = Math.min(1, (step - warmup) / span);
    return minLr + (opts.lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/**
 * Linear warmup, then a straight line from lr at step `warmupSteps` down to `minLr` at step `totalSteps`.
 *
 * @example linearSchedule({ lr: 1e-3, totalSteps: 100 })(50) // 0.0005
 */
export function linearSchedule(opts: DecayScheduleOptions): LearningRateSchedule {
  const warmup = checkCommon(opts);
  const minLr = checkDecay(opts, warmup);
  const span = Math.max(1, opts.totalSteps - warmup);
  return (step) => {
    checkStep(step);
    const w = warmupLr(opts.lr, warmup, step);
    if (w !== undefined) return w;
    const progress = Math.min(1, (step - warmup) / span);
    return opts.lr + (minLr - opts.lr) * progress;
  };
}

/**
 * The schedule a spec names. Throws `invalid_argument` for an unknown kind or bad options.
 *
 * @example createSchedule({ kind: "cosine", lr: 3e-4, warmupSteps: 20, totalSteps: 500 })
 */
export function createSchedule(spec: ScheduleSpec): LearningRateSchedule {
  switch (spec.kind) {
    case "constant":
      return constantSchedule(spec);
    case "cosine":
      return cosineSchedule(spec);
    case "linear":
      return linearSchedule(spec);
    default:
      throw invalid(`unknown schedule "${String((spec as { kind?: unknown }).kind)}"; expected constant, cosine or linear`);
  }
}
