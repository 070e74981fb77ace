// Wide F16/BF16 matrices rewritten panel by panel (relayout.ts): only by an engine that owns its weights; the logits
// agree with the row-major engine and the reference kernels and do not depend on the thread count; the reference
// kernels and training refuse a rewritten matrix; CpuBackend.loadModel rewrites, loadTrainable does not.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withMaxTokens, withTemperature } from "@dappcore/inference";
import { CpuBackend } from "../../src/backend.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { loadEngineCheckpoint } from "../../src/engine/arena-checkpoint.js";
import { isRelaidOut } from "../../src/engine/relayout.js";
import { Transformer } from "../../src/engine/transformer.js";
import { WasmRuntime } from "../../src/engine/wasm-runtime.js";
import type { CpuTextModel } from "../../src/model/cpu-text-model.js";
import { TrainableTransformer } from "../../src/training/trainable-transformer.js";
import { ensureBuilt } from "../kernels-wasm/helpers.js";
import { maxAbsDiff, prefillAndSteps, thrown } from "./tiny-model.js";

const root = mkdtempSync(join(tmpdir(), "cpu-panels-"));
const dir = join(root, "wide");
// FFN 3104 > PANEL_MIN_C: the down projection (C = 3104, two panels, the second 1056 wide) is rewritten; the others
// (C = 64) are not.
const shape = { hiddenSize: 64, intermediateSize: 3104, numLayers: 2, numHeads: 4, numKVHeads: 2, vocabSize: 300 };
const down = "model.layers.0.mlp.down_proj.weight";
const up = "model.layers.0.mlp.up_proj.weight";
const prompt = [3, 17, 42, 8, 8, 0, 49, 23, 5, 11];

beforeAll(async () => {
  await ensureBuilt();
  await makeRandomCheckpoint(dir, { architecture: "llama", dtype: "BF16", seed: 21, embeddingStd: 0.1, ...shape });
}, 120_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Logits of a prefill at every position, then of 3 decode steps. */
const run = (engine: Transformer) => prefillAndSteps(engine, engine.createCache(32), prompt, [5, 9, 13]);

async function engineOn(opts: { threads?: number; relayoutFloats?: boolean; kernels?: "wasm" | "reference" }) {
  const runtime = opts.kernels === "reference" ? undefined : WasmRuntime.create({ threads: opts.threads ?? 1 });
  const ckpt = await loadEngineCheckpoint(dir, { runtime });
  const engine = new Transformer(ckpt.config, ckpt.weights, { kernels: opts.kernels ?? "wasm", runtime, relayoutFloats: opts.relayoutFloats });
  return { engine, runtime, ckpt };
}

describe("panel-major F16/BF16 matrices", () => {
  it("are rewritten only when the engine may, and give the row-major engine's and the reference's logits", async () => {
    const panels = await engineOn({ relayoutFloats: true });
    expect(isRelaidOut(panels.ckpt.weights.get(down).data)).toBe(true);
    expect(isRelaidOut(panels.ckpt.weights.get(up).data)).toBe(false);
    const rows = await engineOn({});
    expect(isRelaidOut(rows.ckpt.weights.get(down).data)).toBe(false);
    const ref = run((await engineOn({ kernels: "reference" })).engine);
    const a = run(panels.engine);
    const b = run(rows.engine);
    for (let i = 0; i < a.length; i++) {
      const range = Math.max(...ref[i].map(Math.abs));
      expect(maxAbsDiff(a[i], b[i]) / range).toBeLessThan(1e-4);
      expect(maxAbsDiff(a[i], ref[i]) / range).toBeLessThan(1e-4);
    }
    await panels.runtime!.close();
    await rows.runtime!.close();
  });

  it("give the same bits on 1, 2 and 3 threads", async () => {
    const base = run((await engineOn({ relayoutFloats: true })).engine);
    for (const threads of [2, 3]) {
      const many = await engineOn({ relayoutFloats: true, threads });
      const got = run(many.engine);
      for (let i = 0; i < base.length; i++) expect(Buffer.from(got[i].buffer).equals(Buffer.from(base[i].buffer))).toBe(true);
      await many.runtime!.close();
    }
  }, 60_000);

  it("are refused by the reference kernels and by training; a second engine on the runtime reads them as panels", async () => {
    const { engine, runtime, ckpt } = await engineOn({ relayoutFloats: true });
    const base = run(engine);
    const again = new Transformer(ckpt.config, ckpt.weights, { runtime }); // relayoutFloats false: finds them rewritten
    const got = run(again);
    for (let i = 0; i < base.length; i++) expect(Buffer.from(got[i].buffer).equals(Buffer.from(base[i].buffer))).toBe(true);
    let e = thrown(() => new Transformer(ckpt.config, ckpt.weights, { kernels: "reference" }));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toMatch(/re-laid out in place by a WebAssembly engine \(panel-major BF16\)/);
    e = thrown(() => new TrainableTransformer(ckpt.config, ckpt.weights, { mode: "lora" }));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toMatch(/mlp\.down_proj\.weight" was re-laid out in place/);
    await runtime!.close();
  });

  it("CpuBackend: loadModel rewrites them, loadTrainable keeps the stored layout (and trains)", async () => {
    const backend = new CpuBackend();
    const loaded = await backend.loadModel(dir, { contextLen: 64 });
    if (!loaded.ok) throw loaded.error;
    const model = loaded.value as CpuTextModel;
    expect(isRelaidOut(model.loaded.checkpoint.weights.get(down).data)).toBe(true);
    const ids: number[] = [];
    for await (const t of model.generate("hello", withMaxTokens(4), withTemperature(0))) ids.push(t.id);
    expect(ids.length).toBe(4);
    await model.close();

    const trainable = await backend.loadTrainable(dir, { contextLen: 64, trainingMode: "lora" });
    if (!trainable.ok) throw trainable.error;
    const tm = trainable.value!;
    const engines = (tm as unknown as { engines: { current: CpuTextModel } }).engines;
    expect(isRelaidOut(engines.current.loaded.checkpoint.weights.get(down).data)).toBe(false);
    const adapter = tm.applyLoRA({ rank: 2 });
    if (!adapter.ok) throw adapter.error;
    const loss = await tm.loss({ tokens: [prompt] });
    if (!loss.ok) throw loss.error;
    expect(Number.isFinite(loss.value.value)).toBe(true);
    await tm.close();
  });
});
