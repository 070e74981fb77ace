// discover() and the GGUF header reader, on directory trees and GGUF files built in a temp dir by this test.
import { mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discover, ggufQuantization, readGGUFHeader, type DiscoveredModel } from "@dappcore/inference/node";

type KV = [string, { type: number; value: unknown; itemType?: number }];

/** Encodes a GGUF v3 header with the given key/values (the format the reader reads; tensors omitted). */
function gguf(kvs: KV[], opts: { magic?: string; version?: number; count?: bigint } = {}): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); parts.push(b); };
  const u64 = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(n); parts.push(b); };
  const str = (s: string) => { const b = Buffer.from(s, "utf8"); u64(BigInt(b.length)); parts.push(b); };
  const value = (type: number, v: unknown, itemType?: number): void => {
    if (type === 4) u32(v as number);
    else if (type === 8) str(v as string);
    else if (type === 7) parts.push(Buffer.from([v ? 1 : 0]));
    else if (type === 6) { const b = Buffer.alloc(4); b.writeFloatLE(v as number); parts.push(b); }
    else if (type === 10) u64(v as bigint);
    else if (type === 9) {
      const items = v as unknown[];
      u32(itemType!);
      u64(BigInt(items.length));
      for (const item of items) value(itemType!, item);
    } else if (type === 13) parts.push(Buffer.alloc(4)); // a type GGUF does not define, for the error path
    else throw new Error(`test encoder lacks type ${type}`);
  };
  parts.push(Buffer.from(opts.magic ?? "GGUF", "latin1"));
  u32(opts.version ?? 3);
  u64(0n);
  u64(opts.count ?? BigInt(kvs.length));
  for (const [key, v] of kvs) {
    str(key);
    u32(v.type);
    value(v.type, v.value, v.itemType);
  }
  return Buffer.concat(parts);
}

const ggufLlama = (fileType: number) => gguf([
  ["general.architecture", { type: 8, value: "llama" }],
  ["tokenizer.ggml.tokens", { type: 9, itemType: 8, value: ["<s>", "a", "b"] }],
  ["llama.block_count", { type: 4, value: 2 }],
  ["general.file_type", { type: 4, value: fileType }],
  ["llama.rope.freq_base", { type: 6, value: 10000 }],
  ["general.big", { type: 10, value: 2n ** 60n }],
  ["general.flag", { type: 7, value: true }],
]);

let root: string;

async function put(path: string, content: string | Buffer = ""): Promise<void> {
  await mkdir(join(root, path, ".."), { recursive: true });
  await writeFile(join(root, path), content);
}

async function collect(dir: string): Promise<DiscoveredModel[]> {
  const out: DiscoveredModel[] = [];
  for await (const m of discover(dir)) out.push(m);
  return out;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "inference-discover-"));
  await put("config.json", JSON.stringify({ model_type: "base" }));
  await put("model.safetensors");
  await put("b-qwen/config.json", JSON.stringify({ model_type: "qwen3", quantization: { bits: 4, group_size: 64, mode: "affine" } }));
  await put("b-qwen/model-00001.safetensors");
  await put("b-qwen/model-00002.safetensors");
  await put("b-qwen/inner/config.json", JSON.stringify({ model_type: "inner" }));
  await put("b-qwen/inner/w.safetensors");
  await put("a-gptq/config.json", JSON.stringify({ model_type: "llama", quantization_config: { bits: 8, group_size: 128, quant_method: "gptq" } }));
  await put("a-gptq/w.safetensors");
  await put("c-broken/config.json", "{ not json");
  await put("c-broken/w.safetensors");
  await put("d-noweights/config.json", "{}");
  await put("e-noconfig/w.safetensors");
  await put("f/g/h/deep/config.json", JSON.stringify({ model_type: "deep", quantization_config: { load_in_4bit: true } }));
  await put("f/g/h/deep/w.safetensors");
  await put("gguf-one/model-q4.gguf", ggufLlama(15));
  await put("gguf-two/a.gguf", ggufLlama(7));
  await put("gguf-two/b.gguf", ggufLlama(7));
  await put("gguf-bad/x.gguf", "not a gguf at all");
  await put("linked/config.json", JSON.stringify({ model_type: "linked" }));
  await symlink(join(root, "model.safetensors"), join(root, "linked", "w.safetensors"));
  await symlink(root, join(root, "loop"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("discover", () => {
  it("walks pre-order, base first, subdirectories in name order, with types and quantisation", async () => {
    const found = await collect(root);
    const rows = found.map((m) => [relative(root, m.path) || ".", m.format, m.modelType, m.quantBits, m.quantGroup, m.quantType, m.numFiles]);
    expect(rows).toEqual([
      [".", "safetensors", "base", 0, 0, "", 1],
      ["a-gptq", "safetensors", "llama", 8, 128, "gptq", 1],
      ["b-qwen", "safetensors", "qwen3", 4, 64, "affine", 2],
      ["b-qwen/inner", "safetensors", "inner", 0, 0, "", 1],
      ["c-broken", "safetensors", "", 0, 0, "", 1],
      ["f/g/h/deep", "safetensors", "deep", 4, 0, "", 1],
      ["gguf-bad", "gguf", "", 0, 0, "", 1],
      ["gguf-one", "gguf", "llama", 4, 32, "q4_k_m", 1],
      ["linked", "safetensors", "linked", 0, 0, "", 1],
    ]);
    for (const m of found) expect(m.path.startsWith("/")).toBe(true);
    expect(found.find((m) => m.format === "gguf" && m.modelType === "llama")!.file).toBe(join(root, "gguf-one", "model-q4.gguf"));
  });

  it("resolves relative paths to absolute ones", async () => {
    const rel = relative(process.cwd(), join(root, "b-qwen"));
    const found = await collect(rel);
    expect(found.map((m) => m.path)).toEqual([join(root, "b-qwen"), join(root, "b-qwen", "inner")]);
  });

  it("yields nothing for a missing dir and one model for a .gguf file given directly", async () => {
    expect(await collect(join(root, "missing"))).toEqual([]);
    expect(await collect(join(root, "model.safetensors"))).toEqual([]);
    const one = await collect(join(root, "gguf-one", "model-q4.gguf"));
    expect(one).toEqual([{
      path: join(root, "gguf-one"), format: "gguf", numFiles: 1, file: join(root, "gguf-one", "model-q4.gguf"),
      modelType: "llama", quantBits: 4, quantGroup: 32, quantType: "q4_k_m",
    }]);
  });

  it("stops when the loop breaks, at either depth", async () => {
    const seen: string[] = [];
    for await (const m of discover(root)) { seen.push(m.path); break; }
    expect(seen).toEqual([root]);
    seen.length = 0;
    for await (const m of discover(join(root, "b-qwen"))) { seen.push(m.path); if (m.path.endsWith("inner")) break; }
    expect(seen).toEqual([join(root, "b-qwen"), join(root, "b-qwen", "inner")]);
  });
});

describe("readGGUFHeader", () => {
  it("reads header counts and key/values, summarising arrays and narrowing safe integers", async () => {
    const h = await readGGUFHeader(join(root, "gguf-one", "model-q4.gguf"));
    expect(h.version).toBe(3);
    expect(h.tensorCount).toBe(0);
    expect(h.metadataCount).toBe(7);
    expect(h.metadata.get("general.architecture")).toBe("llama");
    expect(h.metadata.get("tokenizer.ggml.tokens")).toEqual({ kind: "array", itemType: 8, length: 3 });
    expect(h.metadata.get("llama.block_count")).toBe(2);
    expect(h.metadata.get("llama.rope.freq_base")).toBe(10000);
    expect(h.metadata.get("general.big")).toBe(2n ** 60n);
    expect(h.metadata.get("general.flag")).toBe(true);
  });

  it("stops after the requested keys", async () => {
    const h = await readGGUFHeader(join(root, "gguf-one", "model-q4.gguf"), { keys: ["general.architecture", "llama.block_count"] });
    expect([...h.metadata.keys()]).toEqual(["general.architecture", "tokenizer.ggml.tokens", "llama.block_count"]);
  });

  it("maps file types to quantisation", () => {
    expect(ggufQuantization(0)).toEqual({ bits: 32, group: 0, type: "f32" });
    expect(ggufQuantization(1)).toEqual({ bits: 16, group: 0, type: "f16" });
    expect(ggufQuantization(7)).toEqual({ bits: 8, group: 32, type: "q8_0" });
    expect(ggufQuantization(15)).toEqual({ bits: 4, group: 32, type: "q4_k_m" });
    expect(ggufQuantization(999)).toEqual({ bits: 0, group: 0, type: "" });
    expect(ggufQuantization(undefined)).toEqual({ bits: 0, group: 0, type: "" });
  });

  it("fails with invalid_model naming the file for every malformed header", async () => {
    const file = join(root, "bad.gguf");
    const q = JSON.stringify(file);
    const cases: [Buffer | null, string, object?][] = [
      [null, `${q}: cannot open file: ENOENT`],
      [Buffer.from("GGML0000000000000000000000"), `${q}: not a GGUF file (bad magic)`],
      [gguf([], { version: 1 }), `${q}: unsupported GGUF version 1 (2 and 3 are read)`],
      [Buffer.from("GGUF"), `${q}: truncated at byte 4`],
      [gguf([], { count: 2n ** 40n }), `${q}: metadata count 1099511627776 exceeds the limit of 1000000`],
      [gguf([["k", { type: 4, value: 1 }]], { count: 2n }), `${q}: truncated at byte`],
      [gguf([["k", { type: 13, value: 0 }]]), `${q}: unknown value type 13 for "k"`],
      [gguf([["k", { type: 9, itemType: 99, value: [] }]]), `${q}: unknown array item type 99 in "k"`],
      [gguf([["k", { type: 8, value: "x".repeat(200) }]]), `${q}: length of value of "k" 200 exceeds the limit of 63`, { maxBytes: 100 }],
      [gguf(Array.from({ length: 10 }, (_, i): KV => [`k${i}`, { type: 4, value: i }])), `${q}: metadata exceeds the 100-byte limit`, { maxBytes: 100 }],
    ];
    for (const [content, message, options] of cases) {
      await rm(file, { force: true });
      if (content !== null) await writeFile(file, content);
      const err = await readGGUFHeader(file, options).then(() => undefined, (e: unknown) => e as { code: string; message: string });
      expect(err, message).toBeDefined();
      expect(err!.code).toBe("invalid_model");
      expect(err!.message.startsWith(`inference.readGGUFHeader: ${message}`), `${err!.message} vs ${message}`).toBe(true);
    }
  });

  it("rejects an absurd string length and deeply nested arrays", async () => {
    const file = join(root, "bad2.gguf");
    const header = gguf([["k", { type: 8, value: "abc" }]]);
    header.writeBigUInt64LE(2n ** 50n, 24 + 8 + 1 + 4);
    await writeFile(file, header);
    await expect(readGGUFHeader(file)).rejects.toMatchObject({ code: "invalid_model", message: expect.stringMatching(/length of value of "k" 1125899906842624 exceeds the limit/) });
    // Arrays of arrays, six deep, built by hand: key "k", type 9, then (item type 9, length 1) six times.
    const parts: Buffer[] = [Buffer.from("GGUF"), Buffer.from([3, 0, 0, 0]), Buffer.alloc(8), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])];
    parts.push(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("k"), Buffer.from([9, 0, 0, 0]));
    for (let i = 0; i < 6; i++) parts.push(Buffer.from([9, 0, 0, 0]), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
    await writeFile(file, Buffer.concat(parts));
    await expect(readGGUFHeader(file)).rejects.toMatchObject({ code: "invalid_model", message: `inference.readGGUFHeader: ${JSON.stringify(file)}: arrays nested deeper than 4 in "k"` });
  });
});
