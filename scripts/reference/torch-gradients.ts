/**
 * The PyTorch gradient harness: runs scripts/reference/torch_gradients.py (autograd through the Hugging Face-faithful
 * float32 forward of torch_reference.py, on Debian's python3-torch) for one or more (checkpoint, batch) jobs in one
 * process, and returns each job's loss and the gradient of every trainable tensor, full (Hugging Face names) or LoRA
 * (PEFT lora_A/lora_B names). Tensors travel through temporary safetensors files, never JSON. Also the agreement
 * metric the trainer's gradients are held to. It is not part of any published package and never runs our trainer.
 *
 * The interpreter is /usr/bin/python3 (Debian's, where apt installs python3-torch); TORCH_REFERENCE_PYTHON names
 * another, as for torch-reference.ts.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InferenceError } from "@dappcore/inference";
import { openSafetensors } from "../../packages/cpu/src/loader/safetensors-reader.js";
import { writeSafetensors, type TensorToWrite } from "../../packages/cpu/src/loader/safetensors-writer.js";
import { torchPython } from "./torch-reference.js";

const SCRIPT = fileURLToPath(new URL("./torch_gradients.py", import.meta.url));
const OP = "reference.torchGradients";
const REMEDY = "install PyTorch for /usr/bin/python3 (Debian/Ubuntu: apt-get install python3-torch)";

/** A LoRA tensor sent to the reference: its PEFT name, shape and current value. */
export interface TorchLoraTensor {
  /** e.g. `model.layers.0.self_attn.q_proj.lora_A.weight` (r, in) or `...lora_B.weight` (out, r). */
  readonly name: string;
  readonly shape: readonly number[];
  readonly value: ArrayLike<number>;
}

/** One gradient computation: a checkpoint directory and a batch. */
export interface TorchGradientJob {
  /** A Hugging Face model directory (config.json + safetensors). */
  readonly modelDir: string;
  /** Token ids (B, T), row-major. */
  readonly tokens: Int32Array;
  /**
   * Loss mask (B, T) of 0 and 1: position t counts (predicting token t + 1) when mask[b, t] is 1. Default: all 1.
   * @example Float32Array.from([0, 0, 1, 1, 1, 1]) // B = 1, T = 6: the first two predictions are prompt
   */
  readonly mask?: Float32Array;
  readonly B: number;
  readonly T: number;
  /**
   * LoRA mode: the A/B tensors to train (the checkpoint is frozen) and the scale alpha / r. Default: full mode,
   * every checkpoint tensor trains.
   * @example { scale: 2, tensors: model.parameters().map(({ name, shape, value }) => ({ name, shape, value })) }
   */
  readonly lora?: { readonly scale: number; readonly tensors: readonly TorchLoraTensor[] };
  /**
   * Precision of the PyTorch computation. Default "float32" (as Hugging Face trains in float32); "float64" tells
   * float32 rounding from a real difference.
   * @example { ...job, precision: "float64" }
   */
  readonly precision?: "float32" | "float64";
}

/** The reference's answer to one job. */
export interface TorchGradientResult {
  /** The mean masked cross-entropy, as PyTorch computed it (float32 unless the job asked for float64). */
  readonly loss: number;
  /** The number of targets the mask counted. */
  readonly count: number;
  /** The gradient of every trainable tensor by name (rounded to float32). */
  readonly grads: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>;
}

interface Exit {
  readonly status: number | null;
  readonly stderr: string;
}

function runPython(args: readonly string[]): Promise<Exit> {
  const python = torchPython();
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { stdio: ["ignore", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (cause: NodeJS.ErrnoException) => {
      reject(new InferenceError({ code: "unsupported", op: OP, message: `cannot run ${python}`, cause, details: { python }, remedy: REMEDY }));
    });
    child.on("close", (status) => resolve({ status, stderr: Buffer.concat(err).toString("utf8").trim() }));
  });
}

function lastLine(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return (lines.at(-1) ?? "no message").replace(/^torch_(gradients|reference): /, "");
}

function invalid(message: string, details?: Record<string, unknown>): never {
  throw new InferenceError({ code: "invalid_argument", op: OP, message, details });
}

function checkJob(job: TorchGradientJob, index: number): void {
  const { B, T, tokens, mask, lora } = job;
  const at = `job ${index}`;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 2) {
    invalid(`${at}: B must be a positive integer and T at least 2, got B = ${B}, T = ${T}`, { index, B, T });
  }
  if (tokens.length !== B * T) invalid(`${at}: tokens has ${tokens.length} entries for B·T = ${B * T}`, { index });
  if (mask !== undefined && mask.length !== B * T) invalid(`${at}: mask has ${mask.length} entries for B·T = ${B * T}`, { index });
  if (lora !== undefined) {
    if (!Number.isFinite(lora.scale)) invalid(`${at}: the LoRA scale must be finite, got ${lora.scale}`, { index });
    if (lora.tensors.length === 0) invalid(`${at}: LoRA mode needs at least one lora_A/lora_B tensor`, { index });
    for (const t of lora.tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (n !== t.value.length) invalid(`${at}: ${t.name} has ${t.value.length} values for shape [${t.shape.join(", ")}]`, { index });
    }
  }
}

function f32(name: string, shape: readonly number[], values: ArrayLike<number>): TensorToWrite {
  return { name, dtype: "F32", shape, data: new Uint8Array(Float32Array.from(values).buffer) };
}

/** Writes one job's batch file. */
async function writeBatch(path: string, job: TorchGradientJob): Promise<void> {
  const { B, T } = job;
  const tensors: TensorToWrite[] = [
    { name: "tokens", dtype: "I32", shape: [B, T], data: new Uint8Array(Int32Array.from(job.tokens).buffer) },
    f32("mask", [B, T], job.mask ?? new Float32Array(B * T).fill(1)),
  ];
  const metadata: Record<string, string> = { mode: job.lora === undefined ? "full" : "lora", precision: job.precision ?? "float32" };
  if (job.lora !== undefined) {
    metadata.lora_scale = String(job.lora.scale);
    for (const t of job.lora.tensors) tensors.push(f32(t.name, t.shape, t.value));
  }
  await writeSafetensors(path, tensors, metadata);
}

/** Reads one job's answer. */
async function readAnswer(path: string): Promise<TorchGradientResult> {
  const malformed = (why: string, cause?: unknown) =>
    new InferenceError({ code: "internal", op: OP, message: `malformed reference output: ${why}`, cause, details: { path } });
  const file = await openSafetensors(path).catch((cause: unknown) => {
    throw malformed("the output file cannot be read", cause);
  });
  try {
    const loss = Number(file.metadata.loss);
    const count = Number(file.metadata.count);
    if (!Number.isFinite(loss) || !Number.isInteger(count) || count < 1) {
      throw malformed(`metadata loss ${JSON.stringify(file.metadata.loss)} and count ${JSON.stringify(file.metadata.count)}`);
    }
    const grads = new Map<string, { shape: readonly number[]; data: Float32Array }>();
    for (const [name, entry] of file.entries) {
      if (entry.dtype !== "F32") throw malformed(`gradient ${name} has dtype ${entry.dtype}, expected F32`);
      const t = await file.readTensor(name);
      grads.set(name, { shape: [...t.shape], data: new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4) });
    }
    return { loss, count, grads };
  } finally {
    await file.close();
  }
}

/**
 * Runs every job in one PyTorch process and returns their results in order. Throws `InferenceError`:
 * `invalid_argument` for inconsistent sizes (before anything runs) or input the script refuses (a token outside the
 * vocabulary, a mask that counts nothing, a LoRA tensor that names no projection or does not fit it, a directory
 * without config.json), `unsupported` when python or torch is missing (with the apt remedy) or the model is not one
 * the reference runs, `invalid_model` for a broken checkpoint, `internal` when the script fails otherwise or its
 * output cannot be read.
 *
 * @example const [r] = await torchGradients([{ modelDir: dir, tokens, mask, B: 2, T: 12 }]); r.grads.get("model.norm.weight")
 */
export async function torchGradients(jobs: readonly TorchGradientJob[]): Promise<TorchGradientResult[]> {
  if (jobs.length === 0) invalid("at least one job is needed");
  jobs.forEach(checkJob);
  const work = await mkdtemp(join(tmpdir(), "torch-gradients-"));
  try {
    const args: string[] = [SCRIPT];
    for (let i = 0; i < jobs.length; i++) {
      const input = join(work, `batch-${i}.safetensors`);
      await writeBatch(input, jobs[i]);
      args.push(jobs[i].modelDir, input, join(work, `grads-${i}.safetensors`));
    }
    const r = await runPython(args);
    if (r.status !== 0) {
      const message = lastLine(r.stderr);
      const details = { status: r.status };
      switch (r.status) {
        case 2:
          throw new InferenceError({ code: "invalid_argument", op: OP, message, details });
        case 3:
          throw new InferenceError({ code: "unsupported", op: OP, message, details, remedy: REMEDY });
        case 4:
          throw new InferenceError({ code: "unsupported", op: OP, message, details });
        case 5:
          throw new InferenceError({ code: "invalid_model", op: OP, message, details });
        default:
          throw new InferenceError({ code: "internal", op: OP, message: `the script failed: ${message}`, details });
      }
    }
    const out: TorchGradientResult[] = [];
    for (let i = 0; i < jobs.length; i++) out.push(await readAnswer(join(work, `grads-${i}.safetensors`)));
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** How far one gradient tensor is from the reference's. */
export interface GradientAgreement {
  /** max |ours − theirs|. */
  readonly maxAbsError: number;
  /** max |theirs|. */
  readonly maxAbs: number;
  /** maxAbsError / maxAbs (0 when both are all zero, Infinity when only theirs is). The bound is on this. */
  readonly relative: number;
  /** The worst |ours − theirs| / |theirs| over the elements whose |theirs| exceeds 1e-3 · maxAbs (reported). */
  readonly worstElementRelative: number;
}

/**
 * The agreement metric of one tensor: the largest error relative to the largest reference magnitude, and the worst
 * elementwise relative error among the elements above 1e-3 of that magnitude. Throws `invalid_argument` when the
 * lengths differ.
 *
 * @example gradientAgreement([1, 2.0001], Float32Array.from([1, 2])).relative // ≈ 5e-5
 */
export function gradientAgreement(ours: ArrayLike<number>, theirs: ArrayLike<number>): GradientAgreement {
  if (ours.length !== theirs.length) invalid(`gradient lengths differ: ours ${ours.length}, the reference's ${theirs.length}`);
  let maxAbs = 0;
  let maxAbsError = 0;
  for (let i = 0; i < theirs.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(theirs[i]));
    const e = Math.abs(ours[i] - theirs[i]);
    maxAbsError = Number.isNaN(e) ? Infinity : Math.max(maxAbsError, e);
  }
  const floor = 1e-3 * maxAbs;
  let worstElementRelative = 0;
  for (let i = 0; i < theirs.length; i++) {
    const m = Math.abs(theirs[i]);
    if (m > floor) worstElementRelative = Math.max(worstElementRelative, Math.abs(ours[i] - theirs[i]) / m);
  }
  const relative = maxAbs > 0 ? maxAbsError / maxAbs : maxAbsError > 0 ? Infinity : 0;
  return { maxAbsError, maxAbs, relative, worstElementRelative };
}
