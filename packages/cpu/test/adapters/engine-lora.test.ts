// LoRA in the inference engine (Transformer.setAdapter), on the reference and the WebAssembly kernels: merged and
// unmerged outputs agree (W' = W + scale·B·A made here in float32), B = 0 and removal give the base exactly, an
// adapter can be replaced, and a bad adapter fails with invalid_argument leaving the current one in place.
import { beforeAll, describe, expect, it } from "vitest";
import { Transformer } from "../../src/engine/transformer.js";
import { WasmRuntime } from "../../src/engine/wasm-runtime.js";
import { loraModuleShapes, type EngineAdapter, type EngineLoraModule } from "../../src/engine/lora-slots.js";
import type { Architecture, ModelConfig } from "../../src/model-config.js";
import { ensureBuilt } from "../kernels-wasm/helpers.js";
import { MemoryWeights, maxAbsDiff, random, randomArray, thrown, tinyModel } from "../engine/tiny-model.js";

beforeAll(async () => {
  await ensureBuilt();
}, 120_000);

const prompt = [3, 17, 42, 8, 8, 0, 49, 23, 5, 11];

/** Logits of a prefill at every position, two decode steps, and a two-sequence batch step. */
function run(engine: Transformer): Float32Array {
  const V = engine.config.vocabSize;
  const cache = engine.createCache(32);
  const all = new Float32Array(prompt.length * V);
  engine.forward(prompt, cache, all, { allPositions: true });
  const parts = [all];
  for (const t of [5, 9]) {
    const step = new Float32Array(V);
    engine.forward([t], cache, step);
    parts.push(step);
  }
  const other = engine.createCache(32);
  engine.forward([1, 2, 3], other, new Float32Array(V));
  const batch = new Float32Array(2 * V);
  engine.forwardBatch([7, 8], [cache, other], batch);
  parts.push(batch);
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An adapter on `leaves` of every layer with random A and B (B zero when `zeroB`). */
function randomAdapter(config: ModelConfig, leaves: readonly string[], rank: number, scale: number, seed: number, zeroB = false): EngineAdapter {
  const rng = random(seed);
  const modules = new Map<string, EngineLoraModule>();
  for (const [name, { in: inDim, out }] of loraModuleShapes(config)) {
    if (!leaves.some((l) => name.endsWith(`.${l}`))) continue;
    const a = randomArray(rank * inDim, rng, 1 / Math.sqrt(inDim));
    const b = zeroB ? new Float32Array(out * rank) : randomArray(out * rank, rng, 0.3);
    modules.set(name, { a, b, rank, scale });
  }
  return { modules };
}

/** The checkpoint with every adapted weight replaced by W + scale·B·A (computed in float64, stored float32). */
function merged(weights: MemoryWeights, adapter: EngineAdapter): MemoryWeights {
  const out = new MemoryWeights();
  for (const name of weights.names()) out.set(weights.get(name));
  for (const [module, m] of adapter.modules) {
    const t = weights.get(`${module}.weight`);
    const [O, C] = t.shape as [number, number];
    const w = new Float32Array(t.data.buffer, t.data.byteOffset, O * C);
    const w2 = new Float32Array(O * C);
    for (let o = 0; o < O; o++) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let r = 0; r < m.rank; r++) s += m.b[o * m.rank + r]! * m.a[r * C + c]!;
        w2[o * C + c] = w[o * C + c]! + m.scale * s;
      }
    }
    out.set({ name: t.name, dtype: "F32", shape: [O, C], data: new Uint8Array(w2.buffer) });
  }
  return out;
}

const ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

for (const kernels of ["reference", "wasm"] as const) {
  const make = (config: ModelConfig, weights: MemoryWeights) =>
    new Transformer(config, weights, { kernels, runtime: kernels === "wasm" ? WasmRuntime.create() : undefined, maxBatchTokens: 4 });

  describe(`engine LoRA (${kernels} kernels)`, () => {
    for (const architecture of ["llama", "qwen2", "qwen3", "gemma3_text"] as Architecture[]) {
      it(`${architecture}: merged and unmerged outputs agree within 1e-5 (every projection, rank 4)`, () => {
        const { config, weights } = tinyModel({ architecture, seed: 5 });
        const adapter = randomAdapter(config, ALL, 4, 2, 11);
        const engine = make(config, weights);
        const base = run(engine);
        engine.setAdapter(adapter);
        expect(engine.hasAdapter).toBe(true);
        const unmerged = run(engine);
        const reference = run(make(config, merged(weights, adapter)));
        expect(maxAbsDiff(unmerged, base)).toBeGreaterThan(1e-2); // the adapter does change the model
        expect(maxAbsDiff(unmerged, reference)).toBeLessThan(1e-5);
      });
    }

    it("B = 0 gives the base logits exactly, and so does removing the adapter", () => {
      const { config, weights } = tinyModel({ architecture: "llama", seed: 3 });
      const engine = make(config, weights);
      const base = run(engine);
      engine.setAdapter(randomAdapter(config, ["q_proj", "v_proj"], 8, 2, 4, true));
      expect(run(engine)).toEqual(base);
      engine.setAdapter(randomAdapter(config, ["q_proj", "v_proj"], 8, 2, 4));
      expect(maxAbsDiff(run(engine), base)).toBeGreaterThan(1e-3);
      engine.setAdapter(undefined);
      expect(engine.hasAdapter).toBe(false);
      expect(run(engine)).toEqual(base);
    });

    it("replacing an adapter (other targets, other rank) computes the new one; the caller's arrays are copied", () => {
      const { config, weights } = tinyModel({ architecture: "qwen3", seed: 8 });
      const first = randomAdapter(config, ["q_proj", "v_proj"], 8, 2, 21);
      const second = randomAdapter(config, ["o_proj", "down_proj"], 2, 0.5, 22);
      const engine = make(config, weights);
      engine.setAdapter(first);
      const one = run(engine);
      engine.setAdapter(second);
      expect(maxAbsDiff(run(engine), run(make(config, merged(weights, second))))).toBeLessThan(1e-5);
      engine.setAdapter(first);
      expect(run(engine)).toEqual(one);
      // Changing the caller's arrays does nothing until setAdapter is called again (the trained-adapter sync).
      for (const m of first.modules.values()) m.b.fill(0);
      expect(run(engine)).toEqual(one);
      engine.setAdapter(first);
      expect(run(engine)).toEqual(run(make(config, weights)));
    });

    it("a bad adapter fails with invalid_argument naming the module, and the current adapter stays", () => {
      const { config, weights } = tinyModel({ architecture: "llama", seed: 2 });
      const engine = make(config, weights);
      const good = randomAdapter(config, ["q_proj"], 4, 2, 7);
      engine.setAdapter(good);
      const before = run(engine);
      const q = good.modules.get("model.layers.0.self_attn.q_proj")!;
      const cases: [string, EngineLoraModule, RegExp][] = [
        ["model.layers.9.self_attn.q_proj", q, /module "model\.layers\.9\.self_attn\.q_proj" is not a projection of this model/],
        ["model.layers.0.self_attn.qkv_proj", q, /is not a projection of this model/],
        ["model.layers.0.self_attn.q_proj", { ...q, rank: 0 }, /rank must be an integer > 0, got 0/],
        ["model.layers.0.self_attn.q_proj", { ...q, scale: Number.NaN }, /scale must be a finite number, got NaN/],
        ["model.layers.0.mlp.down_proj", q, /a must be a Float32Array of rank × in = 4 × 48 values, got 128/],
        ["model.layers.0.self_attn.q_proj", { ...q, b: new Float32Array(3) }, /b must be a Float32Array of out × rank = 32 × 4 values, got 3/],
        ["model.layers.0.self_attn.q_proj", { ...q, a: Float32Array.from(q.a, (v, i) => (i === 5 ? Infinity : v)) }, /a holds a non-finite value at index 5/],
      ];
      for (const [name, m, message] of cases) {
        const e = thrown(() => engine.setAdapter({ modules: new Map([["model.layers.1.self_attn.q_proj", q], [name, m]]) }));
        expect(e.code).toBe("invalid_argument");
        expect(e.message).toMatch(message);
        expect(run(engine)).toEqual(before);
      }
      const e = thrown(() => engine.setAdapter({ modules: {} } as unknown as EngineAdapter));
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toMatch(/modules Map/);
    });
  });
}
