// The Transformer's forward pass: batched prefill equals token-by-token decode, chunking and batching change
// nothing, the sliding window hides what it should, and every bad input fails with a typed error. Every test runs
// on both kernel sets: the WebAssembly SIMD kernels and the TypeScript reference kernels.
import { describe, expect, it } from "vitest";
import type { Architecture, DType } from "../../src/model-config.js";
import { Transformer } from "../../src/engine/transformer.js";
import { KVCache } from "../../src/engine/kv-cache.js";
import type { KernelSet } from "../../src/engine/forward-kernels.js";
import type { ModelConfig, WeightStore } from "../../src/model-config.js";
import { maxAbsDiff, thrown, tinyModel } from "./tiny-model.js";

const architectures: Architecture[] = ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"];
const prompt = [3, 17, 42, 8, 8, 0, 49, 23, 5, 11, 30, 2, 19, 44, 7, 26];

function stepwise(engine: Transformer, tokens: number[]): Float32Array[] {
  const cache = engine.createCache(64);
  const V = engine.config.vocabSize;
  return tokens.map((t) => {
    const logits = new Float32Array(V);
    engine.forward([t], cache, logits);
    return logits;
  });
}

function suite(kernels: KernelSet): void {
  const make = (config: ModelConfig, weights: WeightStore, opts: { maxBatchTokens?: number } = {}) =>
    new Transformer(config, weights, { ...opts, kernels });

  describe("Transformer.forward", () => {
    for (const architecture of architectures) {
      for (const dtype of ["F32", "BF16"] as DType[]) {
        it(`${architecture} ${dtype}: prefill of 16 tokens equals 16 single-token steps`, () => {
          const { config, weights } = tinyModel({ architecture, dtype });
          const engine = make(config, weights);
          const V = config.vocabSize;
          const steps = stepwise(engine, prompt);

          const cache = engine.createCache(64);
          const last = new Float32Array(V);
          engine.forward(prompt, cache, last);
          expect(cache.length).toBe(16);
          expect(maxAbsDiff(last, steps[15])).toBeLessThan(1e-5);

          const all = new Float32Array(16 * V);
          engine.forward(prompt, engine.createCache(64), all, { allPositions: true });
          for (let t = 0; t < 16; t++) expect(maxAbsDiff(all.subarray(t * V, (t + 1) * V), steps[t])).toBeLessThan(1e-5);
          // the logits are not degenerate: positions differ and values are finite
          expect(maxAbsDiff(steps[0], steps[1])).toBeGreaterThan(1e-3);
          expect(all.every(Number.isFinite)).toBe(true);
        });
      }
    }

    it("chunked prefill (maxBatchTokens 5) equals one pass", () => {
      const { config, weights } = tinyModel({ architecture: "gemma3_text" });
      const V = config.vocabSize;
      const whole = make(config, weights);
      const chunked = make(config, weights, { maxBatchTokens: 5 });
      const a = new Float32Array(16 * V);
      const b = new Float32Array(16 * V);
      whole.forward(prompt, whole.createCache(32), a, { allPositions: true });
      chunked.forward(prompt, chunked.createCache(32), b, { allPositions: true });
      expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
      const lastB = new Float32Array(V);
      chunked.forward(prompt, chunked.createCache(32), lastB);
      expect(maxAbsDiff(lastB, a.subarray(15 * V))).toBeLessThan(1e-5);
    });

    it("continues a cache: prefill 10 then 6 equals 16 at once, and truncate rewinds", () => {
      const { config, weights } = tinyModel({ architecture: "qwen2" });
      const V = config.vocabSize;
      const engine = make(config, weights);
      const want = new Float32Array(V);
      engine.forward(prompt, engine.createCache(32), want);

      const cache = engine.createCache(32);
      const got = new Float32Array(V);
      engine.forward(prompt.slice(0, 10), cache, got);
      engine.forward(prompt.slice(10), cache, got);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);

      cache.truncate(10);
      expect(cache.length).toBe(10);
      engine.forward([1, 1, 1], cache, got); // overwrite positions 10..12 with other tokens
      cache.truncate(10);
      engine.forward(prompt.slice(10), cache, got);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);

      cache.reset();
      expect(cache.length).toBe(0);
      engine.forward(prompt, cache, got);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    });

    it("F16 weights give logits close to the F32 weights they round", () => {
      const f32 = tinyModel({ architecture: "llama", dtype: "F32" });
      const f16 = tinyModel({ architecture: "llama", dtype: "F16" });
      const V = f32.config.vocabSize;
      const a = new Float32Array(V);
      const b = new Float32Array(V);
      const e32 = make(f32.config, f32.weights);
      const e16 = make(f16.config, f16.weights);
      e32.forward(prompt, e32.createCache(16), a);
      e16.forward(prompt, e16.createCache(16), b);
      const d = maxAbsDiff(a, b);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThan(0.05);
    });

    it("tied embeddings read embed_tokens as the output head; untied read lm_head", () => {
      const { config, weights } = tinyModel({ architecture: "llama", config: { tieWordEmbeddings: true } });
      expect(weights.has("lm_head.weight")).toBe(false);
      const engine = make(config, weights);
      const logits = new Float32Array(config.vocabSize);
      engine.forward([4], engine.createCache(4), logits);
      expect(logits.every(Number.isFinite)).toBe(true);
      const untied = tinyModel({ architecture: "llama", config: { tieWordEmbeddings: false } });
      untied.weights.get("lm_head.weight").data.fill(0);
      const e2 = make(untied.config, untied.weights);
      e2.forward([4], e2.createCache(4), logits);
      expect(logits.every((v) => v === 0)).toBe(true);
    });

    it("final logit soft-capping bounds the logits by the cap", () => {
      const { config, weights } = tinyModel({ architecture: "gemma3_text", config: { finalLogitSoftcap: 2 } });
      const engine = make(config, weights);
      const logits = new Float32Array(config.vocabSize);
      engine.forward(prompt, engine.createCache(16), logits);
      const uncapped = make({ ...config, finalLogitSoftcap: 0 }, weights);
      const raw = new Float32Array(config.vocabSize);
      uncapped.forward(prompt, uncapped.createCache(16), raw);
      expect(Math.max(...raw.map(Math.abs))).toBeGreaterThan(2);
      expect(maxAbsDiff(logits, raw.map((z) => 2 * Math.tanh(z / 2)))).toBeLessThan(1e-6);
    });
  });

  describe("sliding window", () => {
    // One sliding layer: position p sees tokens p−W+1 .. p only, so earlier tokens cannot change its logits.
    const W = 4;
    const spec = {
      architecture: "gemma3_text" as const,
      config: { numLayers: 1, layerTypes: ["sliding" as const], slidingWindow: W },
    };

    it("tokens outside the window do not change the logits; tokens inside do", () => {
      const { config, weights } = tinyModel(spec);
      const engine = make(config, weights);
      const V = config.vocabSize;
      const run = (tokens: number[]) => {
        const out = new Float32Array(tokens.length * V);
        engine.forward(tokens, engine.createCache(32), out, { allPositions: true });
        return out;
      };
      const base = run(prompt);
      const changed = [...prompt];
      changed[2] = 33; // position 2 is visible from positions 2 .. 2+W−1 = 5 only
      const other = run(changed);
      for (let p = 0; p < 16; p++) {
        const d = maxAbsDiff(base.subarray(p * V, (p + 1) * V), other.subarray(p * V, (p + 1) * V));
        if (p < 2 || p >= 2 + W) expect(d, `position ${p}`).toBe(0);
        else expect(d, `position ${p}`).toBeGreaterThan(1e-4);
      }
    });

    it("the same layer as full attention does see the early token", () => {
      const { config, weights } = tinyModel({ ...spec, config: { ...spec.config, layerTypes: ["full" as const] } });
      const engine = make(config, weights);
      const V = config.vocabSize;
      const a = new Float32Array(V);
      const b = new Float32Array(V);
      engine.forward(prompt, engine.createCache(32), a);
      const changed = [...prompt];
      changed[2] = 33;
      engine.forward(changed, engine.createCache(32), b);
      expect(maxAbsDiff(a, b)).toBeGreaterThan(1e-6);
    });
  });

  describe("Transformer.forwardBatch", () => {
    for (const architecture of ["llama", "gemma3_text"] as const) {
      it(`${architecture}: one batched step equals separate forwards, caches of different lengths`, () => {
        const { config, weights } = tinyModel({ architecture });
        const V = config.vocabSize;
        const engine = make(config, weights, { maxBatchTokens: 2 }); // 3 sequences: chunked batch too
        const prompts = [prompt.slice(0, 3), prompt.slice(4, 13), prompt.slice(1, 2)];
        const next = [9, 31, 0];
        const expected = prompts.map((p, i) => {
          const c = engine.createCache(16);
          const out = new Float32Array(V);
          engine.forward([...p, next[i]], c, out);
          return out;
        });
        const caches = prompts.map((p) => {
          const c = engine.createCache(16);
          engine.forward(p, c, new Float32Array(V));
          return c;
        });
        const logits = new Float32Array(3 * V);
        engine.forwardBatch(next, caches, logits);
        for (let b = 0; b < 3; b++) {
          expect(caches[b].length).toBe(prompts[b].length + 1);
          expect(maxAbsDiff(logits.subarray(b * V, (b + 1) * V), expected[b])).toBeLessThan(1e-5);
        }
      });
    }
  });

  describe("errors", () => {
    const { config, weights } = tinyModel({ architecture: "llama" });
    const engine = make(config, weights);
    const V = config.vocabSize;

    it("context overflow: context_length_exceeded with both counts, cache unchanged", () => {
      const cache = engine.createCache(8);
      engine.forward([1, 2, 3], cache, new Float32Array(V));
      const e = thrown(() => engine.forward([1, 2, 3, 4, 5, 6], cache, new Float32Array(V)));
      expect(e.code).toBe("context_length_exceeded");
      expect(e.message).toBe("cpu.forward: 9 tokens (3 cached + 6 new) exceed the context length of 8");
      expect(e.details).toMatchObject({ tokens: 9, contextLength: 8, cached: 3, newTokens: 6 });
      expect(cache.length).toBe(3);

      const full = engine.createCache(1);
      engine.forward([1], full, new Float32Array(V));
      const b = thrown(() => engine.forwardBatch([1, 2], [engine.createCache(4), full], new Float32Array(2 * V)));
      expect(b.code).toBe("context_length_exceeded");
      expect(b.message).toBe("cpu.forward: sequence 1: 2 tokens exceed the context length of 1");
      expect(b.details).toMatchObject({ sequence: 1, tokens: 2, contextLength: 1 });
    });

    it("token ids outside the vocabulary: invalid_argument naming the id and index", () => {
      const cache = engine.createCache(8);
      for (const [id, text] of [
        [V, `token id ${V} at index 1 is outside the vocabulary [0, ${V})`],
        [-1, `token id -1 at index 1 is outside the vocabulary [0, ${V})`],
        [2.5, `token id 2.5 at index 1 is outside the vocabulary [0, ${V})`],
      ] as const) {
        const e = thrown(() => engine.forward([0, id], cache, new Float32Array(V)));
        expect(e.code).toBe("invalid_argument");
        expect(e.message).toBe(`cpu.forward: ${text}`);
        expect(e.details).toMatchObject({ tokenId: id, index: 1, vocabSize: V });
      }
      expect(cache.length).toBe(0);
      const b = thrown(() => engine.forwardBatch([3, 999], [engine.createCache(2), engine.createCache(2)], new Float32Array(2 * V)));
      expect(b.code).toBe("invalid_argument");
      expect(b.message).toBe(`cpu.forward: token id 999 at index 1 is outside the vocabulary [0, ${V})`);
    });

    it("empty input, short logits, foreign or shared caches, mismatched batch", () => {
      const cache = engine.createCache(8);
      let e = thrown(() => engine.forward([], cache, new Float32Array(V)));
      expect([e.code, e.message]).toEqual(["invalid_argument", "cpu.forward: forward needs at least one token"]);
      e = thrown(() => engine.forward([1, 2], cache, new Float32Array(V), { allPositions: true }));
      expect([e.code, e.message]).toEqual(["invalid_argument", `cpu.forward: logits has ${V} floats, ${2 * V} are needed`]);
      e = thrown(() => engine.forward([1], cache, new Float32Array(V - 1)));
      expect([e.code, e.message]).toEqual(["invalid_argument", `cpu.forward: logits has ${V - 1} floats, ${V} are needed`]);
      const other = make(config, weights);
      e = thrown(() => engine.forward([1], other.createCache(4), new Float32Array(V)));
      expect([e.code, e.message]).toEqual(["invalid_argument", "cpu.forward: cache 0 was not made by this model's createCache"]);
      e = thrown(() => engine.forwardBatch([1, 2], [cache, cache], new Float32Array(2 * V)));
      expect([e.code, e.message]).toEqual(["invalid_argument", "cpu.forward: sequences 0 and 1 share one cache"]);
      e = thrown(() => engine.forwardBatch([1, 2], [cache], new Float32Array(2 * V)));
      expect([e.code, e.message]).toEqual([
        "invalid_argument",
        "cpu.forward: forwardBatch needs one cache per token and at least one token, got 2 tokens and 1 caches",
      ]);
      e = thrown(() => engine.forwardBatch([1, 2], [cache, engine.createCache(2)], new Float32Array(V)));
      expect([e.code, e.message]).toEqual(["invalid_argument", `cpu.forward: logits has ${V} floats, ${2 * V} are needed`]);
      expect(cache.length).toBe(0);
    });

    it("cache sizes and truncation: invalid_argument", () => {
      let e = thrown(() => engine.createCache(0));
      expect([e.code, e.message]).toEqual(["invalid_argument", "cpu.createCache: context length must be a positive integer, got 0"]);
      e = thrown(() => engine.createCache(1.5));
      expect(e.code).toBe("invalid_argument");
      const cache = engine.createCache(4);
      engine.forward([1, 2], cache, new Float32Array(V));
      e = thrown(() => cache.truncate(3));
      expect([e.code, e.message]).toEqual(["invalid_argument", "cpu.kvCache.truncate: cannot truncate a cache of 2 positions to 3"]);
      e = thrown(() => cache.truncate(-1));
      expect(e.code).toBe("invalid_argument");
      expect(cache).toBeInstanceOf(KVCache);
      expect(cache.capacity).toBe(4);
    });

    it("bad weights and configs: invalid_model naming the tensor or field; bad options: invalid_argument", () => {
      const broken = tinyModel({ architecture: "llama" });
      const k = broken.weights.get("model.layers.1.self_attn.k_proj.weight");
      broken.weights.set({ ...k, shape: [k.shape[1], k.shape[0]] });
      let e = thrown(() => make(broken.config, broken.weights));
      expect(e.code).toBe("invalid_model");
      expect(e.message).toBe(
        'cpu.engine: tensor "model.layers.1.self_attn.k_proj.weight" has shape [32, 16], the config implies [16, 32]',
      );

      const missing = tinyModel({ architecture: "qwen2" });
      missing.weights.delete("model.layers.0.self_attn.k_proj.bias");
      e = thrown(() => make(missing.config, missing.weights));
      expect(e.code).toBe("invalid_model");
      expect(e.message).toBe('test.weights: tensor "model.layers.0.self_attn.k_proj.bias" is missing');

      e = thrown(() => make({ ...config, numKVHeads: 3 }, weights));
      expect([e.code, e.message]).toEqual(["invalid_model", "cpu.transformer: numHeads (4) must be a multiple of numKVHeads (3)"]);
      e = thrown(() => make({ ...config, headDim: 7 }, weights));
      expect([e.code, e.message]).toEqual(["invalid_model", "cpu.transformer: headDim must be even for rope, got 7"]);
      e = thrown(() => make({ ...config, layerTypes: ["full"] }, weights));
      expect([e.code, e.message]).toEqual(["invalid_model", "cpu.transformer: layerTypes has 1 entries for 2 layers"]);
      e = thrown(() => make({ ...config, layerTypes: ["full", "sliding"], slidingWindow: 0 }, weights));
      expect([e.code, e.message]).toEqual(["invalid_model", "cpu.transformer: sliding layers need a positive slidingWindow, got 0"]);
      e = thrown(() => make({ ...config, vocabSize: 0 }, weights));
      expect([e.code, e.message]).toEqual(["invalid_model", "cpu.transformer: vocabSize must be a positive integer, got 0"]);
      e = thrown(() => make(config, weights, { maxBatchTokens: 0 }));
      expect([e.code, e.message]).toEqual(["invalid_argument", "cpu.transformer: maxBatchTokens must be a positive integer, got 0"]);
    });

    it("misaligned tensor bytes: invalid_model", () => {
      const m = tinyModel({ architecture: "llama" });
      const t = m.weights.get("model.layers.0.mlp.up_proj.weight");
      const buf = new Uint8Array(t.data.byteLength + 1);
      buf.set(t.data, 1);
      m.weights.set({ ...t, data: buf.subarray(1) });
      const e = thrown(() => make(m.config, m.weights));
      expect([e.code, e.message]).toEqual([
        "invalid_model",
        'cpu.engine: tensor "model.layers.0.mlp.up_proj.weight" is not aligned to 4 bytes in memory',
      ]);
    });
  });
}

for (const kernels of ["wasm", "reference"] as const) {
  describe(`${kernels} kernels`, () => suite(kernels));
}
