// The cpu backend's trainable model against the conformance kit: a CpuTrainableModel (LoRA mode, and full mode after
// a training step so the engine runs rebuilt weights) must behave as any TextModel, with the LoRA exercisers.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { runBackendContract } from "@dappcore/inference-testing";
import type { Result, TextModel } from "@dappcore/inference";
import { CpuBackend } from "../../src/backend.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { loraExercisers } from "../adapters/lora-helpers.js";

const root = mkdtempSync(join(tmpdir(), "cpu-trainable-contract-"));
const dir = join(root, "llama");
const backend = new CpuBackend();
beforeAll(async () => {
  await makeRandomCheckpoint(dir, { architecture: "llama", seed: 13 });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The backend's quantization, which training refuses: a quantised load trains nothing and says so. */
async function quantizationRefused(): Promise<void> {
  const r = await backend.loadTrainable(dir, { quantization: "q8_0", threads: 1 });
  if (r.ok || r.error.code !== "unsupported" || !r.error.message.includes("training needs F32, F16 or BF16 weights")) {
    throw new Error(`a quantised trainable load should fail with unsupported, got ${r.ok ? "a model" : r.error.message}`);
  }
}
const exercisers = { ...loraExercisers(backend, dir, root), quantization: quantizationRefused };

runBackendContract({
  name: "cpu trainable (LoRA, adapter applied)",
  backend,
  load: async (...opts): Promise<Result<TextModel>> => {
    const r = await backend.loadTrainable(dir, ...opts);
    if (r.ok) {
      const a = r.value.applyLoRA();
      if (!a.ok) return a;
    }
    return r;
  },
  exercisers,
});

runBackendContract({
  name: "cpu trainable (full, after one step)",
  backend,
  load: async (...opts): Promise<Result<TextModel>> => {
    const r = await backend.loadTrainable(dir, { trainingMode: "full", learningRate: 1e-3 }, ...opts);
    if (!r.ok) return r;
    const m = r.value;
    const loss = await m.loss({ tokens: [m.encode("hello world, hello")] });
    if (!loss.ok) return loss;
    const b = await m.backward(loss.value);
    if (!b.ok) return b;
    const s = await m.step();
    if (!s.ok) return s;
    return r;
  },
  exercisers,
});
