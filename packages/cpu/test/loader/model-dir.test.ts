// loadModelDir over checkpoints in the exact Hugging Face layout (made by makeRandomCheckpoint): every architecture
// loads, shards equal the single file, and every broken directory fails with its typed error.
import { mkdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { makeRandomCheckpoint, type RandomCheckpointSpec } from "../../src/checkpoint/random-checkpoint.js";
import { loadModelDir, type ModelDirProgress } from "../../src/loader/model-dir.js";
import { roundToDtype } from "../../src/loader/config.js";
import { expectedTensors } from "../../src/loader/expected-tensors.js";
import { openSafetensors } from "../../src/loader/safetensors-reader.js";
import { writeSafetensors, type TensorToWrite } from "../../src/loader/safetensors-writer.js";
import { tempDir } from "./raw-safetensors.js";

let root: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir: root, cleanup } = await tempDir("model-dir")));
afterAll(async () => cleanup());

let n = 0;
async function checkpoint(spec: RandomCheckpointSpec): Promise<string> {
  const dir = join(root, `m${n++}`);
  await makeRandomCheckpoint(dir, spec);
  return dir;
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InferenceError);
  expect((err as InferenceError).code).toBe(code);
  expect((err as InferenceError).message).toMatch(message);
}

/** Rewrites model.safetensors through `edit`. */
async function rewrite(dir: string, edit: (tensors: TensorToWrite[]) => TensorToWrite[]): Promise<void> {
  const f = await openSafetensors(join(dir, "model.safetensors"));
  const tensors: TensorToWrite[] = [];
  for (const name of f.entries.keys()) tensors.push((await f.readTensor(name)) as TensorToWrite);
  await f.close();
  await writeSafetensors(join(dir, "model.safetensors"), edit(tensors));
}

async function editJson(path: string, edit: (v: Record<string, unknown>) => void): Promise<void> {
  const v = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
  edit(v);
  await writeFile(path, JSON.stringify(v));
}

describe("loadModelDir loads", () => {
  for (const architecture of ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"] as const) {
    it(`a ${architecture} checkpoint: config, generation defaults, every tensor once, progress`, async () => {
      const dir = await checkpoint({ architecture });
      const progress: ModelDirProgress[] = [];
      const ckpt = await loadModelDir(dir, { onProgress: (p) => progress.push(p), chunkBytes: 4096 });
      expect(ckpt.dir).toBe(dir);
      expect(ckpt.config.architecture).toBe(architecture);
      expect(ckpt.rawConfig.model_type).toBe(architecture);
      expect(ckpt.files).toEqual(["model.safetensors"]);
      const expected = expectedTensors(ckpt.config);
      expect(ckpt.weights.names().sort()).toEqual(expected.map((e) => e.name).sort());
      const total = expected.reduce((s, e) => s + e.shape.reduce((a, b) => a * b, 1) * 4, 0);
      expect(ckpt.weights.byteLength).toBe(total);
      // generation_config.json's EOS list wins over config.json's single id.
      expect(ckpt.generation.eosTokenIds.length).toBe(2);
      expect(ckpt.config.eosTokenIds).toEqual(ckpt.generation.eosTokenIds);
      expect(ckpt.generation.temperature).toBe(0);
      // Progress: starts at 0, never goes back, ends at the total, several chunks.
      expect(progress[0].loadedBytes).toBe(0);
      expect(progress.at(-1)).toEqual({ loadedBytes: total, totalBytes: total, file: "model.safetensors" });
      for (let i = 1; i < progress.length; i++) expect(progress[i].loadedBytes).toBeGreaterThan(progress[i - 1].loadedBytes);
      expect(progress.length).toBeGreaterThan(expected.length);
      // Bytes are the file's bytes.
      const f = await openSafetensors(join(dir, "model.safetensors"));
      const norm = await f.readTensor("model.norm.weight");
      await f.close();
      expect(ckpt.weights.get("model.norm.weight").data).toEqual(norm.data);
      expect(ckpt.weights.get("model.embed_tokens.weight").data.byteOffset % 4).toBe(0);
    });
  }

  it("shards equal the single file", async () => {
    const one = await loadModelDir(await checkpoint({ architecture: "qwen2", seed: 7 }));
    const dir = await checkpoint({ architecture: "qwen2", seed: 7, shards: 3 });
    const files: string[] = [];
    const sharded = await loadModelDir(dir, { onProgress: (p) => files.push(p.file) });
    expect(sharded.files).toEqual(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"]);
    expect(new Set(files)).toEqual(new Set(sharded.files));
    expect(sharded.weights.names().sort()).toEqual(one.weights.names().sort());
    expect(sharded.weights.byteLength).toBe(one.weights.byteLength);
    for (const name of one.weights.names()) {
      const a = one.weights.get(name);
      const b = sharded.weights.get(name);
      expect(b.shape).toEqual(a.shape);
      expect(b.dtype).toBe(a.dtype);
      expect(Buffer.from(b.data).equals(Buffer.from(a.data))).toBe(true);
    }
    expect(sharded.config).toEqual(one.config);
  });

  it("BF16 gemma3 weights, with embeddingScale rounded to bfloat16 as transformers does", async () => {
    const dir = await checkpoint({ architecture: "gemma3_text", dtype: "BF16", hiddenSize: 48, numHeads: 4, numKVHeads: 1 });
    const ckpt = await loadModelDir(dir);
    expect(ckpt.weights.get("model.embed_tokens.weight").dtype).toBe("BF16");
    expect(ckpt.config.embeddingScale).toBe(roundToDtype(Math.sqrt(48), "BF16"));
    expect(ckpt.config.embeddingScale).toBe(6.9375);
  });

  it("into caller-provided buffers", async () => {
    const dir = await checkpoint({ architecture: "llama", dtype: "F16" });
    const given: Uint8Array[] = [];
    const ckpt = await loadModelDir(dir, { alloc: (len) => (given.push(new Uint8Array(len)), given.at(-1)!) });
    expect(given.length).toBe(ckpt.weights.names().length);
    for (const name of ckpt.weights.names()) expect(given).toContain(ckpt.weights.get(name).data);
  });

  it("tied embeddings with a stray lm_head, extra tensors, *.py files and auto_map: loaded, each with a warning", async () => {
    const dir = await checkpoint({ architecture: "qwen3" });
    const hidden = 64;
    await rewrite(dir, (ts) => [
      ...ts,
      { name: "lm_head.weight", dtype: "F32", shape: [1, hidden], data: new Uint8Array(hidden * 4) },
      { name: "model.layers.0.self_attn.rotary_emb.inv_freq", dtype: "F32", shape: [2], data: new Uint8Array(8) },
    ]);
    await writeFile(join(dir, "modeling_evil.py"), "import os; os.system('touch /tmp/pwned')\n");
    await editJson(join(dir, "config.json"), (c) => (c.auto_map = { AutoModelForCausalLM: "modeling_evil.Evil" }));
    const ckpt = await loadModelDir(dir);
    expect(ckpt.weights.has("lm_head.weight")).toBe(false);
    expect(ckpt.warnings.join("\n")).toMatch(/auto_map is ignored/);
    expect(ckpt.warnings.join("\n")).toMatch(/ignored 1 Python file\(s\) \(modeling_evil\.py\)/);
    expect(ckpt.warnings.join("\n")).toMatch(/ignored 2 tensor\(s\) the architecture does not use: lm_head\.weight, model\.layers\.0\.self_attn\.rotary_emb\.inv_freq/);
  });

  it("without generation_config.json: greedy, ids from config.json", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await rm(join(dir, "generation_config.json"));
    const ckpt = await loadModelDir(dir);
    const raw = ckpt.rawConfig;
    expect(ckpt.generation).toMatchObject({ doSample: false, temperature: 0, bosTokenId: raw.bos_token_id, eosTokenIds: [raw.eos_token_id] });
  });
});

describe("loadModelDir rejects", () => {
  it("a directory that does not exist, or a file", async () => {
    await rejects(loadModelDir(join(root, "nope")), "model_load_failed", /model directory ".*nope" cannot be read/);
    await writeFile(join(root, "plain-file"), "x");
    await rejects(loadModelDir(join(root, "plain-file")), "invalid_model", /".*plain-file" is not a directory/);
  });

  it("a missing or broken config.json, naming the path", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await writeFile(join(dir, "config.json"), "{ broken");
    await rejects(loadModelDir(dir), "invalid_model", /config\.json is not valid JSON/);
    await writeFile(join(dir, "config.json"), '{"model_type":"llama","model_type":"gpt2","vocab_size":8}');
    await rejects(loadModelDir(dir), "invalid_model", /config\.json has the key "model_type" twice/);
    await writeFile(join(dir, "config.json"), "[]");
    await rejects(loadModelDir(dir), "invalid_model", /config\.json is not a JSON object/);
    await rm(join(dir, "config.json"));
    await rejects(loadModelDir(dir), "invalid_model", new RegExp(`no config\\.json in "${dir}"`));
  });

  it("an unknown model_type or architectures class", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await editJson(join(dir, "config.json"), (c) => (c.architectures = ["LlamaForTokenClassification"]));
    await rejects(loadModelDir(dir), "unsupported", /architecture "LlamaForTokenClassification" is not supported/);
    await editJson(join(dir, "config.json"), (c) => Object.assign(c, { architectures: ["PhiForCausalLM"], model_type: "phi" }));
    await rejects(loadModelDir(dir), "unsupported", /model_type "phi" is not supported/);
  });

  it("a bad generation_config.json", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await writeFile(join(dir, "generation_config.json"), JSON.stringify({ temperature: -2 }));
    await rejects(loadModelDir(dir), "invalid_model", /generation_config\.json: temperature must be a finite number >= 0/);
  });

  it("a directory with only pickle weights, which are never loaded", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await rm(join(dir, "model.safetensors"));
    await writeFile(join(dir, "pytorch_model.bin"), "not really a pickle");
    await writeFile(join(dir, "extra.pt"), "x");
    await rejects(loadModelDir(dir), "unsupported", /has only pickle weights \(.*pytorch_model\.bin.*\); pickles are never loaded because they can run code, convert the checkpoint to safetensors/);
  });

  it("a directory with no weights at all", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await rm(join(dir, "model.safetensors"));
    await rejects(loadModelDir(dir), "invalid_model", /no model\.safetensors or model\.safetensors\.index\.json in/);
  });

  it("shard names that could leave the directory", async () => {
    const dir = await checkpoint({ architecture: "llama", shards: 2 });
    const index = join(dir, "model.safetensors.index.json");
    const original = await readFile(index, "utf8");
    await mkdir(join(dir, "sub"));
    for (const bad of ["../model-00001-of-00002.safetensors", "/etc/passwd.safetensors", "sub/x.safetensors", "sub\\x.safetensors", "..", "C:x.safetensors", "x.bin", "", 7]) {
      await writeFile(index, original);
      await editJson(index, (v) => ((v.weight_map as Record<string, unknown>)["model.norm.weight"] = bad));
      await rejects(loadModelDir(dir), "invalid_model",
        /maps tensor "model\.norm\.weight" to .*, which is not a \.safetensors file name inside the model directory/);
    }
  });

  it("a malformed index", async () => {
    const dir = await checkpoint({ architecture: "llama", shards: 2 });
    const index = join(dir, "model.safetensors.index.json");
    await writeFile(index, JSON.stringify({ metadata: {} }));
    await rejects(loadModelDir(dir), "invalid_model", /model\.safetensors\.index\.json has no weight_map object/);
    await writeFile(index, JSON.stringify({ weight_map: {} }));
    await rejects(loadModelDir(dir), "invalid_model", /lists no tensors/);
    await writeFile(index, '{"weight_map":{"a":"model-00001-of-00002.safetensors","a":"model-00002-of-00002.safetensors"}}');
    await rejects(loadModelDir(dir), "invalid_model", /has the key "a" twice/);
  });

  it("a missing shard, naming it", async () => {
    const dir = await checkpoint({ architecture: "llama", shards: 2 });
    await rm(join(dir, "model-00002-of-00002.safetensors"));
    await rejects(loadModelDir(dir), "invalid_model", /shard "model-00002-of-00002\.safetensors" listed in model\.safetensors\.index\.json is missing/);
  });

  it("a shard that is a directory or a dangling link", async () => {
    const dir = await checkpoint({ architecture: "llama", shards: 2 });
    const shard = join(dir, "model-00002-of-00002.safetensors");
    await rm(shard);
    await mkdir(shard);
    await rejects(loadModelDir(dir), "invalid_model", /shard "model-00002-of-00002\.safetensors" listed in model\.safetensors\.index\.json is not a readable file/);
    await rm(shard, { recursive: true });
    await symlink(join(root, "does-not-exist.safetensors"), shard);
    await rejects(loadModelDir(dir), "invalid_model", /is not a readable file/);
  });

  it("a tensor the index lists but its shard lacks", async () => {
    const dir = await checkpoint({ architecture: "llama", shards: 2 });
    await editJson(join(dir, "model.safetensors.index.json"), (v) => ((v.weight_map as Record<string, string>)["model.norm.weight"] = "model-00001-of-00002.safetensors"));
    await rejects(loadModelDir(dir), "invalid_model",
      /tensor "model\.norm\.weight" is listed in model\.safetensors\.index\.json for "model-00001-of-00002\.safetensors" but that file does not contain it/);
  });

  it("missing tensors, listing them", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await rewrite(dir, (ts) => ts.filter((t) => t.name !== "model.layers.1.mlp.up_proj.weight" && t.name !== "model.norm.weight"));
    await rejects(loadModelDir(dir), "invalid_model", /missing 2 tensor\(s\) that llama needs: model\.layers\.1\.mlp\.up_proj\.weight, model\.norm\.weight/);
  });

  it("an absent lm_head when the embeddings are not tied", async () => {
    const dir = await checkpoint({ architecture: "mistral", tieWordEmbeddings: false });
    await rewrite(dir, (ts) => ts.filter((t) => t.name !== "lm_head.weight"));
    await rejects(loadModelDir(dir), "invalid_model", /missing 1 tensor\(s\) that mistral needs: lm_head\.weight/);
  });

  it("a tensor of the wrong shape", async () => {
    const dir = await checkpoint({ architecture: "gemma3_text" });
    await rewrite(dir, (ts) => ts.map((t) => (t.name === "model.layers.0.self_attn.q_norm.weight" ? { ...t, shape: [t.data.byteLength / 8, 2] } : t)));
    await rejects(loadModelDir(dir), "invalid_model", /tensor "model\.layers\.0\.self_attn\.q_norm\.weight" has shape \[16, 2\], config\.json needs \[32\]/);
  });

  it("a needed tensor in a dtype other than F32/F16/BF16, naming it", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await rewrite(dir, (ts) => ts.map((t) => (t.name === "model.norm.weight" ? { ...t, dtype: "I32" } : t)));
    await rejects(loadModelDir(dir), "unsupported", /unsupported dtype "I32" for tensor "model\.norm\.weight" \(supported: F32, F16, BF16\)/);
  });

  it("a corrupt weight file, naming it", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    const path = join(dir, "model.safetensors");
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 3));
    await rejects(loadModelDir(dir), "invalid_model", /model\.safetensors: tensor ".*": data_offsets .* run past the end of the file/);
  });

  it("an abort before or during loading", async () => {
    const dir = await checkpoint({ architecture: "llama" });
    await rejects(loadModelDir(dir, { signal: AbortSignal.abort() }), "aborted", /loading was aborted/);
    const ctl = new AbortController();
    await rejects(
      loadModelDir(dir, { signal: ctl.signal, chunkBytes: 1024, onProgress: (p) => p.loadedBytes > 4096 && ctl.abort() }),
      "aborted",
      /aborted/,
    );
  });
});
