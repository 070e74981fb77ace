// Makes the benchmark's model files once and caches them under bench/.cache/<shape>-shape/: a checkpoint of the
// chosen shape (shapes.mjs; SmolLM2-135M's by default) with deterministic random weights in F32 and BF16 (Hugging
// Face layout, for our backend) and the GGUF files our converter writes from the same weights (F32, BF16, Q8_0, Q4_0, for
// llama.cpp). The cache is keyed by the model spec and the code that writes the files, so a changed converter
// rebuilds them. It does not run either engine.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { InferenceError } from "@dappcore/inference";
import { DEFAULT_SHAPE, MIN_VOCAB, SHAPE_PRESETS } from "./shapes.mjs";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export { SMOLLM2_135M_SHAPE } from "./shapes.mjs";

/**
 * The files of one benchmark model set: `checkpoint.f32`/`.bf16` are directories, `gguf.f32`/`.bf16`/`.q8_0`/`.q4_0`
 * files. Q8_0 and Q4_0 are quantised from the BF16 checkpoint, the weights a SmolLM2 download has. Each shape has its own folder,
 * `<shape name>-shape` (the default's is `smollm2-135m-shape`, as before shapes could be chosen).
 */
export function modelPaths(cacheDir, shape = SHAPE_PRESETS[DEFAULT_SHAPE]) {
  const root = join(cacheDir, `${shape.name}-shape`);
  return {
    root,
    checkpoint: { f32: join(root, "checkpoint-f32"), bf16: join(root, "checkpoint-bf16") },
    gguf: {
      f32: join(root, "model-f32.gguf"),
      bf16: join(root, "model-bf16.gguf"),
      q8_0: join(root, "model-q8_0.gguf"),
      q4_0: join(root, "model-q4_0.gguf"),
    },
  };
}

/** Code whose output the cache holds: the built checkpoint writer, converter and GGUF writer. */
function writerFiles() {
  const files = [
    "packages/cpu/dist/checkpoint/random-checkpoint.js",
    "packages/cpu/dist/checkpoint/byte-level-tokenizer.js",
    "packages/cpu/dist/convert-to-gguf.js",
    "packages/cpu/dist/dtype.js",
    "packages/cpu/dist/loader/safetensors-writer.js",
  ].map((f) => join(repoRoot, f));
  const ggufDist = join(repoRoot, "packages/gguf/dist");
  if (existsSync(ggufDist)) {
    for (const f of readdirSync(ggufDist, { recursive: true })) if (String(f).endsWith(".js")) files.push(join(ggufDist, String(f)));
  }
  return files.sort();
}

/** A hash of the spec and of the code that writes the files. */
export function cacheKey(spec) {
  const hash = createHash("sha256").update(JSON.stringify(spec));
  for (const f of writerFiles()) {
    hash.update(f.slice(repoRoot.length));
    hash.update(existsSync(f) ? readFileSync(f) : "missing");
  }
  return hash.digest("hex").slice(0, 16);
}

/**
 * Returns the paths of the model set of `shape` (`{ name, spec }` from shapes.mjs), making it first when the cache
 * is missing or stale. Each file is written to a temporary name and renamed, so an interrupted build never leaves a
 * file that looks complete. Throws `invalid_argument` for a vocabulary too small for the byte-level tokenizer.
 */
export async function ensureModels(cacheDir, shape = SHAPE_PRESETS[DEFAULT_SHAPE], log = (msg) => process.stderr.write(`${msg}\n`)) {
  const spec = shape.spec;
  if (!(spec.vocabSize >= MIN_VOCAB)) {
    throw new InferenceError({
      code: "invalid_argument",
      op: "bench.models",
      message: `shape ${shape.name}: vocab ${spec.vocabSize} is below the byte-level tokenizer's ${MIN_VOCAB} tokens`,
    });
  }
  const paths = modelPaths(cacheDir, shape);
  const key = cacheKey(spec);
  const stampPath = join(paths.root, "stamp.json");
  const allThere = () =>
    [paths.checkpoint.f32, paths.checkpoint.bf16, ...Object.values(paths.gguf)].every((p) => existsSync(p));
  try {
    const stamp = JSON.parse(await readFile(stampPath, "utf8"));
    if (stamp.key === key && allThere()) return paths;
  } catch {
    // no stamp yet: build
  }
  const { makeRandomCheckpoint, convertCheckpointToGGUF } = await import("@dappcore/inference-cpu");
  await rm(paths.root, { recursive: true, force: true });
  await mkdir(paths.root, { recursive: true });
  for (const dtype of ["F32", "BF16"]) {
    const dir = paths.checkpoint[dtype.toLowerCase()];
    const t = performance.now();
    await makeRandomCheckpoint(`${dir}.partial`, { ...spec, dtype });
    await rename(`${dir}.partial`, dir);
    log(`bench: made the ${shape.name} ${dtype} checkpoint in ${seconds(t)} (${megabytes(dirSize(dir))})`);
  }
  const sources = { f32: paths.checkpoint.f32, bf16: paths.checkpoint.bf16, q8_0: paths.checkpoint.bf16, q4_0: paths.checkpoint.bf16 };
  for (const type of ["f32", "bf16", "q8_0", "q4_0"]) {
    const out = paths.gguf[type];
    const t = performance.now();
    await convertCheckpointToGGUF(sources[type], `${out}.partial`, { type });
    await rename(`${out}.partial`, out);
    log(`bench: converted ${type.toUpperCase()} GGUF in ${seconds(t)} (${megabytes(statSync(out).size)})`);
  }
  await writeFile(stampPath, JSON.stringify({ key, spec, made: new Date().toISOString() }, null, 2) + "\n");
  return paths;
}

/** Bytes of the weight files of a model: the safetensors files of a directory, or the GGUF file itself. */
export function weightBytes(path) {
  const st = statSync(path);
  if (st.isFile()) return st.size;
  return readdirSync(path)
    .filter((f) => f.endsWith(".safetensors"))
    .reduce((sum, f) => sum + statSync(join(path, f)).size, 0);
}

function dirSize(dir) {
  return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

function seconds(t0) {
  return `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

