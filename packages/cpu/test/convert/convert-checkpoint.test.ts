// convertCheckpointToGGUF over Hugging Face directories: sharded checkpoints, chat_template.jinja, and the typed
// errors for missing or malformed files.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readGGUF } from "@dappcore/inference-gguf";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { convertCheckpointToGGUF } from "../../src/convert-to-gguf.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "convert-dir-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("convertCheckpointToGGUF", () => {
  it("reads sharded checkpoints and prefers chat_template.jinja", async () => {
    const dir = join(root, "sharded");
    await makeRandomCheckpoint(dir, { architecture: "qwen3", shards: 3 });
    await writeFile(join(dir, "chat_template.jinja"), "{{ 'jinja file' }}");
    const out = join(root, "sharded.gguf");
    const result = await convertCheckpointToGGUF(dir, out, { type: "bf16" });
    const g = await readGGUF(out);
    expect(g.metadata.get("tokenizer.chat_template")?.value).toBe("{{ 'jinja file' }}");
    expect(g.tensors.length).toBe(result.tensors.length);
    expect(g.tensors.some((t) => t.name === "blk.1.attn_k_norm.weight")).toBe(true);
  });

  it("fails with typed errors for missing and malformed files", async () => {
    await expect(convertCheckpointToGGUF(join(root, "none"), join(root, "x.gguf"))).rejects.toMatchObject({
      code: "invalid_model",
      message: expect.stringMatching(/^cpu\.convertToGGUF: cannot read .*none\/config\.json/),
    });
    const dir = join(root, "broken");
    await makeRandomCheckpoint(dir, { architecture: "llama" });
    await rm(join(dir, "tokenizer.json"));
    await expect(convertCheckpointToGGUF(dir, join(root, "x.gguf"))).rejects.toMatchObject({
      code: "unsupported",
      message: `cpu.convertToGGUF: ${dir} has no tokenizer.json (tokenizer.model alone is not supported)`,
    });
    await writeFile(join(dir, "tokenizer.json"), "{ not json");
    await expect(convertCheckpointToGGUF(dir, join(root, "x.gguf"))).rejects.toMatchObject({
      code: "invalid_model",
      message: expect.stringContaining(`cpu.convertToGGUF: ${join(dir, "tokenizer.json")} is not valid JSON`),
    });
    await writeFile(join(dir, "tokenizer.json"), "[]");
    await expect(convertCheckpointToGGUF(dir, join(root, "x.gguf"))).rejects.toMatchObject({
      code: "invalid_model",
      message: `cpu.convertToGGUF: ${join(dir, "tokenizer.json")} is not a JSON object`,
    });
  });

  it("refuses shard names that leave the directory", async () => {
    const dir = join(root, "escape");
    await makeRandomCheckpoint(dir, { architecture: "llama", shards: 2 });
    await writeFile(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: { "model.embed_tokens.weight": "../outside.safetensors" } }),
    );
    await expect(convertCheckpointToGGUF(dir, join(root, "x.gguf"))).rejects.toMatchObject({
      code: "invalid_model",
      message: expect.stringContaining('shard name "../outside.safetensors" for "model.embed_tokens.weight" is not a safetensors file in the directory'),
    });
  });

  it("reports an unsupported architecture from config.json", async () => {
    const dir = join(root, "phi");
    await makeRandomCheckpoint(dir, { architecture: "llama" });
    await writeFile(join(dir, "config.json"), JSON.stringify({ architectures: ["Phi3ForCausalLM"], model_type: "phi3" }));
    await expect(convertCheckpointToGGUF(dir, join(root, "x.gguf"))).rejects.toMatchObject({
      code: "unsupported",
      message: 'gguf.convert: unsupported architecture "Phi3ForCausalLM"',
    });
  });
});
