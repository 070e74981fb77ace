// Issue 3's memory bound, measured in a child process so the figure is the backend's alone: peak RSS while generating
// stays under 1.5x the checkpoint's size on disk plus the KV cache. Runs the built package (npm test builds it first).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const root = mkdtempSync(join(tmpdir(), "cpu-memory-"));
const dir = join(root, "model");
// About 300 MB in BF16: large enough that Node's own ~50 MB and the worker threads are a small part of the bound.
const shape = { hiddenSize: 512, numLayers: 28, numHeads: 8, numKVHeads: 4, intermediateSize: 2048, vocabSize: 32000 };

beforeAll(async () => {
  execFileSync("npx", ["tsc", "-b", "packages/cpu"], { cwd: repo, stdio: "inherit" });
  await makeRandomCheckpoint(dir, { architecture: "llama", dtype: "BF16", embeddingStd: 0.1, ...shape });
}, 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("peak RSS while generating stays under 1.5x the checkpoint on disk plus the KV cache", () => {
  const contextLen = 256;
  const script = `
    const { CpuBackend } = await import(${JSON.stringify(join(repo, "packages/cpu/dist/index.js"))});
    const r = await new CpuBackend().loadModel(${JSON.stringify(dir)}, { contextLen: ${contextLen} });
    if (!r.ok) throw r.error;
    for await (const t of r.value.generate("memory test prompt", { maxTokens: 4 })) {}
    // VmHWM is this process's own high-water mark; maxRSS would also count the test runner's RSS at the fork.
    const { readFileSync } = await import("node:fs");
    const hwm = /^VmHWM:\\s+(\\d+)\\s+kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    const peak = hwm !== null ? Number(hwm[1]) * 1024 : process.resourceUsage().maxRSS * 1024;
    process.stdout.write(JSON.stringify({ peak }));
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  const { peak } = JSON.parse(out) as { peak: number };
  const disk = statSync(join(dir, "model.safetensors")).size;
  const headDim = shape.hiddenSize / shape.numHeads;
  const kvBytes = 2 * shape.numLayers * contextLen * shape.numKVHeads * headDim * 4;
  const bound = 1.5 * disk + kvBytes;
  console.log(`peak RSS ${(peak / 2 ** 20).toFixed(1)} MiB, checkpoint ${(disk / 2 ** 20).toFixed(1)} MiB, bound ${(bound / 2 ** 20).toFixed(1)} MiB`);
  expect(peak).toBeLessThan(bound);
}, 300_000);
