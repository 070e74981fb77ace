// Tests of bench/lib/training-models.mjs: the model shapes the issue names, the deterministic batch, and the
// checkpoint cache (made once, reused, rebuilt when its stamp does not match).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { describeShape, ensureTrainingModels, TRAINING_LORA, TRAINING_MODEL_SPECS, trainingBatch } from "../lib/training-models.mjs";

describe("the model shapes and LoRA settings", () => {
  it("are the issue's small tied llama and the untied demo-model shape, with LoRA rank 8, alpha 16 on q_proj and v_proj", () => {
    expect(describeShape(TRAINING_MODEL_SPECS.small)).toBe(
      "llama, hidden 256, 4 layers, 4 heads, 2 KV heads, FFN 688, vocab 2048, tied, F32",
    );
    expect(describeShape(TRAINING_MODEL_SPECS.demo)).toBe(
      "llama, hidden 256, 4 layers, 4 heads, 2 KV heads, FFN 688, vocab 2048, untied, F32",
    );
    expect(TRAINING_LORA).toEqual({ rank: 8, alpha: 16, targetKeys: ["q_proj", "v_proj"] });
  });
});

describe("trainingBatch", () => {
  it("is deterministic, in range and depends on the seed", () => {
    const a = trainingBatch(8, 256, 2048, 1);
    expect(a).toHaveLength(2048);
    expect(a.every((id) => Number.isInteger(id) && id >= 0 && id < 2048)).toBe(true);
    expect(trainingBatch(8, 256, 2048, 1)).toEqual(a);
    expect(trainingBatch(8, 256, 2048, 2)).not.toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(500);
  });

  it("rejects sizes that are not positive integers with a typed error", () => {
    let error;
    try {
      trainingBatch(0, 4, 10);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "invalid_argument", detail: "B must be a positive integer, got 0" });
  });
});

describe("ensureTrainingModels", () => {
  const dirs = [];
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("makes each checkpoint once, reuses it, and rebuilds it when the stamp is stale", async () => {
    const cache = await mkdtemp(join(tmpdir(), "bench-training-"));
    dirs.push(cache);
    const logs = [];
    const paths = await ensureTrainingModels(cache, ["small"], (m) => logs.push(m));
    expect(paths).toEqual({ small: join(cache, "training", "small") });
    const config = JSON.parse(await readFile(join(paths.small, "config.json"), "utf8"));
    expect(config).toMatchObject({ model_type: "llama", hidden_size: 256, num_hidden_layers: 4, num_key_value_heads: 2, intermediate_size: 688, vocab_size: 2048, tie_word_embeddings: true });
    expect(logs).toHaveLength(1);
    await ensureTrainingModels(cache, ["small"], (m) => logs.push(m));
    expect(logs).toHaveLength(1);
    await writeFile(join(paths.small, "stamp.json"), JSON.stringify({ key: "stale" }));
    await ensureTrainingModels(cache, ["small"], (m) => logs.push(m));
    expect(logs).toHaveLength(2);
  });

  it("rejects an unknown model name with a typed error", async () => {
    await expect(ensureTrainingModels("/nonexistent", ["huge"], () => {})).rejects.toMatchObject({
      code: "invalid_argument",
      detail: 'unknown model "huge"',
    });
  });
});
