/**
 * The PyTorch reference harness: runs scripts/reference/torch_reference.py (a Hugging Face-faithful forward pass in
 * float32, written on Debian's python3-torch) on a model directory and returns what our engine is compared against:
 * the log-softmax over the vocabulary at every position of an input, and greedy continuations. It is the only
 * producer of PyTorch reference data; it is not part of any published package and never runs our engine.
 *
 * The interpreter is /usr/bin/python3 (Debian's, where apt installs python3-torch); TORCH_REFERENCE_PYTHON names
 * another. Log-softmax is computed here in float64 from the float32 logits the script prints, the same way the
 * agreement tests compute our engine's.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { InferenceError } from "@dappcore/inference";

const SCRIPT = fileURLToPath(new URL("./torch_reference.py", import.meta.url));
const OP = "reference.torch";
const REMEDY = "install PyTorch for /usr/bin/python3 (Debian/Ubuntu: apt-get install python3-torch)";

/** The interpreter the harness runs: TORCH_REFERENCE_PYTHON or /usr/bin/python3. */
export function torchPython(): string {
  return process.env.TORCH_REFERENCE_PYTHON ?? "/usr/bin/python3";
}

/** What one run of the reference returns. */
export interface TorchReferenceRun {
  /** Float32 logits of every input position, one (V) row per position. */
  readonly logits: Float32Array[];
  /** The greedy continuation (argmax, full forward pass per token); empty when none was asked for. */
  readonly greedy: number[];
}

interface Exit {
  readonly status: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

function runPython(args: readonly string[]): Promise<Exit> {
  const python = torchPython();
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (cause: NodeJS.ErrnoException) => {
      reject(
        new InferenceError({
          code: "unsupported",
          op: OP,
          message: `cannot run ${python}`,
          cause,
          details: { python },
          remedy: REMEDY,
        }),
      );
    });
    child.on("close", (status) => {
      resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString("utf8").trim() });
    });
  });
}

/**
 * Whether the reference can run here: the interpreter starts and imports torch. Resolves to `{ ok: true }` or to
 * `{ ok: false, reason }` (never rejects), for tests that skip with a stated reason.
 */
export async function torchAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    const r = await runPython(["-c", "import torch"]);
    if (r.status === 0) return { ok: true };
    return { ok: false, reason: `${torchPython()} cannot import torch: ${lastLine(r.stderr)}` };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

function lastLine(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  return (lines.at(-1) ?? "no message").replace(/^torch_reference: /, "");
}

function checkTokens(tokens: readonly number[], greedy: number): void {
  if (tokens.length === 0) {
    throw new InferenceError({ code: "invalid_argument", op: OP, message: "at least one input token is needed" });
  }
  const bad = tokens.findIndex((t) => !Number.isInteger(t) || t < 0);
  if (bad >= 0) {
    throw new InferenceError({
      code: "invalid_argument",
      op: OP,
      message: `token ${tokens[bad]} at index ${bad} is not a non-negative integer`,
      details: { index: bad, tokenId: tokens[bad] },
    });
  }
  if (!Number.isInteger(greedy) || greedy < 0) {
    throw new InferenceError({
      code: "invalid_argument",
      op: OP,
      message: `the number of greedy tokens must be a non-negative integer, got ${greedy}`,
    });
  }
}

/**
 * Runs the reference once on the checkpoint in `dir`: logits at every position of `tokens` and a `greedy`-token
 * continuation (default 0). Throws `InferenceError`: `unsupported` when python or torch is missing (with the
 * remedy) or the model is not one the reference runs, `invalid_argument` for bad tokens or a directory without
 * config.json, `invalid_model` for a broken checkpoint, `internal` when the script fails otherwise.
 */
export async function runTorchReference(dir: string, tokens: readonly number[], greedy = 0): Promise<TorchReferenceRun> {
  checkTokens(tokens, greedy);
  const r = await runPython([SCRIPT, dir, tokens.join(","), String(greedy)]);
  if (r.status !== 0) {
    const message = lastLine(r.stderr);
    const details = { dir, status: r.status };
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
  return parseOutput(r.stdout, tokens.length, greedy);
}

/** Parses the script's stdout: one JSON line {positions, vocab, greedy}, then (T, V) little-endian float32. */
function parseOutput(stdout: Buffer, T: number, greedy: number): TorchReferenceRun {
  const malformed = (why: string) =>
    new InferenceError({ code: "internal", op: OP, message: `malformed reference output: ${why}` });
  const nl = stdout.indexOf(0x0a);
  if (nl < 0) throw malformed("no header line");
  let head: { positions: number; vocab: number; greedy: number[] };
  try {
    head = JSON.parse(stdout.subarray(0, nl).toString("utf8"));
  } catch (cause) {
    throw malformed(`header is not JSON (${(cause as Error).message})`);
  }
  const V = head.vocab;
  if (head.positions !== T || !Number.isInteger(V) || V < 1 || !Array.isArray(head.greedy) || head.greedy.length !== greedy) {
    throw malformed(`header ${JSON.stringify(head)} does not match ${T} positions and ${greedy} greedy tokens`);
  }
  const body = stdout.subarray(nl + 1);
  if (body.length !== T * V * 4) throw malformed(`${body.length} bytes of logits, expected ${T * V * 4}`);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const logits: Float32Array[] = [];
  for (let t = 0; t < T; t++) {
    const row = new Float32Array(V); // (V)
    for (let v = 0; v < V; v++) row[v] = view.getFloat32((t * V + v) * 4, true);
    logits.push(row);
  }
  return { logits, greedy: head.greedy };
}

/** Log-softmax of one row, in float64. */
export function logSoftmax64(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - lse);
}

/**
 * Log-softmax over the vocabulary at every position of `tokens`, computed in float64 from PyTorch's float32
 * logits (the returned rows are Float32Array: each value rounded once at the end). Throws as `runTorchReference`.
 *
 * @example const rows = await torchLogProbs("/tmp/ckpt", [72, 101, 108]); // rows[t][v] = log p(v | tokens[0..t])
 */
export async function torchLogProbs(dir: string, tokens: readonly number[]): Promise<Float32Array[]> {
  const { logits } = await runTorchReference(dir, tokens, 0);
  return logits.map((row) => Float32Array.from(logSoftmax64(row)));
}

/**
 * The `n`-token greedy continuation of `tokens` in PyTorch. Throws as `runTorchReference`.
 *
 * @example const ids = await torchGreedy("/tmp/ckpt", [72, 101, 108], 32);
 */
export async function torchGreedy(dir: string, tokens: readonly number[], n: number): Promise<number[]> {
  const { greedy } = await runTorchReference(dir, tokens, n);
  return greedy;
}
