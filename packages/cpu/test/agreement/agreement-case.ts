/**
 * Test helper for the llama.cpp agreement tests: makes a tiny random checkpoint, converts it to GGUF with our
 * converter, runs it in llama.cpp through the reference harness (scripts/reference/llama-cpp.ts) and in our engine,
 * and returns the largest log-softmax difference and both greedy continuations. It asserts nothing itself.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeRandomCheckpoint, type RandomCheckpointSpec } from "../../src/checkpoint/random-checkpoint.js";
import { convertCheckpointToGGUF } from "../../src/convert-to-gguf.js";
import { Transformer } from "../../src/engine/transformer.js";
import type { KernelSet } from "../../src/engine/forward-kernels.js";
import { loadEngineCheckpoint } from "../../src/engine/arena-checkpoint.js";
import { loadGGUFCheckpoint } from "../../src/loader/gguf-checkpoint.js";
import type { KVCacheType } from "../../src/engine/kv-cache.js";
import type { Quantization } from "../../src/engine/quantization.js";
import { WasmRuntime } from "../../src/engine/wasm-runtime.js";
import { llamaCppGreedy, llamaCppLogProbs } from "../../../../scripts/reference/llama-cpp.js";

/** 16 input tokens: bytes of "Hello, world!\n", a high byte and the two special tokens of the test tokenizer. */
export const INPUT = [72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 10, 257, 200];
export const GREEDY = 32;

export interface AgreementResult {
  /** max over positions and vocabulary of |log-softmax ours − log-softmax llama.cpp|. */
  readonly maxDelta: number;
  readonly ours: number[];
  readonly theirs: number[];
}

const dirs: string[] = [];

/** Removes the checkpoints made so far (call from afterAll). */
export async function removeAgreementDirs(): Promise<void> {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - lse);
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  return best;
}

/**
 * Our side of a case: the kernel set (default wasm, weights read into its arena), a load-time quantisation, or
 * `fromGGUF` to read the very GGUF file llama.cpp runs (in the types it stores) instead of the checkpoint directory.
 */
export interface AgreementOptions {
  readonly kernels?: KernelSet;
  readonly quantization?: Quantization;
  readonly fromGGUF?: boolean;
  /** Both sides' KV cache: ours `kvCacheType`, llama.cpp's the same type. Default "f32". */
  readonly kvCacheType?: KVCacheType;
}

/** Runs one checkpoint spec through both engines; `type` is the GGUF weight type llama.cpp runs. */
export async function runAgreement(
  spec: RandomCheckpointSpec,
  type: "f32" | "f16" | "bf16" | "q8_0" | "q4_0",
  opts: AgreementOptions = {},
): Promise<AgreementResult> {
  const dir = await mkdtemp(join(tmpdir(), `agree-${spec.architecture}-`));
  dirs.push(dir);
  await makeRandomCheckpoint(join(dir, "hf"), spec);
  const gguf = join(dir, `model-${type}.gguf`);
  await convertCheckpointToGGUF(join(dir, "hf"), gguf, { type });

  const kernels = opts.kernels ?? "wasm";
  const runtime = kernels === "wasm" ? WasmRuntime.create() : undefined;
  const alloc = runtime && ((n: number) => runtime.u8(runtime.alloc(n), n));
  const ckpt = opts.fromGGUF
    ? (await loadGGUFCheckpoint(gguf, { alloc })).checkpoint
    : await loadEngineCheckpoint(join(dir, "hf"), { runtime, quantization: opts.quantization });
  const engine = new Transformer(ckpt.config, ckpt.weights, { kernels, runtime, kvCacheType: opts.kvCacheType });
  const kvType = opts.kvCacheType === "f16" ? "F16" : "F32";
  const V = ckpt.config.vocabSize;
  const T = INPUT.length;
  const logits = new Float32Array(T * V);
  const cache = engine.createCache(T + GREEDY);
  engine.forward(INPUT, cache, logits, { allPositions: true });

  const ref = await llamaCppLogProbs(gguf, INPUT, { kvType });
  let maxDelta = 0;
  for (let t = 0; t < T; t++) {
    const ours = logSoftmax(logits.subarray(t * V, (t + 1) * V));
    const theirs = ref[t];
    if (theirs.length !== V) throw new Error(`llama.cpp vocabulary ${theirs.length}, ours ${V}`);
    for (let v = 0; v < V; v++) maxDelta = Math.max(maxDelta, Math.abs(ours[v] - theirs[v]));
  }

  // Greedy continuation: decode token by token from the prefilled cache.
  const step = new Float32Array(V);
  step.set(logits.subarray((T - 1) * V));
  const ours: number[] = [];
  for (let i = 0; i < GREEDY; i++) {
    const next = argmax(step);
    ours.push(next);
    if (i + 1 < GREEDY) engine.forward([next], cache, step);
  }
  const theirs = await llamaCppGreedy(gguf, INPUT, GREEDY, { kvType });
  return { maxDelta, ours, theirs };
}
