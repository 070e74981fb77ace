// The cpu backend against the conformance kit, on tiny checkpoints of two architectures made at setup.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { TextModel } from "@dappcore/inference";
import { runBackendContract } from "@dappcore/inference-testing";
import { CpuBackend } from "../../src/backend.js";
import { withKVCacheType, withQuantization } from "../../src/engine/engine-options.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { loraExercisers } from "../adapters/lora-helpers.js";

const root = mkdtempSync(join(tmpdir(), "cpu-contract-"));
const backend = new CpuBackend();
beforeAll(async () => {
  await makeRandomCheckpoint(join(root, "llama"), { architecture: "llama", seed: 13 });
  await makeRandomCheckpoint(join(root, "gemma3"), { architecture: "gemma3_text", seed: 12, dtype: "BF16" });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

// The gemma3 and llama checkpoints, then llama again with the F16 KV cache (slots, batches, aborts, classify and chat
// all reading and writing halves).
for (const [arch, f16] of [["llama", false], ["gemma3", false], ["llama", true]] as const) {
  runBackendContract({
    name: `cpu (tiny ${arch}${f16 ? ", F16 KV cache" : ""})`,
    backend,
    load: (...opts) => backend.loadModel(join(root, arch), ...(f16 ? [withKVCacheType("f16")] : []), ...opts),
    exercisers: {
      ...loraExercisers(backend, join(root, arch), root),
      // Loads the same checkpoint quantised both ways: info() and the model's capabilities report it, and it generates.
      quantization: async () => {
        for (const [q, bits] of [["q8_0", 8], ["q4_0", 4]] as const) {
          const r = await backend.loadModel(join(root, arch), withQuantization(q));
          if (!r.ok) throw r.error;
          const model: TextModel = r.value;
          try {
            const info = model.info();
            if (info.quantBits !== bits || info.quantGroup !== 32) throw new Error(`${q}: info() says ${info.quantBits}/${info.quantGroup}`);
            const cap = model.capabilities?.().find((c) => c.id === "quantization");
            if (cap?.status !== "supported" || !cap.detail?.includes(q.toUpperCase())) throw new Error(`${q}: capability ${JSON.stringify(cap)}`);
            let n = 0;
            for await (const t of model.generate("hello", { maxTokens: 3 })) if (Number.isInteger(t.id)) n++;
            if (n === 0) throw new Error(`${q}: generated nothing`);
          } finally {
            await model.close();
          }
        }
      },
    },
  });
}
