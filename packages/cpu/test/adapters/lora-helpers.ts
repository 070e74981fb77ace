// Test helpers for LoRA on the cpu backend: a random PEFT adapter directory for a checkpoint, the logits of a model
// at a fixed prompt, and the contract kit's exercisers for "lora.inference" and "lora.training".
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { withLogits, type TextModel, type TrainableModel } from "@dappcore/inference";
import type { CpuBackend } from "../../src/backend.js";
import { readModelConfig } from "../../src/loader/config.js";
import { loraModuleShapes } from "../../src/engine/lora-slots.js";
import { saveAdapter, type AdapterTensor } from "../../src/training/peft.js";
import type { CpuTextModel } from "../../src/model/cpu-text-model.js";
import { random, randomArray } from "../engine/tiny-model.js";

/** Writes a PEFT adapter with random A and B (scale 0.3) on `targetKeys` of every layer of the checkpoint in `modelDir`. */
export async function writeRandomAdapter(
  modelDir: string, dir: string, opts: { rank?: number; alpha?: number; targetKeys?: string[]; seed?: number } = {},
): Promise<void> {
  const config = readModelConfig(JSON.parse(await readFile(join(modelDir, "config.json"), "utf8")));
  const rank = opts.rank ?? 4;
  const targetKeys = opts.targetKeys ?? ["q_proj", "v_proj"];
  const rng = random(opts.seed ?? 1);
  const tensors: AdapterTensor[] = [];
  for (const [name, { in: inDim, out }] of loraModuleShapes(config)) {
    if (!targetKeys.some((k) => name.endsWith(`.${k}`))) continue;
    tensors.push({ name: `${name}.lora_A.weight`, value: randomArray(rank * inDim, rng, 1 / Math.sqrt(inDim)), shape: [rank, inDim] });
    tensors.push({ name: `${name}.lora_B.weight`, value: randomArray(out * rank, rng, 0.3), shape: [out, rank] });
  }
  await saveAdapter(dir, { config: { rank, alpha: opts.alpha ?? 8, targetKeys }, tensors });
}

/** The logits of the last position of `prompt` (classify with logits). */
export async function promptLogits(model: TextModel, prompt = "the quick brown fox"): Promise<Float32Array> {
  const r = await model.classify([prompt], withLogits());
  if (!r.ok) throw r.error;
  const logits = r.value[0]?.logits ?? r.value[0]?.token.logits;
  if (logits === undefined) throw new Error("classify returned no logits");
  return Float32Array.from(logits);
}

export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A short sequence of a repeated text, as ids of `model`'s tokenizer. */
export function repeatedBatch(model: TrainableModel, text = "abcabcabcabcabcabcab"): number[][] {
  return [model.encode(text).slice(0, 16)];
}

/**
 * Exercisers of the contract kit: "lora.inference" loads an adapter over the model, checks it changes the logits and
 * that unloading restores them exactly and that withAdapterPath gives the same logits; "lora.training" trains a
 * LoRA adapter for a few steps and checks the loss falls.
 */
export function loraExercisers(backend: CpuBackend, modelDir: string, workDir: string): Record<string, (m: TextModel) => Promise<void>> {
  return {
    "lora.inference": async () => {
      const adapterDir = join(workDir, "exerciser-adapter");
      await writeRandomAdapter(modelDir, adapterDir, { seed: 5 });
      const r = await backend.loadModel(modelDir, { threads: 1 });
      if (!r.ok) throw r.error;
      const model = r.value as CpuTextModel;
      try {
        const base = await promptLogits(model);
        const loaded = await model.loadAdapter(adapterDir);
        if (!loaded.ok) throw loaded.error;
        const adapted = await promptLogits(model);
        if (maxDiff(base, adapted) < 1e-4) throw new Error("the adapter did not change the logits");
        const cap = model.capabilities().find((c) => c.id === "lora.inference");
        if (cap?.status !== "supported" || !cap.detail?.includes(adapterDir)) throw new Error(`capability ${JSON.stringify(cap)}`);
        const fresh = await backend.loadModel(modelDir, { threads: 1, adapterPath: adapterDir });
        if (!fresh.ok) throw fresh.error;
        try {
          if (maxDiff(await promptLogits(fresh.value), adapted) > 1e-6) throw new Error("withAdapterPath and loadAdapter disagree");
        } finally {
          await fresh.value.close();
        }
        const unloaded = model.unloadAdapter();
        if (!unloaded.ok) throw unloaded.error;
        if (maxDiff(await promptLogits(model), base) !== 0) throw new Error("unloadAdapter did not restore the base logits");
      } finally {
        await model.close();
      }
    },
    "lora.training": async () => {
      const r = await backend.loadTrainable(modelDir, { threads: 1, learningRate: 1e-2 });
      if (!r.ok) throw r.error;
      const model = r.value;
      try {
        const applied = model.applyLoRA({ rank: 4 });
        if (!applied.ok) throw applied.error;
        const batch = { tokens: repeatedBatch(model) };
        const losses: number[] = [];
        for (let i = 0; i < 6; i++) {
          const loss = await model.loss(batch);
          if (!loss.ok) throw loss.error;
          losses.push(loss.value.value);
          const b = await model.backward(loss.value);
          if (!b.ok) throw b.error;
          const s = await model.step();
          if (!s.ok) throw s.error;
        }
        if (!(losses[5]! < losses[0]!)) throw new Error(`the loss did not fall: ${losses.join(", ")}`);
      } finally {
        await model.close();
      }
    },
  };
}
