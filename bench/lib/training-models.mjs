// The training benchmark's inputs: the model shapes (a small tied llama, and the shape of the demo model that
// scripts/demo-model/train.mjs trains), their checkpoints made once with deterministic random F32 weights and cached
// under bench/.cache/training/ (keyed, like models.mjs, by the spec and the code that writes them), the LoRA
// settings, and the batch of token ids both engines train on. It runs no engine and times nothing.
import { existsSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InferenceError } from "@dappcore/inference";
import { cacheKey } from "./models.mjs";

/**
 * The model shapes, by the names `--models` takes. Both are llama, hidden 256, 4 layers, 4 heads (head 64), 2 KV
 * heads, FFN 688, vocabulary 2048, F32; "small" ties the LM head to the embeddings, "demo" does not (as the demo
 * model). Embeddings are drawn with std 0.02 (the demo recipe's init), so the first loss is near ln(2048).
 */
export const TRAINING_MODEL_SPECS = Object.freeze({
  small: Object.freeze({
    architecture: "llama",
    seed: 28,
    dtype: "F32",
    hiddenSize: 256,
    intermediateSize: 688,
    numLayers: 4,
    numHeads: 4,
    numKVHeads: 2,
    headDim: 64,
    vocabSize: 2048,
    tieWordEmbeddings: true,
    maxPositionEmbeddings: 512,
    embeddingStd: 0.02,
  }),
  demo: Object.freeze({
    architecture: "llama",
    seed: 2026,
    dtype: "F32",
    hiddenSize: 256,
    intermediateSize: 688,
    numLayers: 4,
    numHeads: 4,
    numKVHeads: 2,
    headDim: 64,
    vocabSize: 2048,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 512,
    embeddingStd: 0.02,
  }),
});

/** The LoRA adapter of the LoRA rows (the defaults of the Go source and of PEFT's examples). */
export const TRAINING_LORA = Object.freeze({ rank: 8, alpha: 16, targetKeys: Object.freeze(["q_proj", "v_proj"]) });

/** The optimiser of every step, on both sides: torch.optim.AdamW's defaults, and gradients clipped to norm 1. */
export const TRAINING_OPTIMIZER = Object.freeze({ lr: 1e-3, betas: Object.freeze([0.9, 0.999]), eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 });

/** One line naming a model's shape, for the report. */
export function describeShape(spec) {
  return (
    `${spec.architecture}, hidden ${spec.hiddenSize}, ${spec.numLayers} layers, ${spec.numHeads} heads, ` +
    `${spec.numKVHeads} KV heads, FFN ${spec.intermediateSize}, vocab ${spec.vocabSize}, ` +
    `${spec.tieWordEmbeddings ? "tied" : "untied"}, ${spec.dtype}`
  );
}

/**
 * Token ids (B, T) in [0, vocabSize), row-major, from a fixed linear congruential generator: the same batch on
 * every machine and for both engines.
 *
 * @example trainingBatch(8, 256, 2048, 1).length // 2048
 */
export function trainingBatch(B, T, vocabSize, seed = 1) {
  for (const [name, v] of [["B", B], ["T", T], ["vocabSize", vocabSize]]) {
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new InferenceError({ code: "invalid_argument", op: "bench.training.batch", message: `${name} must be a positive integer, got ${v}` });
    }
  }
  const out = new Array(B * T);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) % vocabSize;
  }
  return out;
}

/**
 * The checkpoint directory of each named model under `cacheDir`/training, made first when missing or stale.
 * Each is written to a temporary name and renamed, so an interrupted build never leaves one that looks complete.
 */
export async function ensureTrainingModels(cacheDir, names, log = (msg) => process.stderr.write(`${msg}\n`)) {
  const root = join(cacheDir, "training");
  const paths = {};
  for (const name of names) {
    const spec = TRAINING_MODEL_SPECS[name];
    if (spec === undefined) {
      throw new InferenceError({ code: "invalid_argument", op: "bench.training.models", message: `unknown model "${name}"` });
    }
    const dir = join(root, name);
    const stampPath = join(dir, "stamp.json");
    const key = cacheKey(spec);
    paths[name] = dir;
    try {
      const stamp = JSON.parse(await readFile(stampPath, "utf8"));
      if (stamp.key === key && existsSync(join(dir, "model.safetensors"))) continue;
    } catch {
      // no stamp yet: build
    }
    const { makeRandomCheckpoint } = await import("@dappcore/inference-cpu");
    await rm(dir, { recursive: true, force: true });
    await rm(`${dir}.partial`, { recursive: true, force: true });
    await mkdir(root, { recursive: true });
    const t = performance.now();
    await makeRandomCheckpoint(`${dir}.partial`, spec);
    await writeFile(join(`${dir}.partial`, "stamp.json"), JSON.stringify({ key, spec, made: new Date().toISOString() }, null, 2) + "\n");
    await rename(`${dir}.partial`, dir);
    log(`bench: made the ${name} training checkpoint (${describeShape(spec)}) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  return paths;
}
