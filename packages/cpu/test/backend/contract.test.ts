// The cpu backend against the conformance kit, on tiny checkpoints of two architectures made at setup.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { runBackendContract } from "@dappcore/inference-testing";
import { CpuBackend } from "../../src/backend.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";

const root = mkdtempSync(join(tmpdir(), "cpu-contract-"));
const backend = new CpuBackend();
beforeAll(async () => {
  await makeRandomCheckpoint(join(root, "llama"), { architecture: "llama", seed: 13 });
  await makeRandomCheckpoint(join(root, "gemma3"), { architecture: "gemma3_text", seed: 12, dtype: "BF16" });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

for (const arch of ["llama", "gemma3"]) {
  runBackendContract({
    name: `cpu (tiny ${arch})`,
    backend,
    load: (...opts) => backend.loadModel(join(root, arch), ...opts),
  });
}
