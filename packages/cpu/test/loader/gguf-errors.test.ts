// Every way a GGUF file can fail to load as a checkpoint gives its typed error naming the file and, where there is
// one, the tensor or key: unknown architecture, missing tensor, unsupported tensor type, truncated file, wrong shape,
// bad metadata, unsupported tokenizer and rope scaling, and a path that does not exist.
import { stat, truncate, copyFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { GGUFWriter, readGGUF, readGGUFTensorData } from "@dappcore/inference-gguf";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { convertCheckpointToGGUF } from "../../src/convert-to-gguf.js";
import { loadGGUFCheckpoint } from "../../src/loader/gguf-checkpoint.js";
import { rewriteGGUF } from "./gguf-rewrite.js";
import { tempDir } from "./raw-safetensors.js";

let root: string;
let cleanup: () => Promise<void>;
let llama: string;
let qwen: string;
beforeAll(async () => {
  ({ dir: root, cleanup } = await tempDir("gguf-errors"));
  for (const [arch, name] of [["llama", "llama"], ["qwen3", "qwen"]] as const) {
    await makeRandomCheckpoint(join(root, name), { architecture: arch });
    await convertCheckpointToGGUF(join(root, name), join(root, `${name}.gguf`));
  }
  llama = join(root, "llama.gguf");
  qwen = join(root, "qwen.gguf");
});
afterAll(async () => cleanup());

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<InferenceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InferenceError);
  expect((err as InferenceError).code).toBe(code);
  expect((err as InferenceError).message).toMatch(message);
  return err as InferenceError;
}

let n = 0;
const out = () => join(root, `e${n++}.gguf`);

describe("loadGGUFCheckpoint rejects", () => {
  it("an unknown architecture, naming it", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, { metadata: (m) => m.set("general.architecture", { type: "string", value: "phi3" }) });
    await rejects(loadGGUFCheckpoint(p), "unsupported", /GGUF architecture "phi3" is not supported \(supported: llama, qwen2, qwen3, gemma3\)/);
  });

  it("a file without general.architecture", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, { metadata: (m) => m.delete("general.architecture") });
    await rejects(loadGGUFCheckpoint(p), "invalid_model", /metadata "general.architecture" is missing/);
  });

  it("a missing tensor, naming the GGUF and Hugging Face names", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, { tensor: (t) => (t.name === "blk.1.ffn_up.weight" ? null : t) });
    const err = await rejects(
      loadGGUFCheckpoint(p),
      "invalid_model",
      /missing 1 tensor\(s\) that qwen3 needs: blk\.1\.ffn_up\.weight \(model\.layers\.1\.mlp\.up_proj\.weight\)/,
    );
    expect(err.details).toMatchObject({ path: p, tensor: "blk.1.ffn_up.weight" });
  });

  it("a missing token embedding", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, { tensor: (t) => (t.name === "token_embd.weight" ? null : t) });
    await rejects(loadGGUFCheckpoint(p), "invalid_model", /missing tensor "token_embd.weight"/);
  });

  it("an unsupported tensor type, naming the ggml type and the tensor", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, {
      tensor: (t) => (t.name === "blk.0.ffn_down.weight" ? { ...t, type: "Q4_1", data: new Uint8Array((t.data.byteLength / 4 / 32) * 20) } : t),
    });
    const err = await rejects(
      loadGGUFCheckpoint(p),
      "unsupported",
      /tensor "blk\.0\.ffn_down\.weight" has ggml type Q4_1, which the cpu backend does not load \(supported: F32, F16, BF16, Q8_0, Q4_0\)/,
    );
    expect(err.details).toMatchObject({ tensor: "blk.0.ffn_down.weight", type: "Q4_1" });
  });

  it("a truncated file", async () => {
    const p = out();
    await copyFile(qwen, p);
    await truncate(p, (await stat(p)).size - 100);
    await rejects(loadGGUFCheckpoint(p), "invalid_model", /lies outside the file/);
    const header = out();
    await copyFile(qwen, header);
    await truncate(header, 64);
    await rejects(loadGGUFCheckpoint(header), "invalid_model", /file ends inside/);
  });

  it("a tensor whose shape disagrees with the metadata", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, { metadata: (m) => m.set("qwen3.feed_forward_length", { type: "uint32", value: 64 }) });
    await rejects(loadGGUFCheckpoint(p), "invalid_model", /tensor "blk\.0\.ffn_gate\.weight" \(model\.layers\.0\.mlp\.gate_proj\.weight\) has shape \[128, 64\], the metadata needs \[64, 64\]/);
  });

  it("metadata of the wrong type or missing", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, { metadata: (m) => m.set("qwen3.block_count", { type: "string", value: "2" }) });
    await rejects(loadGGUFCheckpoint(p), "invalid_model", /metadata "qwen3\.block_count" must be an integer, got string/);
    const q = out();
    await rewriteGGUF(qwen, q, { metadata: (m) => m.delete("qwen3.context_length") });
    await rejects(loadGGUFCheckpoint(q), "invalid_model", /metadata "qwen3\.context_length" is missing/);
  });

  it("a token list that does not match the embedding", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, {
      metadata: (m) => {
        const t = m.get("tokenizer.ggml.tokens")!;
        m.set("tokenizer.ggml.tokens", { type: "array", itemType: "string", value: (t.value as string[]).slice(1) });
      },
    });
    await rejects(loadGGUFCheckpoint(p), "invalid_model", /tokenizer\.ggml\.tokens has 258 tokens but token_embd\.weight has 259 rows/);
  });

  it("tokenizers it cannot rebuild", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, { metadata: (m) => m.set("tokenizer.ggml.pre", { type: "string", value: "falcon" }) });
    await rejects(loadGGUFCheckpoint(p), "unsupported", /byte-level BPE pre-tokenizer "falcon" is not supported/);
    const q = out();
    await rewriteGGUF(qwen, q, { metadata: (m) => m.set("tokenizer.ggml.model", { type: "string", value: "bert" }) });
    await rejects(loadGGUFCheckpoint(q), "unsupported", /tokenizer model "bert" is not supported \(supported: gpt2, llama\)/);
    const r = out();
    await rewriteGGUF(qwen, r, { metadata: (m) => m.delete("tokenizer.ggml.model") });
    await rejects(loadGGUFCheckpoint(r), "unsupported", /the file has no tokenizer/);
    const s = out();
    await rewriteGGUF(qwen, s, { metadata: (m) => m.delete("tokenizer.ggml.merges") });
    await rejects(loadGGUFCheckpoint(s), "invalid_model", /metadata "tokenizer\.ggml\.merges" is missing/);
  });

  it("rope scalings it does not run", async () => {
    const p = out();
    await rewriteGGUF(qwen, p, {
      metadata: (m) => {
        m.set("qwen3.rope.scaling.type", { type: "string", value: "yarn" });
        m.set("qwen3.rope.scaling.factor", { type: "float32", value: 4 });
      },
    });
    await rejects(loadGGUFCheckpoint(p), "unsupported", /rope scaling "yarn" is not supported/);
    // A rope_freqs table that no Llama 3 scaling produces (divisors decreasing with wavelength); llama's head size is 16.
    const dims = 8;
    const bad = out();
    const file = await readGGUF(llama);
    const w = new GGUFWriter();
    for (const [k, v] of file.metadata) w.addMetadata(k, v);
    const freqs = new Float32Array(dims).map((_, i) => 8 - i);
    w.addTensor("rope_freqs.weight", [dims], "F32");
    const datas: Uint8Array[] = [new Uint8Array(freqs.buffer)];
    for (const t of file.tensors) {
      w.addTensor(t.name, t.shape, t.type);
      datas.push(await readGGUFTensorData(llama, t));
    }
    await w.write(bad, (_p, i) => datas[i]);
    await rejects(loadGGUFCheckpoint(bad), "unsupported", /rope_freqs\.weight is not a Llama 3 rope scaling/);
  });

  it("a path that does not exist, and a directory", async () => {
    await rejects(loadGGUFCheckpoint(join(root, "nope.gguf")), "model_load_failed", /GGUF file ".*nope\.gguf" cannot be read/);
    await rejects(loadGGUFCheckpoint(root), "invalid_model", /is not a file/);
  });

  it("a non-GGUF file", async () => {
    await rejects(loadGGUFCheckpoint(join(root, "llama", "config.json")), "invalid_model", /not a GGUF file/);
  });
});
