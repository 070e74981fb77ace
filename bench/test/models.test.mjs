// Tests of bench/lib/models.mjs that need no model build: the cache key, the paths, and weight sizes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cacheKey, modelPaths, SMOLLM2_135M_SHAPE, weightBytes } from "../lib/models.mjs";

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
  });

  it("counts the safetensors bytes of a directory, or a file's size", () => {
    writeFileSync(join(dir, "a.safetensors"), Buffer.alloc(10));
    writeFileSync(join(dir, "b.safetensors"), Buffer.alloc(5));
    writeFileSync(join(dir, "config.json"), "{}");
    expect(weightBytes(dir)).toBe(15);
    expect(weightBytes(join(dir, "config.json"))).toBe(2);
  });
});
