import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tmp() {
  const d = await mkdtemp(join(tmpdir(), "ckpt-"));
  dirs.push(d);
  return d;
}

function header(bytes: Buffer) {
  const n = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
}

describe("makeRandomCheckpoint", () => {
  it("writes the Hugging Face layout, deterministically", async () => {
    const a = await tmp();
    const b = await tmp();
    await makeRandomCheckpoint(a, { architecture: "qwen2", seed: 7 });
    await makeRandomCheckpoint(b, { architecture: "qwen2", seed: 7 });
    expect((await readdir(a)).sort()).toEqual(
      ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"].sort(),
    );
    const fa = await readFile(join(a, "model.safetensors"));
    expect(fa.equals(await readFile(join(b, "model.safetensors")))).toBe(true);
    const h = header(fa);
    expect(h["model.layers.0.self_attn.q_proj.bias"]).toMatchObject({ dtype: "F32", shape: [64] });
    expect(h["lm_head.weight"].shape).toEqual([259, 64]);
    const config = JSON.parse(await readFile(join(a, "config.json"), "utf8"));
    expect(config).toMatchObject({ model_type: "qwen2", architectures: ["Qwen2ForCausalLM"], attention_bias: true });
  });

  it("writes gemma3 norms, tied embeddings, layer types and bf16 weights", async () => {
    const d = await tmp();
    await makeRandomCheckpoint(d, { architecture: "gemma3_text", dtype: "BF16" });
    const h = header(await readFile(join(d, "model.safetensors")));
    expect(h["lm_head.weight"]).toBeUndefined();
    expect(h["model.layers.5.pre_feedforward_layernorm.weight"]).toMatchObject({ dtype: "BF16", shape: [64] });
    const config = JSON.parse(await readFile(join(d, "config.json"), "utf8"));
    expect(config.layer_types).toEqual([...Array(5).fill("sliding_attention"), "full_attention"]);
  });

  it("shards with an index", async () => {
    const d = await tmp();
    await makeRandomCheckpoint(d, { architecture: "llama", shards: 3 });
    const index = JSON.parse(await readFile(join(d, "model.safetensors.index.json"), "utf8"));
    expect(new Set(Object.values(index.weight_map))).toEqual(
      new Set(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]),
    );
  });

  it("refuses a vocabulary smaller than the tokenizer", async () => {
    await expect(makeRandomCheckpoint(await tmp(), { architecture: "llama", vocabSize: 10 })).rejects.toThrow(
      "checkpoint.make: vocabSize 10 is smaller than the tokenizer's 259 tokens",
    );
  });
});
