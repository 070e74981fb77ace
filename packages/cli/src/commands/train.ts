/**
 * `inference train --data train.jsonl --out OUT`: fine-tunes a model on a JSONL dataset (LoRA or full), with a
 * progress line (loss, tokens/s) on stderr, held-out evaluation, checkpoints and resume, and writes the adapter
 * (a PEFT directory) or the full weights (a Hugging Face model directory) to OUT. Ctrl-C stops at a step boundary,
 * saves a checkpoint and exits 130. This file parses the command and reports; the loop is the cpu package's
 * `runTraining` and the numerics are the trainable model's.
 */
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Adapter, LoRAConfig } from "@dappcore/inference";
import type { EvalResult, PreparedDataset, TrainingOptions, TrainingProgress, TrainingSummary } from "@dappcore/inference-cpu";
import { CliFailure, ExitCode, UsageError } from "../cli-failure.js";
import { writeLine, type CliIO, type OutputStream } from "../cli-io.js";
import type { CliRuntime, CliTrainableModel, TrainingKit } from "../cli-runtime.js";
import { abortedError, Interrupt, interruptedError } from "../interrupt.js";
import { locateModel, requireModel } from "../model-path.js";
import { boolFlag, decimalFlag, integerFlag, parseFlags, stringFlag, type FlagValues } from "../parse-flags.js";
import { renderProgressLine } from "../progress-bar.js";

const C = "train";

/** The defaults the help text states. */
export const trainDefaults = {
  mode: "lora",
  rank: 8,
  alpha: 16,
  targets: ["q_proj", "v_proj"],
  lr: { lora: 2e-4, full: 5e-5 },
  schedule: "cosine",
  batch: 4,
  seqLen: 256,
  seed: 0,
} as const;

export const trainHelp = `Usage: inference train [flags] --data train.jsonl --out OUT

Fine-tunes the model on a JSONL dataset: one {"text": ...} or {"messages": [{"role", "content"}, ...]} per line
(chat records learn only the assistant turns). Writes a LoRA adapter (PEFT directory) or, with --mode full, a
complete model directory to OUT. Ctrl-C stops at a step boundary and saves a checkpoint (exit code 130).

Data:
  -m, --model DIR            base model directory (default: $INFERENCE_MODEL, else the bundled model)
      --data FILE            training data, JSONL (required)
      --eval FILE            held-out data, JSONL
      --eval-every-k K       hold out every K-th record of --data instead, K >= 2
      --seq-len T            tokens per sequence, T >= 1 (default ${trainDefaults.seqLen})
      --batch B              sequences per batch, B >= 1 (default ${trainDefaults.batch})
      --seed S               seed of the shuffle and of the LoRA initialisation, S >= 0 (default ${trainDefaults.seed})

Training:
      --mode lora|full       train a LoRA adapter, or every weight (default ${trainDefaults.mode})
      --rank R               LoRA rank, R >= 1 (default ${trainDefaults.rank})
      --alpha A              LoRA alpha, A > 0; the update is scaled by A / R (default ${trainDefaults.alpha})
      --targets LIST         LoRA target modules, comma-separated (default ${trainDefaults.targets.join(",")})
      --epochs N             passes over the data, N >= 1 (default 1)
      --steps N              optimiser steps instead of epochs, N >= 1
      --lr LR                peak learning rate, LR > 0 (default ${trainDefaults.lr.lora} for lora, ${trainDefaults.lr.full} for full)
      --schedule NAME        cosine, linear or constant (default ${trainDefaults.schedule})
      --warmup N             steps of linear warmup, N >= 0 (default 0)
      --grad-accum K         batches per optimiser step, K >= 1 (default 1)
      --threads N            kernel threads, N >= 1 (default: the backend's choice)

Evaluation and checkpoints:
      --eval-interval N      held-out loss every N steps, N >= 0 (default 0: at the start and the end only)
      --checkpoint-dir DIR   where checkpoints go (default OUT/checkpoints)
      --checkpoint-interval N  a checkpoint every N steps, N >= 0 (default 0: on Ctrl-C and at the end)
      --resume               continue from the newest checkpoint, with the same data and flags

Output:
  -o, --out DIR              where the adapter or model is written (required)
  -h, --help                 show this help

Example:
  inference train -m ./qwen3-0.6b --data chats.jsonl --eval-every-k 10 --epochs 2 --rank 16 --out ./my-adapter`;

const flags = {
  model: { type: "string", short: "m" },
  data: { type: "string" },
  eval: { type: "string" },
  "eval-every-k": { type: "string" },
  mode: { type: "string" },
  rank: { type: "string" },
  alpha: { type: "string" },
  targets: { type: "string" },
  epochs: { type: "string" },
  steps: { type: "string" },
  lr: { type: "string" },
  schedule: { type: "string" },
  warmup: { type: "string" },
  batch: { type: "string" },
  "grad-accum": { type: "string" },
  "seq-len": { type: "string" },
  "eval-interval": { type: "string" },
  "checkpoint-dir": { type: "string" },
  "checkpoint-interval": { type: "string" },
  resume: { type: "boolean" },
  seed: { type: "string" },
  threads: { type: "string" },
  out: { type: "string", short: "o" },
  help: { type: "boolean", short: "h" },
} as const;

/** Everything the flags ask for, checked. */
interface TrainRequest {
  readonly model: string | undefined;
  readonly data: string;
  readonly evalPath: string | undefined;
  readonly evalEvery: number | undefined;
  readonly mode: "lora" | "full";
  readonly lora: LoRAConfig | undefined;
  readonly epochs: number | undefined;
  readonly steps: number | undefined;
  readonly schedule: "cosine" | "linear" | "constant";
  readonly lr: number;
  readonly warmup: number;
  readonly batch: number;
  readonly gradAccum: number;
  readonly seqLen: number;
  readonly evalInterval: number;
  readonly checkpointDir: string | undefined;
  readonly checkpointInterval: number;
  readonly resume: boolean;
  readonly seed: number;
  readonly threads: number | undefined;
  readonly out: string;
}

function requiredPath(values: FlagValues, name: string, what: string): string {
  const v = stringFlag(values, name);
  if (v === undefined || v.trim() === "") throw new UsageError(C, `missing --${name} ${what}`);
  return v;
}

function oneOf<T extends string>(values: FlagValues, name: string, allowed: readonly T[], fallback: T): T {
  const raw = stringFlag(values, name);
  if (raw === undefined) return fallback;
  const v = allowed.find((a) => a === raw.toLowerCase());
  if (v === undefined) throw new UsageError(C, `--${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(raw)}`);
  return v;
}

function trainRequestFrom(values: FlagValues): TrainRequest {
  const model = stringFlag(values, "model");
  if (model !== undefined && model.trim() === "") throw new UsageError(C, "--model needs a directory");
  const data = requiredPath(values, "data", "FILE (the training data, JSONL)");
  const out = requiredPath(values, "out", "DIR (where the result is written)");
  const evalPath = stringFlag(values, "eval");
  if (evalPath !== undefined && evalPath.trim() === "") throw new UsageError(C, "--eval needs a file");
  const evalEvery = integerFlag(C, values, "eval-every-k", 2);
  if (evalPath !== undefined && evalEvery !== undefined) throw new UsageError(C, "give --eval or --eval-every-k, not both");
  const mode = oneOf(values, "mode", ["lora", "full"] as const, trainDefaults.mode);
  const rank = integerFlag(C, values, "rank", 1);
  const alpha = decimalFlag(C, values, "alpha", { min: 0, minExclusive: true });
  const rawTargets = stringFlag(values, "targets");
  if (mode === "full") {
    const loraOnly = rank !== undefined ? "rank" : alpha !== undefined ? "alpha" : rawTargets !== undefined ? "targets" : undefined;
    if (loraOnly !== undefined) throw new UsageError(C, `--${loraOnly} applies only to --mode lora`);
  }
  let targets: string[] = [...trainDefaults.targets];
  if (rawTargets !== undefined) {
    targets = rawTargets.split(",").map((t) => t.trim());
    if (targets.some((t) => t.length === 0)) throw new UsageError(C, `--targets must be module names separated by commas, got ${JSON.stringify(rawTargets)}`);
  }
  const epochs = integerFlag(C, values, "epochs", 1);
  const steps = integerFlag(C, values, "steps", 1);
  if (epochs !== undefined && steps !== undefined) throw new UsageError(C, "give --epochs or --steps, not both");
  const evalInterval = integerFlag(C, values, "eval-interval", 0) ?? 0;
  if (evalInterval > 0 && evalPath === undefined && evalEvery === undefined) {
    throw new UsageError(C, "--eval-interval needs held-out data: --eval FILE or --eval-every-k K");
  }
  return {
    model,
    data,
    evalPath,
    evalEvery,
    mode,
    lora: mode === "lora" ? { rank: rank ?? trainDefaults.rank, alpha: alpha ?? trainDefaults.alpha, targetKeys: targets } : undefined,
    epochs,
    steps,
    schedule: oneOf(values, "schedule", ["cosine", "linear", "constant"] as const, trainDefaults.schedule),
    lr: decimalFlag(C, values, "lr", { min: 0, minExclusive: true }) ?? trainDefaults.lr[mode],
    warmup: integerFlag(C, values, "warmup", 0) ?? 0,
    batch: integerFlag(C, values, "batch", 1) ?? trainDefaults.batch,
    gradAccum: integerFlag(C, values, "grad-accum", 1) ?? 1,
    seqLen: integerFlag(C, values, "seq-len", 1) ?? trainDefaults.seqLen,
    evalInterval,
    checkpointDir: stringFlag(values, "checkpoint-dir"),
    checkpointInterval: integerFlag(C, values, "checkpoint-interval", 0) ?? 0,
    resume: boolFlag(values, "resume"),
    seed: integerFlag(C, values, "seed", 0) ?? trainDefaults.seed,
    threads: integerFlag(C, values, "threads", 1),
    out,
  };
}

async function requireFile(path: string, flag: string): Promise<void> {
  const s = await stat(path).catch(() => undefined);
  if (s === undefined || !s.isFile()) throw new CliFailure(`${flag} file not found: ${path}`, `${flag} takes a JSONL file, one {"text": ...} or {"messages": [...]} per line`);
}

export async function runTrain(args: readonly string[], io: CliIO, runtime: CliRuntime): Promise<number> {
  const { values } = parseFlags(C, args, flags, 0);
  if (boolFlag(values, "help")) {
    io.stdout.write(`${trainHelp}\n`);
    return ExitCode.ok;
  }
  const req = trainRequestFrom(values);
  const location = locateModel(req.model, io.env, io.cwd, runtime.defaultModelDir);
  const dataPath = resolve(io.cwd, req.data);
  const evalPath = req.evalPath === undefined ? undefined : resolve(io.cwd, req.evalPath);
  const out = resolve(io.cwd, req.out);
  const checkpointDir = resolve(io.cwd, req.checkpointDir ?? join(req.out, "checkpoints"));
  await requireModel(location);
  await requireFile(dataPath, "--data");
  if (evalPath !== undefined) await requireFile(evalPath, "--eval");
  if (runtime.training === undefined) throw new CliFailure("this build of the command cannot train", "reinstall @dappcore/inference-cli");
  const kit = await runtime.training();

  const data = await kit.loadDataset(dataPath, location.path, {
    seqLen: req.seqLen,
    batchSize: req.batch,
    seed: req.seed,
    ...(req.evalEvery === undefined ? {} : { heldOutEvery: req.evalEvery }),
    ...(evalPath === undefined ? {} : { heldOutPath: evalPath }),
  });
  const stepsPerEpoch = Math.ceil(data.train.batches(0).length / req.gradAccum);
  const totalSteps = req.steps ?? (req.epochs ?? 1) * stepsPerEpoch;
  if (req.schedule !== "constant" && req.warmup > totalSteps) {
    throw new UsageError(C, `--warmup (${req.warmup}) is longer than the run (${totalSteps} steps)`);
  }

  const interrupt = new Interrupt(io);
  try {
    const loaded = await kit.loadTrainable(location.path, {
      trainingMode: req.mode,
      seed: req.seed,
      signal: interrupt.signal,
      ...(req.threads === undefined ? {} : { threads: req.threads }),
    });
    if (!loaded.ok) throw loaded.error;
    const model = loaded.value;
    try {
      return await trainLoaded(io, kit.runTraining, model, data, req, { out, checkpointDir, totalSteps, interrupt });
    } finally {
      await model.close();
    }
  } catch (e) {
    throw interruptedError(interrupt, e);
  } finally {
    interrupt.dispose();
  }
}

interface RunPlace {
  readonly out: string;
  readonly checkpointDir: string;
  readonly totalSteps: number;
  readonly interrupt: Interrupt;
}

async function trainLoaded(
  io: CliIO,
  runTraining: TrainingKit["runTraining"],
  model: CliTrainableModel,
  data: PreparedDataset,
  req: TrainRequest,
  place: RunPlace,
): Promise<number> {
  let adapter: Adapter | undefined;
  if (req.lora !== undefined) {
    const applied = model.applyLoRA(req.lora);
    if (!applied.ok) throw applied.error;
    adapter = applied.value;
  }
  const what = req.lora === undefined ? "full fine-tuning" : `LoRA rank ${req.lora.rank}, alpha ${req.lora.alpha}, ${req.lora.targetKeys.join(",")}`;
  writeLine(io.stderr, `training: ${what}; ${data.train.sequences.length} sequences of ${req.seqLen + 1} tokens, batch ${req.batch} x ${req.gradAccum}, ${place.totalSteps} steps`);
  const options: TrainingOptions = {
    ...(req.steps === undefined ? { epochs: req.epochs ?? 1 } : { maxSteps: req.steps }),
    gradientAccumulation: req.gradAccum,
    schedule: { kind: req.schedule, lr: req.lr, warmupSteps: req.warmup },
    evalInterval: req.evalInterval,
    evalAtStart: true,
    checkpointDir: place.checkpointDir,
    checkpointInterval: req.checkpointInterval,
    keepCheckpoints: 2,
    resume: req.resume,
    signal: place.interrupt.signal,
  };
  const progress = new TrainProgress(io.stderr);
  let summary: TrainingSummary;
  try {
    summary = await runTraining(model, data, options, { onStep: (p) => progress.step(p), onEval: (e) => progress.evaluated(e) });
  } finally {
    progress.finish();
  }
  if (summary.stopped === "aborted") {
    const where = summary.checkpoint === undefined ? "" : `; checkpoint saved in ${summary.checkpoint} (add --resume to continue)`;
    writeLine(io.stderr, `stopped at step ${summary.steps} of ${summary.totalSteps}${where}`);
    throw abortedError();
  }
  const evalText = summary.evals.length === 0 ? "" : `, held-out loss ${summary.evals.map((e) => e.loss.toFixed(4)).filter((_, i, a) => i === 0 || i === a.length - 1).join(" -> ")}`;
  writeLine(io.stdout, `trained ${summary.steps} steps (${summary.epochs.toFixed(2)} epochs): loss ${summary.finalLoss.toFixed(4)}${evalText}, ${Math.round(summary.tokensPerSec)} tokens/s`);
  if (adapter !== undefined) {
    const saved = await adapter.save(place.out);
    if (!saved.ok) throw saved.error;
    writeLine(io.stdout, `wrote LoRA adapter (${adapter.totalParams()} parameters) to ${place.out}`);
  } else {
    const saved = await model.saveWeights(place.out);
    if (!saved.ok) throw saved.error;
    writeLine(io.stdout, `wrote model to ${place.out}`);
  }
  return ExitCode.ok;
}

/** `loss 1.2345  lr 2.00e-4  1234 tok/s` */
function stepFacts(p: TrainingProgress): string {
  return `loss ${p.loss.toFixed(4)}  lr ${p.learningRate.toExponential(2)}  ${Math.round(p.tokensPerSec)} tok/s`;
}

/**
 * Training progress on stderr: on a terminal one bar redrawn in place (at most every 100 ms, and at the last step);
 * elsewhere a plain line about every 5% of the run. Held-out losses always get a line of their own.
 */
class TrainProgress {
  readonly #stream: OutputStream;
  readonly #tty: boolean;
  #drawn = "";
  #lastDraw = Number.NEGATIVE_INFINITY;

  constructor(stream: OutputStream) {
    this.#stream = stream;
    this.#tty = stream.isTTY === true;
  }

  step(p: TrainingProgress): void {
    const epoch = `epoch ${p.epoch + 1}/${p.totalEpochs}`;
    if (!this.#tty) {
      const every = Math.max(1, Math.ceil(p.totalSteps / 20));
      if (p.step % every === 0 || p.step === p.totalSteps) writeLine(this.#stream, `step ${p.step}/${p.totalSteps}  ${epoch}  ${stepFacts(p)}`);
      return;
    }
    const now = Date.now();
    if (p.step !== p.totalSteps && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const width = Math.max(10, Math.min(30, (this.#stream.columns ?? 80) - 75));
    this.#drawn = `${renderProgressLine("training", p.step, p.totalSteps, "count", width)}  ${epoch}  ${stepFacts(p)}`;
    this.#stream.write(`\r${this.#drawn}\x1b[K`);
  }

  evaluated(e: EvalResult): void {
    if (this.#tty && this.#drawn !== "") this.#stream.write("\r\x1b[K");
    writeLine(this.#stream, `held-out loss ${e.loss.toFixed(4)} at step ${e.step} (${e.tokens} tokens)`);
    if (this.#tty && this.#drawn !== "") this.#stream.write(`${this.#drawn}\x1b[K`);
  }

  finish(): void {
    if (this.#tty && this.#drawn !== "") this.#stream.write("\r\x1b[K");
    this.#drawn = "";
  }
}
