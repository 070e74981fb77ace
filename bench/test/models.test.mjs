// Tests of bench/lib/models.mjs that need no model build: the cache key, the paths, and weight sizes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cacheKey, ensureModels, modelPaths, SMOLLM2_135M_SHAPE, weightBytes } from "../lib/models.mjs";
import { kvCacheBytes, parameterCount, parseShape, SHAPE_PRESETS } from "../lib/shapes.mjs";

const dir = mkdtempSync(join(tmpdir(), "bench-models-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("models", () => {
  it("has SmolLM2-135M's shape", () => {
    expect(SMOLLM2_135M_SHAPE).toMatchObject({
      hiddenSize: 576,
      numLayers: 30,
      numHeads: 9,
      numKVHeads: 3,
      intermediateSize: 1536,
      vocabSize: 49152,
      tieWordEmbeddings: true,
    });
  });

  it("keys the cache by the spec", () => {
    expect(cacheKey(SMOLLM2_135M_SHAPE)).toBe(cacheKey({ ...SMOLLM2_135M_SHAPE }));
    expect(cacheKey(SMOLLM2_135M_SHAPE)).not.toBe(cacheKey({ ...SMOLLM2_135M_SHAPE, seed: 136 }));
  });

  it("lays the files out under the cache directory", () => {
    const p = modelPaths("/c");
    expect(p.checkpoint).toEqual({ f32: "/c/smollm2-135m-shape/checkpoint-f32", bf16: "/c/smollm2-135m-shape/checkpoint-bf16" });
    expect(p.gguf.q8_0).toBe("/c/smollm2-135m-shape/model-q8_0.gguf");
    expect(modelPaths("/c", SHAPE_PRESETS["smollm2-135m"]).root).toBe("/c/smollm2-135m-shape");
    expect(modelPaths("/c", SHAPE_PRESETS["tinyllama-1.1b"]).checkpoint.bf16).toBe("/c/tinyllama-1.1b-shape/checkpoint-bf16");
    const custom = parseShape("t", "--shape", "hidden=768,ffn=2048,layers=12,heads=12,kv-heads=4");
    expect(modelPaths("/c", custom).gguf.f32).toBe("/c/custom-h768-f2048-l12-a12-kv4-shape/model-f32.gguf");
  });

  it("keeps the default shape's spec, so its cache stays valid", () => {
    expect(cacheKey(SHAPE_PRESETS["smollm2-135m"].spec)).toBe(cacheKey(SMOLLM2_135M_SHAPE));
    expect(cacheKey(SHAPE_PRESETS["smollm2-360m"].spec)).not.toBe(cacheKey(SMOLLM2_135M_SHAPE));
  });

  it("refuses a vocabulary smaller than the byte-level tokenizer before building anything", async () => {
    const shape = { name: "tiny-vocab", spec: { ...SMOLLM2_135M_SHAPE, vocabSize: 200 } };
    await expect(ensureModels(dir, shape, () => {})).rejects.toMatchObject({ code: "invalid_argument", op: "bench.models" });
  });

  it("counts parameters and KV cache bytes of a shape", () => {
    expect(parameterCount(SMOLLM2_135M_SHAPE)).toBe(134_515_008);
    expect(parameterCount(SHAPE_PRESETS["smollm2-360m"].spec)).toBe(361_821_120);
    expect(parameterCount(SHAPE_PRESETS["tinyllama-1.1b"].spec)).toBe(1_100_048_384);
    // 2 (K, V) x 30 layers x 3 KV heads x 64 x 256 positions x 4 bytes
    expect(kvCacheBytes(SMOLLM2_135M_SHAPE, 256, 4)).toBe(2 * 30 * 3 * 64 * 256 * 4);
  });

  it("counts the safetensors bytes of a directory, or a file's size", () => {
    writeFileSync(join(dir, "a.safetensors"), Buffer.alloc(10));
    writeFileSync(join(dir, "b.safetensors"), Buffer.alloc(5));
    writeFileSync(join(dir, "config.json"), "{}");
    expect(weightBytes(dir)).toBe(15);
    expect(weightBytes(join(dir, "config.json"))).toBe(2);
  });
});
