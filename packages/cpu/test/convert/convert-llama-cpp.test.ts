// Converts tiny random checkpoints of every architecture to GGUF and loads them in llama.cpp through the reference
// harness: the converter's output must be a model llama.cpp runs, with finite log-probs of the right shape. Numeric
// agreement with our engine is tested elsewhere (the agreement tests use this converter and harness).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertToGGUF, readGGUF, type CheckpointSource } from "@dappcore/inference-gguf";
import type { Architecture } from "../../src/model-config.js";
import { openSafetensors } from "../../src/loader/safetensors-reader.js";
import { readFile } from "node:fs/promises";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { convertCheckpointToGGUF } from "../../src/convert-to-gguf.js";
import { closeLlamaCpp, llamaCppGreedy, llamaCppLogProbs } from "../../../../scripts/reference/llama-cpp.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "convert-llama-cpp-"));
});
afterAll(async () => {
  await closeLlamaCpp();
  await rm(root, { recursive: true, force: true });
});

const tokens = [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33, 10, 257, 258, 65];

function checkLogProbs(logProbs: Float32Array[], vocab: number): void {
  expect(logProbs).toHaveLength(tokens.length);
  for (const row of logProbs) {
    expect(row).toHaveLength(vocab);
    let sum = 0;
    for (const v of row) {
      expect(Number.isFinite(v)).toBe(true);
      sum += Math.exp(v);
    }
    expect(sum).toBeCloseTo(1, 4);
  }
}

describe("llama F32 through llama.cpp", () => {
  it("converts, loads, and gives finite log-probs at every position", async () => {
    const dir = join(root, "llama");
    const config = await makeRandomCheckpoint(dir, { architecture: "llama" });
    const out = join(root, "llama-f32.gguf");
    await convertCheckpointToGGUF(dir, out, { type: "f32" });
    const gguf = await readGGUF(out);
    expect(gguf.metadata.get("general.architecture")).toEqual({ type: "string", value: "llama" });
    const logProbs = await llamaCppLogProbs(out, tokens);
    checkLogProbs(logProbs, config.vocab_size as number);
    // The underflow-recovery pass (logits / 16, no filters) reproduces the exact log-probs.
    const tempered = await llamaCppLogProbs(out, tokens, { temperedPass: true });
    let maxDiff = 0;
    for (let i = 0; i < tokens.length; i++) {
      for (let j = 0; j < logProbs[i].length; j++) maxDiff = Math.max(maxDiff, Math.abs(tempered[i][j] - logProbs[i][j]));
    }
    expect(maxDiff).toBeLessThan(1e-4);
    const greedy = await llamaCppGreedy(out, tokens, 8);
    expect(greedy).toHaveLength(8);
    for (const t of greedy) expect(t).toBeLessThan(config.vocab_size as number);
    const last = logProbs[tokens.length - 1];
    expect(greedy[0]).toBe(last.indexOf(Math.max(...last)));
  });
});

const architectures: Architecture[] = ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"];
const expectedArch: Record<Architecture, string> = {
  llama: "llama",
  mistral: "llama",
  qwen2: "qwen2",
  qwen3: "qwen3",
  gemma3_text: "gemma3",
};

describe.each(architectures)("%s converts and loads in llama.cpp", (architecture) => {
  it.each(["f32", "bf16", "q8_0"] as const)("as %s", async (type) => {
    const dir = join(root, `${architecture}-${type}`);
    const config = await makeRandomCheckpoint(dir, {
      architecture,
      dtype: type === "bf16" ? "BF16" : "F32",
      llama3RopeScaling: architecture === "llama",
    });
    const out = join(root, `${architecture}-${type}.gguf`);
    await convertCheckpointToGGUF(dir, out, { type });
    const gguf = await readGGUF(out);
    expect(gguf.metadata.get("general.architecture")).toEqual({ type: "string", value: expectedArch[architecture] });
    const weightType = { f32: "F32", bf16: "BF16", q8_0: "Q8_0" }[type];
    expect(gguf.tensors.find((t) => t.name === "blk.0.ffn_up.weight")?.type).toBe(weightType);
    expect(gguf.tensors.find((t) => t.name === "blk.0.attn_norm.weight")?.type).toBe("F32");
    if (architecture === "llama") expect(gguf.tensors.some((t) => t.name === "rope_freqs.weight")).toBe(true);
    checkLogProbs(await llamaCppLogProbs(out, tokens), config.vocab_size as number);
  });
});

/** A source over a checkpoint directory of one safetensors file, with config and extra tensors overridden. */
async function sourceOf(
  dir: string,
  config: Record<string, unknown>,
  extra: Record<string, { shape: number[] }> = {},
): Promise<CheckpointSource & { close(): Promise<void> }> {
  const file = await openSafetensors(join(dir, "model.safetensors"));
  const json = async (name: string) => JSON.parse(await readFile(join(dir, name), "utf8")) as Record<string, unknown>;
  return {
    config,
    tokenizer: await json("tokenizer.json"),
    tokenizerConfig: await json("tokenizer_config.json"),
    tensorNames: [...file.entries.keys(), ...Object.keys(extra)],
    async readTensor(name) {
      if (name in extra) {
        const n = extra[name].shape.reduce((a, b) => a * b, 1);
        return { dtype: "F32", shape: extra[name].shape, data: new Uint8Array(n * 4) };
      }
      const t = await file.readTensor(name);
      return { dtype: t.dtype as "F32" | "F16" | "BF16", shape: t.shape, data: t.data };
    },
    close: () => file.close(),
  };
}

describe("the llama q/k permutation", () => {
  it("makes llama.cpp's llama (interleaved rope) agree with its qwen2 (half-split rope, no permutation) on the same weights", async () => {
    const dir = join(root, "perm");
    const config = await makeRandomCheckpoint(dir, { architecture: "llama", numLayers: 2 });
    const llamaSource = await sourceOf(dir, config);
    const llamaOut = join(root, "perm-llama.gguf");
    await convertToGGUF(llamaSource, llamaOut);
    await llamaSource.close();
    // The same weights as qwen2 with zero q/k/v biases: llama.cpp runs qwen2 with NEOX (half-split) rope, which is
    // Hugging Face's own layout, so the two files compute the same function only if the permutation is right.
    const heads = config.num_attention_heads as number;
    const kvHeads = config.num_key_value_heads as number;
    const headDim = config.head_dim as number;
    const biases: Record<string, { shape: number[] }> = {};
    for (let l = 0; l < (config.num_hidden_layers as number); l++) {
      biases[`model.layers.${l}.self_attn.q_proj.bias`] = { shape: [heads * headDim] };
      biases[`model.layers.${l}.self_attn.k_proj.bias`] = { shape: [kvHeads * headDim] };
      biases[`model.layers.${l}.self_attn.v_proj.bias`] = { shape: [kvHeads * headDim] };
    }
    const qwenSource = await sourceOf(dir, { ...config, architectures: ["Qwen2ForCausalLM"], model_type: "qwen2" }, biases);
    const qwenOut = join(root, "perm-qwen2.gguf");
    await convertToGGUF(qwenSource, qwenOut);
    await qwenSource.close();
    const a = await llamaCppLogProbs(llamaOut, tokens);
    const b = await llamaCppLogProbs(qwenOut, tokens);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) maxDiff = Math.max(maxDiff, Math.abs(a[i][j] - b[i][j]));
    expect(maxDiff).toBeLessThan(1e-4);
  });
});
