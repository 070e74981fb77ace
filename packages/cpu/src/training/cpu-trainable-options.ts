/**
 * The load options of `CpuBackend.loadTrainable`: training mode and the optimiser's settings, read from a resolved
 * LoadConfig (plain object keys, e.g. `loadTrainable(dir, { trainingMode: "full", learningRate: 1e-3 })`, or the
 * functional `withTraining`), checked, with their defaults. Not the model (cpu-trainable-model.ts), not the optimiser.
 */
import { InferenceError, type LoadConfig, type LoadOptionFn } from "@dappcore/inference";

/** The training settings `loadTrainable` accepts next to the ordinary load options. */
export interface TrainableLoadOptions {
  /**
   * "lora": the base weights stay frozen (in their stored dtype) and an adapter from `applyLoRA` trains; "full":
   * every weight trains as a float32 copy (small models: values, gradients and two moments are 4× the float32 size).
   * Default "lora".
   * @example loadTrainable(dir, { trainingMode: "full" })
   */
  readonly trainingMode?: "lora" | "full";
  /**
   * AdamW learning rate (>= 0), changed between steps with `setLearningRate`. Default 1e-4 in LoRA mode, 1e-5 in
   * full mode (the usual starting points for adapters and for full fine-tuning).
   * @example loadTrainable(dir, { learningRate: 2e-4 })
   */
  readonly learningRate?: number;
  /** AdamW decoupled weight decay (>= 0). Default 0 (Hugging Face Trainer's default). @example { weightDecay: 0.01 } */
  readonly weightDecay?: number;
  /** AdamW moment decay rates, each in [0, 1). Default [0.9, 0.999]. @example { betas: [0.9, 0.95] } */
  readonly betas?: readonly [number, number];
  /** Clip the global gradient norm to this before each step; 0 turns clipping off. Default 1. @example { maxGradNorm: 0.5 } */
  readonly maxGradNorm?: number;
  /** Seed of the LoRA A initialisation and the dropout masks. Default 0. @example { seed: 42 } */
  readonly seed?: number;
}

/** The checked settings with every field present. */
export interface ResolvedTrainableOptions {
  readonly trainingMode: "lora" | "full";
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly betas: readonly [number, number];
  readonly maxGradNorm: number;
  readonly seed: number;
}

/**
 * The training settings as one functional load option.
 * @example loadTrainable(dir, withTraining({ trainingMode: "lora", learningRate: 2e-4 }))
 */
export function withTraining(options: TrainableLoadOptions): LoadOptionFn {
  return (draft) => void Object.assign(draft, options);
}

const op = "cpu.loadTrainable";

function invalid(option: string, message: string, value: unknown): InferenceError {
  return new InferenceError({
    code: "invalid_argument",
    op,
    message: `${option} ${message}, got ${Array.isArray(value) ? `[${value.join(", ")}]` : String(value)}`,
    details: { option },
  });
}

function rate(option: string, value: unknown, upper?: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (upper !== undefined && value >= upper)) {
    throw invalid(option, `must be a finite number >= 0${upper === undefined ? "" : ` and < ${upper}`}`, value);
  }
  return value;
}

/** Reads and checks the training settings of `load`; throws `invalid_argument` naming the option. */
export function readTrainableOptions(load: LoadConfig): ResolvedTrainableOptions {
  const o = load as unknown as Record<string, unknown>;
  const mode = o["trainingMode"] ?? "lora";
  if (mode !== "lora" && mode !== "full") throw invalid("trainingMode", 'must be "lora" or "full"', JSON.stringify(mode));
  const learningRate = rate("learningRate", o["learningRate"] ?? (mode === "lora" ? 1e-4 : 1e-5));
  const weightDecay = rate("weightDecay", o["weightDecay"] ?? 0);
  const betas = o["betas"] ?? [0.9, 0.999];
  if (!Array.isArray(betas) || betas.length !== 2) throw invalid("betas", "must be a pair of numbers in [0, 1)", betas);
  const b1 = rate("betas", betas[0], 1);
  const b2 = rate("betas", betas[1], 1);
  const maxGradNorm = rate("maxGradNorm", o["maxGradNorm"] ?? 1);
  const seed = o["seed"] ?? 0;
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0) throw invalid("seed", "must be a non-negative integer", seed);
  return { trainingMode: mode, learningRate, weightDecay, betas: [b1, b2], maxGradNorm, seed };
}
