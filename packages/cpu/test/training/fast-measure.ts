// Informal timing of TrainableTransformer steps (not a test; vitest does not run it): tokens per second of one
// forwardLoss + backward for a llama of hidden 256, 4 layers, 4 heads, 2 KV heads, FFN 688, vocabulary 2048 at
// B·T = 8 × 256, full and LoRA mode, plain kernels and WebAssembly kernels on 1 and 2 threads. Configurations take
// turns round after round so a shared machine's load falls on all alike; prints every time and the median.
// Run: npx esbuild packages/cpu/test/training/fast-measure.ts --bundle --platform=node --format=esm \
//        --alias:@dappcore/inference=./packages/inference/src/index.ts --outfile=/tmp/h25/p/a/b/c/measure.mjs \
//      && ln -sfn $PWD/packages/cpu/wasm-dist /tmp/h25/wasm-dist && node /tmp/h25/p/a/b/c/measure.mjs [rounds] [plainRounds]
// (kernels.wasm is found four directories above the bundle, as from src/engine/kernels/wasm/.)
import { TrainableTransformer } from "../../src/training/trainable-transformer.js";
import type { TrainableOptions } from "../../src/training/trainable-weights.js";
import { tinyModel } from "../engine/tiny-model.js";
import { batch } from "./trainable-models.js";

const rounds = Number(process.argv[2] ?? 3);
const plainRounds = Number(process.argv[3] ?? 1);
const B = 8;
const T = 256;
const { config, weights } = tinyModel({
  architecture: "llama",
  seed: 1,
  config: {
    hiddenSize: 256, intermediateSize: 688, numHeads: 4, numKVHeads: 2, headDim: 64, numLayers: 4, vocabSize: 2048,
    attentionScale: 1 / 8, maxPositionEmbeddings: 512,
  },
});
const tokens = batch(B, T, config.vocabSize);

interface Case {
  name: string;
  opts: TrainableOptions;
  rounds: number;
  model?: TrainableTransformer;
  times: number[];
}
const lora = { rank: 8, alpha: 16, targetKeys: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };
const cases: Case[] = [];
for (const mode of ["full", "lora"] as const) {
  const base = mode === "full" ? { mode } : { mode, lora };
  cases.push({ name: `${mode} plain`, opts: { ...base, kernels: "plain" }, rounds: plainRounds, times: [] });
  for (const threads of [1, 2]) cases.push({ name: `${mode} wasm ${threads}t`, opts: { ...base, kernels: "wasm", threads }, rounds, times: [] });
}
for (const c of cases) {
  c.model = new TrainableTransformer(config, weights, c.opts);
  c.model.forwardLoss(tokens, undefined, B, T); // warm-up
  c.model.backward();
}
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    if (r >= c.rounds) continue;
    const m = c.model!;
    m.zeroGrad();
    const t0 = performance.now();
    m.forwardLoss(tokens, undefined, B, T);
    const t1 = performance.now();
    m.backward();
    const t2 = performance.now();
    c.times.push(t2 - t0);
    console.log(`${c.name}: forward ${(t1 - t0).toFixed(0)} ms, backward ${(t2 - t1).toFixed(0)} ms, ${((B * T) / ((t2 - t0) / 1000)).toFixed(0)} tokens/s`);
  }
}
for (const c of cases) {
  const tps = c.times.map((t) => (B * T) / (t / 1000)).sort((a, b) => a - b);
  console.log(`${c.name}: tokens/s min ${tps[0].toFixed(0)}, median ${tps[Math.floor(tps.length / 2)].toFixed(0)}, max ${tps[tps.length - 1].toFixed(0)} (${tps.length} steps)`);
  await c.model!.close();
}
