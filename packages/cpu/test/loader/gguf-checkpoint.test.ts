// loadGGUFCheckpoint over GGUF files our converter writes from random checkpoints: for every architecture the config
// equals config.json's (documented differences only), every tensor equals the original's bytes once the q/k rope
// permutation is undone and gemma3's (1 + w) is accounted for, and the rebuilt tokenizer encodes and decodes like the
// original tokenizer.json. BF16/Q8_0/Q4_0 files load with their types and logical shapes; Llama 3 rope scaling comes
// back from rope_freqs; alloc, progress and abort behave as in loadModelDir.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { quantizeQ4_0 } from "@dappcore/inference-gguf";
import { makeRandomCheckpoint, type RandomCheckpointSpec } from "../../src/checkpoint/random-checkpoint.js";
import { byteToUnicode } from "../../src/checkpoint/byte-level-tokenizer.js";
import { convertCheckpointToGGUF } from "../../src/convert-to-gguf.js";
import { readModelConfig } from "../../src/loader/config.js";
import { loadGGUFCheckpoint, type GGUFLoadProgress } from "../../src/loader/gguf-checkpoint.js";
import { loadModelDir } from "../../src/loader/model-dir.js";
import type { ModelConfig } from "../../src/model-config.js";
import { createTokenizer } from "../../src/text/tokenizer.js";
import { rewriteGGUF } from "./gguf-rewrite.js";
import { tempDir } from "./raw-safetensors.js";

let root: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir: root, cleanup } = await tempDir("gguf-checkpoint")));
afterAll(async () => cleanup());

const G = byteToUnicode();
const merges: [string, string][] = [
  ["h", "e"],
  ["l", "l"],
  ["he", "ll"],
  [G[32], "w"],
  [G[32] + "w", "o"],
  ["r", "l"],
  ["1", "2"],
];
const texts = ["hello world", "Hello, World! 123 hello\n\nworld", "héllo wörld — ünïcode ✓ 日本語", "<|im_start|>user\nhello<|im_end|>", ""];

let n = 0;
async function convert(spec: RandomCheckpointSpec, type: "f32" | "bf16" | "q8_0" = "f32"): Promise<{ dir: string; gguf: string }> {
  const dir = join(root, `m${n++}`);
  await makeRandomCheckpoint(dir, { merges, ...spec });
  const gguf = join(root, `m${n++}.gguf`);
  await convertCheckpointToGGUF(dir, gguf, { type });
  return { dir, gguf };
}

async function json(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
}

/** The fields allowed to differ, and why (see gguf-config.ts and gguf-checkpoint.ts). */
function withoutDocumentedDifferences(c: ModelConfig, original: ModelConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  // A Mistral checkpoint is GGUF "llama" and loads back as llama (full attention, as llama.cpp runs it).
  if (original.architecture === "mistral") Object.assign(out, { architecture: "mistral", modelType: "mistral" });
  // gemma3 norms come back with (1 + w) already added.
  if (original.architecture === "gemma3_text") out.normPlusOne = true;
  return out;
}

const hfToGguf = (name: string): boolean => name.endsWith("norm.weight");

describe("loadGGUFCheckpoint round trip", () => {
  for (const architecture of ["llama", "mistral", "qwen2", "qwen3", "gemma3_text"] as const) {
    it(`${architecture}: config, every tensor and the tokenizer match the original checkpoint`, async () => {
      const { dir, gguf } = await convert({ architecture, tieWordEmbeddings: architecture === "qwen2" ? false : undefined });
      const progress: GGUFLoadProgress[] = [];
      const { checkpoint, tokenizer } = await loadGGUFCheckpoint(gguf, { onProgress: (p) => progress.push(p), chunkBytes: 1000 });

      const original = readModelConfig(await json(join(dir, "config.json")));
      const loaded = checkpoint.config;
      expect(loaded.architecture).toBe(architecture === "mistral" ? "llama" : architecture);
      expect(loaded.normPlusOne).toBe(false);
      expect(withoutDocumentedDifferences(loaded, original)).toEqual({ ...original });
      expect(checkpoint.generation.eosTokenIds).toEqual(original.eosTokenIds);
      expect(checkpoint.files).toEqual([gguf.split("/").pop()]);
      expect(checkpoint.rawConfig.model_type).toBe(architecture === "mistral" ? "llama" : architecture);

      const ref = await loadModelDir(dir);
      expect(checkpoint.weights.names().sort()).toEqual(ref.weights.names().sort());
      expect(checkpoint.weights.byteLength).toBe(ref.weights.byteLength);
      for (const name of ref.weights.names()) {
        const want = ref.weights.get(name);
        const got = checkpoint.weights.get(name);
        expect(got.dtype, name).toBe("F32");
        expect(got.shape, name).toEqual(want.shape);
        expect(got.data.byteOffset % 4).toBe(0);
        let expected = want.data;
        if (architecture === "gemma3_text" && hfToGguf(name)) {
          const w = new Float32Array(want.data.buffer, want.data.byteOffset, want.data.byteLength / 4);
          expected = new Uint8Array(Float32Array.from(w, (x) => x + 1).buffer);
        }
        expect(Buffer.from(got.data).equals(Buffer.from(expected)), name).toBe(true);
      }
      expect(progress.length).toBeGreaterThan(2);
      expect(progress.at(-1)!.loadedBytes).toBe(progress.at(-1)!.totalBytes);
      expect(progress.at(-1)!.totalBytes).toBe(ref.weights.byteLength);

      const want = createTokenizer(await json(join(dir, "tokenizer.json")), await json(join(dir, "tokenizer_config.json")));
      const got = createTokenizer(tokenizer.json, tokenizer.config, { chatTemplate: tokenizer.chatTemplate });
      expect(got.vocabSize).toBe(want.vocabSize);
      expect(got.chatTemplate).toBe(want.chatTemplate);
      expect(got.eosTokenIds).toEqual(want.eosTokenIds);
      expect(got.addBosToken).toBe(false);
      expect([...got.specialTokenIds].sort()).toEqual([...want.specialTokenIds].sort());
      for (const text of texts) {
        const ids = want.encode(text);
        expect(got.encode(text), text).toEqual(ids);
        expect(got.encodeLiteral(text), text).toEqual(want.encodeLiteral(text));
        if (ids.length > 0) expect(got.decode(ids)).toBe(want.decode(ids));
      }
      // The merges are used: h+e, l+l, he+ll give "hell" (id 258), then "o" (byte 111).
      expect(got.encode("hello")).toEqual([258, 111]);
    });
  }
});

describe("loadGGUFCheckpoint types and options", () => {
  it("loads BF16 and Q8_0 files with their types and logical shapes (norms stay F32)", async () => {
    for (const [type, dtype] of [["bf16", "BF16"], ["q8_0", "Q8_0"]] as const) {
      const { dir, gguf } = await convert({ architecture: "qwen3" }, type);
      const { checkpoint } = await loadGGUFCheckpoint(gguf);
      const ref = await loadModelDir(dir);
      for (const name of ref.weights.names()) {
        const t = checkpoint.weights.get(name);
        expect(t.shape, name).toEqual(ref.weights.get(name).shape);
        const is2d = t.shape.length === 2;
        expect(t.dtype, name).toBe(is2d ? dtype : "F32");
        const elements = t.shape.reduce((a, b) => a * b, 1);
        const bytes = t.dtype === "Q8_0" ? (elements / 32) * 34 : t.dtype === "BF16" ? elements * 2 : elements * 4;
        expect(t.data.byteLength, name).toBe(bytes);
      }
      expect(checkpoint.config.torchDtype).toBe(type === "bf16" ? "bfloat16" : "float32");
    }
  });

  it("loads Q4_0 tensors and undoes the llama q/k permutation on whole blocks", async () => {
    const { gguf } = await convert({ architecture: "llama" });
    const q4 = join(root, "q4.gguf");
    const quantized = new Map<string, Uint8Array>();
    await rewriteGGUF(gguf, q4, {
      tensor: (t) => {
        if (t.shape.length !== 2) return t;
        const values = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
        const data = new Uint8Array((values.length / 32) * 18);
        quantizeQ4_0(data, values);
        quantized.set(t.name, data);
        return { ...t, type: "Q4_0", data };
      },
    });
    const { checkpoint } = await loadGGUFCheckpoint(q4);
    const q = checkpoint.weights.get("model.layers.0.self_attn.q_proj.weight");
    expect(q.dtype).toBe("Q4_0");
    expect(q.shape).toEqual([64, 64]);
    const up = checkpoint.weights.get("model.layers.1.mlp.up_proj.weight");
    expect(Buffer.from(up.data).equals(Buffer.from(quantized.get("blk.1.ffn_up.weight")!))).toBe(true);
    // q rows: 4 heads of 16 rows, row bytes 2 blocks * 18; GGUF row 2i + j is Hugging Face row j * 8 + i.
    const stored = quantized.get("blk.0.attn_q.weight")!;
    const rowBytes = 36;
    for (const [ggufRow, hfRow] of [[0, 0], [1, 8], [2, 1], [15, 15], [17, 24]]) {
      expect(Buffer.from(q.data.subarray(hfRow * rowBytes, (hfRow + 1) * rowBytes)))
        .toEqual(Buffer.from(stored.subarray(ggufRow * rowBytes, (ggufRow + 1) * rowBytes)));
    }
  });

  it("recovers Llama 3 rope scaling from rope_freqs.weight", async () => {
    const { dir, gguf } = await convert({ architecture: "llama", llama3RopeScaling: true });
    const { checkpoint } = await loadGGUFCheckpoint(gguf);
    const original = readModelConfig(await json(join(dir, "config.json")));
    expect(checkpoint.config.ropeScaling).toEqual(original.ropeScaling);
    expect(checkpoint.warnings.join("\n")).not.toMatch(/rope_freqs/);
  });

  it("puts tensors in alloc's buffers, and rejects a misaligned one", async () => {
    const { gguf } = await convert({ architecture: "qwen2" });
    const arena = new Uint8Array(1 << 22);
    let used = 0;
    const { checkpoint } = await loadGGUFCheckpoint(gguf, {
      alloc: (bytes) => {
        const at = used;
        used += Math.ceil(bytes / 16) * 16;
        return arena.subarray(at, at + bytes);
      },
    });
    expect(checkpoint.weights.get("model.norm.weight").data.buffer).toBe(arena.buffer);
    const err = await loadGGUFCheckpoint(gguf, { alloc: (bytes) => new Uint8Array(bytes + 1).subarray(1) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).code).toBe("invalid_argument");
    expect((err as InferenceError).message).toMatch(/alloc must return a Uint8Array of exactly \d+ bytes aligned to 4/);
  });

  it("aborts between chunks", async () => {
    const { gguf } = await convert({ architecture: "qwen3" });
    const ac = new AbortController();
    const err = await loadGGUFCheckpoint(gguf, {
      chunkBytes: 512,
      onProgress: (p) => {
        if (p.loadedBytes > 2048) ac.abort(new Error("stop"));
      },
      signal: ac.signal,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect((err as InferenceError).code).toBe("aborted");
    expect((err as InferenceError).message).toMatch(/loading was aborted/);
  });
});
