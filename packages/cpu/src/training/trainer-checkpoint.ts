/**
 * Checkpoints of the training loop on disk: one directory per checkpoint, `step-NNNNNNNN/`, holding the model's
 * training state (whatever `saveTrainingState` writes) and `trainer-state.json` (the loop's position: step, epoch,
 * batch within the epoch, and what the run was planned with, so a resume over other data or batching is refused).
 * The JSON is written last and atomically, so a directory without it is an interrupted save and is ignored.
 * This file does not run the loop (`trainer.ts`) nor know the model's state format.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InferenceError, type TrainingBatch } from "@dappcore/inference";
import { TRAINER_OP, trainerInvalid, type TrainerModel, type TrainingScheduleSpec } from "./trainer-options.js";

export const TRAINER_STATE_FILE = "trainer-state.json";
const FORMAT = 1;
const NAME = /^step-(\d{8,})$/;

/** Where the loop stands and what it was planned with; what `trainer-state.json` holds. */
export interface TrainerState {
  readonly format: number;
  /** Optimiser steps done. */
  readonly step: number;
  /** The epoch the next batch comes from (0-based). */
  readonly epoch: number;
  /** The index of the next batch within that epoch. */
  readonly batchIndex: number;
  readonly totalSteps: number;
  readonly gradientAccumulation: number;
  readonly batchesPerEpoch: number;
  readonly schedule: Required<TrainingScheduleSpec>;
  /** `dataFingerprint` of the training split's first epoch. */
  readonly dataFingerprint: string;
  /** The last step's loss (null before any step). */
  readonly lastLoss: number | null;
  /** The last held-out loss (null when none). */
  readonly lastEvalLoss: number | null;
}

/** The directory name of the checkpoint after `step` steps. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, "0")}`;
}

/**
 * FNV-1a (32-bit) over the sequences' tokens and masks, in order: the same data, shuffled and batched the same way,
 * gives the same hex string.
 *
 * @example dataFingerprint(train.batches(0))
 */
export function dataFingerprint(batches: readonly TrainingBatch[]): string {
  let h = 0x811c9dc5;
  const mix = (v: number) => {
    h ^= v & 0xffff;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= v >>> 16;
    h = Math.imul(h, 0x01000193) >>> 0;
  };
  for (const batch of batches) {
    mix(batch.tokens.length);
    batch.tokens.forEach((row, r) => {
      mix(row.length);
      for (const id of row) mix(id);
      const mask = batch.lossMask?.[r];
      if (mask !== undefined) for (const m of mask) mix(m === 0 ? 0 : 1);
      else mix(0xffff);
    });
  }
  return h.toString(16).padStart(8, "0");
}

/**
 * Writes the checkpoint after `state.step` steps into `root/step-NNNNNNNN/` (replacing one left there), then
 * removes all but the newest `keep` checkpoints (0 keeps all). Answers the directory. Throws the model's error
 * when its state cannot be saved, `internal` when the files cannot be written.
 */
export async function writeCheckpoint(model: TrainerModel, root: string, state: TrainerState, keep: number): Promise<string> {
  const dir = join(root, checkpointName(state.step));
  try {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
  } catch (cause) {
    throw ioFailure(`cannot create checkpoint directory ${dir}`, dir, cause);
  }
  const saved = await model.saveTrainingState(dir);
  if (!saved.ok) throw saved.error;
  const file = join(dir, TRAINER_STATE_FILE);
  try {
    await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
  } catch (cause) {
    throw ioFailure(`cannot write ${file}`, dir, cause);
  }
  if (keep > 0) {
    const all = await listCheckpoints(root);
    for (const old of all.slice(0, Math.max(0, all.length - keep))) {
      if (old.dir !== dir) await rm(old.dir, { recursive: true, force: true });
    }
  }
  return dir;
}

/** Complete checkpoints under `root` (those with a trainer-state.json), oldest first; [] when `root` is missing. */
export async function listCheckpoints(root: string): Promise<{ step: number; dir: string }[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return [];
    throw ioFailure(`cannot list checkpoints in ${root}`, root, cause);
  }
  const found: { step: number; dir: string }[] = [];
  for (const name of names) {
    const m = NAME.exec(name);
    if (m === null) continue;
    const dir = join(root, name);
    const complete = await readFile(join(dir, TRAINER_STATE_FILE), "utf8").then(() => true, () => false);
    if (complete) found.push({ step: Number(m[1]), dir });
  }
  return found.sort((a, b) => a.step - b.step);
}

/**
 * Reads and checks `dir/trainer-state.json`. Throws `invalid_argument` naming the file when it is missing, not
 * JSON, or lacks a field.
 */
export async function readTrainerState(dir: string): Promise<TrainerState> {
  const file = join(dir, TRAINER_STATE_FILE);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (cause) {
    throw new InferenceError({ code: "invalid_argument", op: TRAINER_OP, message: `checkpoint state ${file} is unreadable`, cause, details: { path: file } });
  }
  const s = value as Partial<Record<keyof TrainerState, unknown>>;
  const isCount = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  const bad = (field: string) => trainerInvalid(`checkpoint state ${file}: ${field} is missing or invalid`, { path: file, field });
  if (typeof value !== "object" || value === null) throw bad("the object");
  if (s.format !== FORMAT) throw bad(`format (expected ${FORMAT})`);
  for (const k of ["step", "epoch", "batchIndex", "totalSteps", "gradientAccumulation", "batchesPerEpoch"] as const) {
    if (!isCount(s[k])) throw bad(k);
  }
  if (typeof s.dataFingerprint !== "string") throw bad("dataFingerprint");
  const sched = s.schedule as Partial<Record<string, unknown>> | undefined;
  if (typeof sched !== "object" || sched === null || typeof sched.kind !== "string" || typeof sched.lr !== "number") throw bad("schedule");
  for (const k of ["lastLoss", "lastEvalLoss"] as const) if (s[k] !== null && typeof s[k] !== "number") throw bad(k);
  return value as TrainerState;
}

/** The new trainer state's format number, for callers building one. */
export const TRAINER_STATE_FORMAT = FORMAT;

function ioFailure(message: string, path: string, cause: unknown): InferenceError {
  return new InferenceError({ code: "internal", op: TRAINER_OP, message, cause, details: { path } });
}
