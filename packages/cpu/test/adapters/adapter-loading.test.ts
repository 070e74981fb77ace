// PEFT adapters on the cpu backend: withAdapterPath at load, loadAdapter / unloadAdapter on a loaded model (replace
// or remove without reloading the base), capabilities, and every bad adapter failing with a typed error while the
// base (or the current adapter) stays untouched and a failed load closes what it opened.
import { mkdtempSync, rmSync } from "node:fs";
import { cp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { withAdapterPath } from "@dappcore/inference";
import { CpuBackend } from "../../src/backend.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { WasmRuntime } from "../../src/engine/wasm-runtime.js";
import type { CpuTextModel } from "../../src/model/cpu-text-model.js";
import { writeSafetensors } from "../../src/loader/safetensors-writer.js";
import { openSafetensors } from "../../src/loader/safetensors-reader.js";
import { maxDiff, promptLogits, writeRandomAdapter } from "./lora-helpers.js";

const root = mkdtempSync(join(tmpdir(), "cpu-adapters-"));
const modelDir = join(root, "model");
const good = join(root, "good");
const other = join(root, "other");
const backend = new CpuBackend();

beforeAll(async () => {
  await makeRandomCheckpoint(modelDir, { architecture: "qwen3", seed: 4, hiddenSize: 32, intermediateSize: 64, numHeads: 4, numKVHeads: 2, headDim: 8 });
  await writeRandomAdapter(modelDir, good, { seed: 1 });
  await writeRandomAdapter(modelDir, other, { seed: 2, rank: 2, targetKeys: ["o_proj", "down_proj"] });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function load(...adapter: string[]): Promise<CpuTextModel> {
  const r = await backend.loadModel(modelDir, { threads: 1 }, ...adapter.map((a) => withAdapterPath(a)));
  if (!r.ok) throw r.error;
  return r.value as CpuTextModel;
}

/** A copy of `good` with its config edited and/or its tensors changed. */
async function badAdapter(name: string, edit: { config?: (c: Record<string, unknown>) => void; tensors?: (t: Map<string, { shape: number[]; data: Uint8Array }>) => void }): Promise<string> {
  const dir = join(root, name);
  await cp(good, dir, { recursive: true });
  if (edit.config) {
    const c = JSON.parse(await readFile(join(dir, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    edit.config(c);
    await writeFile(join(dir, "adapter_config.json"), JSON.stringify(c));
  }
  if (edit.tensors) {
    const f = await openSafetensors(join(good, "adapter_model.safetensors"));
    const map = new Map<string, { shape: number[]; data: Uint8Array }>();
    for (const key of f.entries.keys()) {
      const t = await f.readTensor(key);
      map.set(key, { shape: [...t.shape], data: t.data });
    }
    await f.close();
    edit.tensors(map);
    await writeSafetensors(join(dir, "adapter_model.safetensors"), [...map].map(([n, t]) => ({ name: n, dtype: "F32" as const, ...t })));
  }
  return dir;
}

const Q0A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
const BAD: [string, Parameters<typeof badAdapter>[1], string, RegExp][] = [
  ["rank0", { config: (c) => (c["r"] = 0) }, "invalid_model", /r must be an integer > 0, got 0/],
  ["alpha-nan", { config: (c) => (c["lora_alpha"] = "NaN") }, "invalid_model", /lora_alpha must be a finite number > 0/],
  ["unmatched", { config: (c) => (c["target_modules"] = ["q_proj", "qkv_proj"]) }, "invalid_model", /target_modules/],
  ["missing", { tensors: (t) => void t.delete(Q0A) }, "invalid_model", /tensor "base_model\.model\.model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" is missing/],
  [
    "shape",
    { tensors: (t) => void t.set(Q0A, { shape: [4, 16], data: new Uint8Array(4 * 16 * 4) }) },
    "invalid_model",
    /the base module takes 32 inputs, so it must be \[4, 32\]/,
  ],
  ["dora", { config: (c) => (c["use_dora"] = true) }, "unsupported", /use_dora \(DoRA\) is not supported/],
];

describe("withAdapterPath on the cpu backend", () => {
  it("loads an adapter over the base: the logits change and equal loadAdapter's; capabilities report it", async () => {
    const base = await load();
    const adapted = await load(good);
    const baseLogits = await promptLogits(base);
    const adaptedLogits = await promptLogits(adapted);
    expect(maxDiff(baseLogits, adaptedLogits)).toBeGreaterThan(1e-3);
    expect(adapted.activeAdapter()).toMatchObject({ path: good, rank: 4, alpha: 8, scale: 2, targetKeys: ["q_proj", "v_proj"], modules: 4 });
    const cap = adapted.capabilities().find((c) => c.id === "lora.inference");
    expect(cap?.status).toBe("supported");
    expect(cap?.detail).toContain(`active: ${good} (r=4, alpha=8, 4 modules)`);
    expect(base.capabilities().find((c) => c.id === "lora.inference")?.detail).toContain("none active");
    expect(backend.capabilities().find((c) => c.id === "lora.inference")?.status).toBe("supported");
    const r = await base.loadAdapter(good);
    expect(r.ok).toBe(true);
    expect(await promptLogits(base)).toEqual(adaptedLogits);
    await base.close();
    await adapted.close();
  });

  for (const [name, edit, code, message] of BAD) {
    it(`a bad adapter (${name}) fails the load with ${code}, closing the runtime it opened`, async () => {
      const dir = await badAdapter(name, edit);
      const closes = vi.spyOn(WasmRuntime.prototype, "close");
      const r = await backend.loadModel(modelDir, withAdapterPath(dir), { threads: 1 });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.code).toBe(code);
      expect(r.error.message).toMatch(message);
      expect(closes).toHaveBeenCalledTimes(1);
      closes.mockRestore();
    });
  }

  it("an adapter directory that does not exist: invalid_model naming adapter_config.json", async () => {
    const r = await backend.loadModel(modelDir, withAdapterPath(join(root, "nowhere")));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe("invalid_model");
    expect(r.error.message).toMatch(/cannot read .*nowhere.*adapter_config\.json/);
  });
});

describe("loadAdapter and unloadAdapter on a loaded model", () => {
  it("replace and remove without reloading the base; unload gives the base logits exactly", async () => {
    const model = await load();
    const base = await promptLogits(model);
    expect((await model.loadAdapter(good)).ok).toBe(true);
    const one = await promptLogits(model);
    expect((await model.loadAdapter(other)).ok).toBe(true);
    const two = await promptLogits(model);
    expect(maxDiff(one, two)).toBeGreaterThan(1e-3);
    const fresh = await load(other);
    expect(await promptLogits(fresh)).toEqual(two);
    await fresh.close();
    expect(model.unloadAdapter().ok).toBe(true);
    expect(model.activeAdapter()).toBeUndefined();
    expect(await promptLogits(model)).toEqual(base);
    expect(model.unloadAdapter().ok).toBe(true); // a no-op without one
    await model.close();
  });

  it("a failed loadAdapter leaves the current adapter in place: logits before == after", async () => {
    const model = await load(good);
    const before = await promptLogits(model);
    for (const [name, edit, code] of BAD) {
      const r = await model.loadAdapter(await badAdapter(`replace-${name}`, edit));
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe(code);
      expect(await promptLogits(model)).toEqual(before);
      expect(model.activeAdapter()?.path).toBe(good);
    }
    const empty = await model.loadAdapter("");
    expect(empty.ok).toBe(false);
    if (!empty.ok) {
      expect(empty.error.code).toBe("invalid_argument");
      expect(empty.error.message).toBe("inference.withAdapterPath: an adapter path must be a non-empty string");
    }
    await model.close();
  });

  it("after close both fail with closed", async () => {
    const model = await load();
    await model.close();
    const r = await model.loadAdapter(good);
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.error.code, r.error.message]).toEqual(["closed", "cpu.loadAdapter: model is closed"]);
    const u = model.unloadAdapter();
    expect(u.ok).toBe(false);
    if (!u.ok) expect(u.error.code).toBe("closed");
  });
});
