// Trains the embedded demo model from scratch with this project's own trainer, and writes it where the CLI finds it
// (packages/cli/model). It reproduces the committed weights: the corpus comes from Debian's bible-kjv package
// (corpus.mjs), the tokenizer is a byte-level BPE trained on the training split, the weights start from a seeded
// random Llama checkpoint and train in full-parameter mode on the WebAssembly kernels. Not a general CLI: see
// `inference train` for that. Needs `npm run build` first (it imports the built packages).
//
//   node scripts/demo-model/train.mjs [--epochs 2] [--threads 2] [--out packages/cli/model] [--work scripts/demo-model/.work]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const dist = (p) => join(repo, "packages/cpu/dist", p);
const { values: args } = parseArgs({
  options: {
    epochs: { type: "string", default: "2" },
    threads: { type: "string", default: "2" },
    out: { type: "string", default: join(repo, "packages/cli/model") },
    work: { type: "string", default: join(repo, "scripts/demo-model/.work") },
    "max-steps": { type: "string" },
  },
});

// The recipe: every number that decides the weights.
const recipe = {
  seed: 2026,
  vocabSize: 2048,
  specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
  model: { architecture: "llama", hiddenSize: 256, numLayers: 4, numHeads: 4, numKVHeads: 2, intermediateSize: 688, maxPositionEmbeddings: 512 },
  init: { embeddingStd: 0.02 },
  seqLen: 256,
  batchSize: 16,
  epochs: Number(args.epochs),
  lr: 2e-3,
  minLr: 2e-4,
  warmupSteps: 40,
  weightDecay: 0.1,
  betas: [0.9, 0.95],
  maxGradNorm: 1,
  sampling: { do_sample: true, temperature: 0.8, top_p: 0.95, repetition_penalty: 1.1 },
};

const { makeRandomCheckpoint } = await import(dist("checkpoint/random-checkpoint.js"));
const { loadModelDir } = await import(dist("loader/model-dir.js"));
const { loadTokenizer } = await import(dist("text/tokenizer.js"));
const { writeSafetensors } = await import(dist("loader/safetensors-writer.js"));
const { encodeFloats } = await import(dist("dtype.js"));
const { trainByteLevelBPE } = await import(dist("training/tokenizer-trainer.js"));
const { TrainableTransformer } = await import(dist("training/trainable-transformer.js"));
const { AdamW, clipGradNorm } = await import(dist("training/optimizer.js"));
const { createSchedule } = await import(dist("training/schedule.js"));
const { loadJsonlDataset } = await import(dist("training/dataset.js"));

const work = args.work;
const corpus = join(work, "corpus");
if (!existsSync(join(corpus, "train.jsonl"))) {
  execFileSync(process.execPath, [join(repo, "scripts/demo-model/corpus.mjs"), corpus], { stdio: "inherit" });
}
const texts = readFileSync(join(corpus, "train.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).text);

log(`tokenizer: byte-level BPE, ${recipe.vocabSize} tokens, on ${texts.length} chapters`);
const bpe = trainByteLevelBPE(texts, { vocabSize: recipe.vocabSize, specialTokens: recipe.specialTokens });
const init = join(work, "init");
rmSync(init, { recursive: true, force: true });
await makeRandomCheckpoint(init, { ...recipe.model, ...recipe.init, seed: recipe.seed, merges: bpe.merges, dtype: "F32" });
const checkpoint = await loadModelDir(init);
const tokenizer = await loadTokenizer(init);

const data = await loadJsonlDataset(join(corpus, "train.jsonl"), tokenizer, {
  seqLen: recipe.seqLen,
  batchSize: recipe.batchSize,
  seed: recipe.seed,
  dropLast: true,
  heldOutPath: join(corpus, "eval.jsonl"),
});
const stepsPerEpoch = data.train.batches(0).length;
const totalSteps = Math.min(stepsPerEpoch * recipe.epochs, args["max-steps"] ? Number(args["max-steps"]) : Infinity);
log(`data: ${data.train.targetTokens} training targets, ${data.heldOut.targetTokens} held-out; ${stepsPerEpoch} steps an epoch, ${totalSteps} steps`);

const model = new TrainableTransformer(checkpoint.config, checkpoint.weights, { mode: "full", threads: Number(args.threads), seed: recipe.seed });
log(`model: ${model.parameters().reduce((n, p) => n + p.value.length, 0)} parameters, kernels ${model.kernels}, ${model.threads} threads`);
const params = model.parameters();
const optimizer = new AdamW(params, { lr: recipe.lr, weightDecay: recipe.weightDecay, betas: recipe.betas });
const schedule = createSchedule({ kind: "cosine", lr: recipe.lr, minLr: recipe.minLr, warmupSteps: Math.min(recipe.warmupSteps, totalSteps), totalSteps });

const B = recipe.batchSize;
const T = recipe.seqLen + 1;
const tokens = new Int32Array(B * T); // (B, T)
const mask = new Float32Array(B * T); // (B, T): 1 where position t's next-token prediction counts
function fill(batch) {
  // The dataset's lossMask[i] = 1 means token i is a target; the model's mask[t] = 1 means predicting t + 1 counts.
  mask.fill(0);
  batch.tokens.forEach((seq, b) => {
    for (let t = 0; t < T; t++) tokens[b * T + t] = seq[t];
    for (let t = 0; t + 1 < T; t++) mask[b * T + t] = batch.lossMask[b][t + 1];
  });
  return batch.tokens.length;
}

function evaluate() {
  let sum = 0;
  let count = 0;
  for (const batch of data.heldOut.batches()) {
    const rows = fill(batch);
    const loss = model.forwardLoss(tokens.subarray(0, rows * T), mask.subarray(0, rows * T), rows, T);
    sum += loss * model.lastTokenCount;
    count += model.lastTokenCount;
  }
  return sum / count;
}

const history = [];
const started = performance.now();
let step = 0;
let lastLoss = NaN;
outer: for (let epoch = 0; epoch < recipe.epochs; epoch++) {
  for (const batch of data.train.batches(epoch)) {
    if (step >= totalSteps) break outer;
    fill(batch);
    optimizer.lr = schedule(step);
    lastLoss = model.forwardLoss(tokens, mask, B, T);
    model.backward();
    const norm = clipGradNorm(params, recipe.maxGradNorm);
    optimizer.step();
    model.zeroGrad();
    step++;
    if (step % 10 === 0 || step === 1) {
      const seconds = (performance.now() - started) / 1000;
      const tps = (step * B * (T - 1)) / seconds;
      log(`epoch ${epoch + 1} step ${step}/${totalSteps} loss ${lastLoss.toFixed(4)} lr ${optimizer.lr.toExponential(2)} norm ${norm.toFixed(2)} ${tps.toFixed(0)} tok/s`);
      history.push({ step, epoch: epoch + 1, loss: lastLoss, lr: optimizer.lr });
    }
    if (step % 100 === 0) log(`held-out loss ${evaluate().toFixed(4)} at step ${step}`);
  }
}
const evalLoss = evaluate();
const trainLoss = lastLoss;
const seconds = (performance.now() - started) / 1000;
log(`done: ${step} steps in ${seconds.toFixed(0)} s; final training loss ${trainLoss.toFixed(4)}, held-out loss ${evalLoss.toFixed(4)}`);

// Write the model: weights in BF16 (half the bytes of F32), the rest as made at init.
const out = args.out;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const tensors = model.exportWeights().map((t) => ({
  name: t.name,
  dtype: "BF16",
  shape: t.shape,
  data: encodeFloats(new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4), "BF16"),
}));
await writeSafetensors(join(out, "model.safetensors"), tensors, { format: "pt" });
const config = JSON.parse(readFileSync(join(init, "config.json"), "utf8"));
config.torch_dtype = "bfloat16";
writeFileSync(join(out, "config.json"), JSON.stringify(config, null, 2) + "\n");
for (const f of ["tokenizer.json", "tokenizer_config.json"]) writeFileSync(join(out, f), readFileSync(join(init, f)));
// Sampling defaults for callers that leave them unset: greedy decoding of a model this small loops on one phrase.
const generation = JSON.parse(readFileSync(join(init, "generation_config.json"), "utf8"));
writeFileSync(join(out, "generation_config.json"), JSON.stringify({ ...generation, ...recipe.sampling }, null, 2) + "\n");
writeFileSync(
  join(out, "training.json"),
  JSON.stringify(
    {
      recipe,
      corpus: JSON.parse(readFileSync(join(corpus, "corpus.json"), "utf8")),
      steps: step,
      seconds: Math.round(seconds),
      trainTokensSeen: step * B * (T - 1),
      finalTrainingLoss: trainLoss,
      heldOutLoss: evalLoss,
      history,
    },
    null,
    2,
  ) + "\n",
);
await model.close();
log(`wrote ${out}`);

function log(message) {
  console.error(`[demo-model ${new Date().toISOString().slice(11, 19)}] ${message}`);
}
