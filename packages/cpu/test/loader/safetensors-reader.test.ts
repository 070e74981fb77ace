// The safetensors reader: every rule of the format (reliability.md 1.1/1.2) has a file that breaks it and a check of
// the typed error; valid files round-trip through the writer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { openSafetensors, MAX_HEADER_BYTES } from "../../src/loader/safetensors-reader.js";
import { writeSafetensors } from "../../src/loader/safetensors-writer.js";
import { encodeFloats, decodeFloats } from "../../src/dtype.js";
import { f32Bytes, tempDir, writeRaw } from "./raw-safetensors.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("st-reader")));
afterAll(async () => cleanup());

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<InferenceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InferenceError);
  const ie = err as InferenceError;
  expect(ie.code).toBe(code);
  expect(ie.message).toMatch(message);
  return ie;
}

const tensor = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
let n = 0;
const file = async (header: string | object, data: Uint8Array = new Uint8Array(0), declaredLength?: bigint) =>
  writeRaw(dir, `f${n++}.safetensors`, {
    header: typeof header === "string" ? header : JSON.stringify(header),
    data,
    declaredLength,
  });

describe("openSafetensors on valid files", () => {
  it("reads what the writer wrote, in every loadable dtype, with metadata", async () => {
    const path = `${dir}/valid.safetensors`;
    const values = [1.5, -2.25, 3, 0.125, 65504, -0.0];
    await writeSafetensors(
      path,
      [
        { name: "a", dtype: "F32", shape: [2, 3], data: encodeFloats(values, "F32") },
        { name: "b", dtype: "F16", shape: [6], data: encodeFloats(values, "F16") },
        { name: "c", dtype: "BF16", shape: [3, 2], data: encodeFloats(values, "BF16") },
        { name: "empty", dtype: "F32", shape: [0, 4], data: new Uint8Array(0) },
      ],
      { format: "pt" },
    );
    const f = await openSafetensors(path);
    try {
      expect([...f.entries.keys()]).toEqual(["a", "b", "c", "empty"]);
      expect(f.metadata.format).toBe("pt");
      expect(Object.getPrototypeOf(f.metadata)).toBeNull();
      expect(f.entries.get("b")).toEqual({ dtype: "F16", shape: [6], begin: 24, end: 36 });
      const a = await f.readTensor("a");
      expect(a.shape).toEqual([2, 3]);
      expect(Array.from(new Float32Array(a.data.buffer, a.data.byteOffset, 6))).toEqual(values);
      const b = await f.readTensor("b");
      expect(Array.from(decodeFloats(b.data, "F16"))).toEqual(values);
      const c = await f.readTensor("c");
      expect(c.dtype).toBe("BF16");
      expect(Array.from(decodeFloats(c.data, "BF16"))).toEqual([1.5, -2.25, 3, 0.125, 65536, -0]);
      expect((await f.readTensor("empty")).data.byteLength).toBe(0);
    } finally {
      await f.close();
    }
  });

  it("reads in small chunks, reports each chunk, and copies into a caller-provided buffer", async () => {
    const values = Array.from({ length: 1000 }, (_, i) => i * 0.5);
    const path = await file({ t: tensor("F32", [1000], 0, 4000) }, f32Bytes(values));
    const f = await openSafetensors(path, { chunkBytes: 64 });
    const arena = new Uint8Array(8 + 4000);
    const chunks: number[] = [];
    const t = await f.readTensor("t", (len) => arena.subarray(8, 8 + len), { onBytes: (k) => chunks.push(k) });
    await f.close();
    expect(t.data.buffer).toBe(arena.buffer);
    expect(chunks.length).toBe(Math.ceil(4000 / 64));
    expect(chunks.reduce((s, k) => s + k, 0)).toBe(4000);
    expect(Array.from(new Float32Array(arena.buffer, 8, 1000))).toEqual(values);
  });

  it("accepts whitespace padding around the header JSON", async () => {
    const f = await openSafetensors(await file(`  ${JSON.stringify({ t: tensor("F32", [1], 0, 4) })}   `, f32Bytes([7])));
    expect((await f.readTensor("t")).data).toEqual(f32Bytes([7]));
    await f.close();
  });
});

describe("openSafetensors rejects", () => {
  it("a file shorter than the 8-byte length", async () => {
    const { writeFile } = await import("node:fs/promises");
    await writeFile(`${dir}/tiny.safetensors`, Buffer.from([1, 2, 3]));
    await rejects(openSafetensors(`${dir}/tiny.safetensors`), "invalid_model", /tiny\.safetensors: file is 3 bytes, too small/);
  });

  it("a header length past the end of the file", async () => {
    await rejects(openSafetensors(await file("{}", undefined, 1000n)), "invalid_model", /header length 1000 runs past the end of the file \(10 bytes\)/);
  });

  it("a header length over the cap before allocating anything, even for 2^60", async () => {
    const before = process.memoryUsage().arrayBuffers;
    await rejects(openSafetensors(await file("{}", undefined, 2n ** 60n)), "invalid_model", new RegExp(`header length ${2n ** 60n} exceeds the ${MAX_HEADER_BYTES}-byte limit`));
    // Just over the cap also fails on the cap (checked before the file-size check), not on the size.
    await rejects(openSafetensors(await file("{}", undefined, BigInt(MAX_HEADER_BYTES + 1))), "invalid_model", /exceeds the 100000000-byte limit/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(50_000_000);
  });

  it("a truncated file (data shorter than the header says)", async () => {
    const path = await file({ t: tensor("F32", [4], 0, 16) }, f32Bytes([1, 2]));
    await rejects(openSafetensors(path), "invalid_model", /tensor "t": data_offsets \[0, 16\] run past the end of the file \(8 data bytes\)/);
  });

  it("trailing bytes after the last tensor (polyglot payload)", async () => {
    const path = await file({ t: tensor("F32", [1], 0, 4) }, f32Bytes([1, 2]));
    await rejects(openSafetensors(path), "invalid_model", /4 trailing bytes after the last tensor/);
  });

  it("a header that is not a JSON object", async () => {
    await rejects(openSafetensors(await file("[1, 2]")), "invalid_model", /header is not a JSON object/);
    await rejects(openSafetensors(await file('"x"')), "invalid_model", /header is not a JSON object/);
    await rejects(openSafetensors(await file("")), "invalid_model", /header is not a JSON object/);
    await rejects(openSafetensors(await file("{not json")), "invalid_model", /header is not valid JSON/);
  });

  it("deeply nested JSON as a clean error", async () => {
    const deep = `{"a":${"[".repeat(200_000)}${"]".repeat(200_000)}}`;
    await rejects(openSafetensors(await file(deep)), "invalid_model", /header is not valid JSON|tensor "a": entry is not an object/);
  });

  it("a header that is not UTF-8", async () => {
    const bytes = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const { writeFile } = await import("node:fs/promises");
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(4n);
    await writeFile(`${dir}/utf.safetensors`, Buffer.concat([prefix, bytes]));
    await rejects(openSafetensors(`${dir}/utf.safetensors`), "invalid_model", /header is not valid UTF-8/);
  });

  it("duplicate tensor names, even when both point at the same bytes", async () => {
    const header = `{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`;
    await rejects(openSafetensors(await file(header, f32Bytes([1]))), "invalid_model", /duplicate key "w" in the header/);
  });

  it("duplicate keys inside a tensor entry and inside __metadata__", async () => {
    const header = `{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`;
    await rejects(openSafetensors(await file(header, f32Bytes([1]))), "invalid_model", /duplicate key "dtype" in "w"/);
    const meta = `{"__metadata__":{"k":"a","k":"b"}}`;
    await rejects(openSafetensors(await file(meta)), "invalid_model", /duplicate key "k" in "__metadata__"/);
  });

  it("prototype-polluting tensor names, leaving Object.prototype untouched", async () => {
    for (const name of ["__proto__", "constructor", "prototype"]) {
      const header = `{"${name}":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`;
      await rejects(openSafetensors(await file(header, f32Bytes([1]))), "invalid_model", new RegExp(`tensor name "${name}" is not allowed`));
    }
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
  });

  it("stores a __proto__ metadata key as plain data", async () => {
    const f = await openSafetensors(await file(`{"__metadata__":{"__proto__":"x","toString":"y"}}`));
    expect(Object.keys(f.metadata).sort()).toEqual(["__proto__", "toString"]);
    expect(f.metadata.toString).toBe("y");
    await f.close();
  });

  it("a __metadata__ that is not a string map", async () => {
    await rejects(openSafetensors(await file({ __metadata__: { n: 1 } })), "invalid_model", /__metadata__ value of "n" is not a string/);
    await rejects(openSafetensors(await file({ __metadata__: ["a"] })), "invalid_model", /__metadata__ must be an object of strings/);
  });

  it("overlapping tensors", async () => {
    const header = { a: tensor("F32", [2], 0, 8), b: tensor("F32", [2], 4, 12) };
    await rejects(openSafetensors(await file(header, new Uint8Array(12))), "invalid_model", /tensor "b" at \[4, 12\] overlaps tensor "a" \(ends at 8\)/);
  });

  it("many tensors over the same bytes (the DoS of safetensors' attacks catalogue)", async () => {
    const header = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`t${i}`, tensor("F32", [4], 0, 16)]));
    await rejects(openSafetensors(await file(header, new Uint8Array(16))), "invalid_model", /overlaps tensor/);
  });

  it("a gap between tensors, and a first tensor not at 0", async () => {
    const gap = { a: tensor("F32", [1], 0, 4), b: tensor("F32", [1], 8, 12) };
    await rejects(openSafetensors(await file(gap, new Uint8Array(12))), "invalid_model", /gap of 4 bytes before tensor "b" at \[8, 12\]/);
    await rejects(openSafetensors(await file({ a: tensor("F32", [1], 4, 8) }, new Uint8Array(8))), "invalid_model", /gap of 4 bytes before tensor "a"/);
  });

  it("offsets out of the file, reversed, negative, fractional or malformed", async () => {
    await rejects(openSafetensors(await file({ a: tensor("F32", [1], 100, 104) }, new Uint8Array(4))), "invalid_model", /tensor "a": data_offsets \[100, 104\] run past the end/);
    await rejects(openSafetensors(await file({ a: tensor("F32", [0], 4, 0) }, new Uint8Array(4))), "invalid_model", /tensor "a": data_offsets \[4, 0\] end before they begin/);
    await rejects(openSafetensors(await file({ a: tensor("F32", [1], -4, 0) })), "invalid_model", /data_offsets \[-4,0\] are not non-negative integers/);
    await rejects(openSafetensors(await file({ a: tensor("F32", [1], 0.5, 4) })), "invalid_model", /are not non-negative integers/);
    await rejects(openSafetensors(await file({ a: { dtype: "F32", shape: [1], data_offsets: [0] } })), "invalid_model", /data_offsets must be \[begin, end\]/);
  });

  it("a dtype x shape that does not match the byte length", async () => {
    await rejects(openSafetensors(await file({ a: tensor("I32", [2, 2], 0, 4) }, new Uint8Array(4))), "invalid_model", /tensor "a": dtype I32 and shape \[2,2\] need 16 bytes, data_offsets \[0, 4\] hold 4/);
  });

  it("bad shapes: negative, fractional, overflowing, sub-byte", async () => {
    await rejects(openSafetensors(await file({ a: tensor("F32", [-1], 0, 0) })), "invalid_model", /tensor "a": shape \[-1\] has an entry that is not a non-negative integer/);
    await rejects(openSafetensors(await file({ a: tensor("F32", [1.5], 0, 0) })), "invalid_model", /not a non-negative integer/);
    await rejects(openSafetensors(await file({ a: tensor("F32", [2, 2 ** 53 - 2], 0, 0) })), "invalid_model", /tensor "a": shape \[2,9007199254740990\] overflows/);
    await rejects(openSafetensors(await file({ a: tensor("F4", [3], 0, 1) }, new Uint8Array(1))), "invalid_model", /does not fill whole bytes/);
    await rejects(openSafetensors(await file({ a: { dtype: "F32", shape: "1", data_offsets: [0, 4] } }, new Uint8Array(4))), "invalid_model", /shape is missing or not an array/);
  });

  it("an unknown dtype, naming it and the tensor", async () => {
    await rejects(openSafetensors(await file({ x: tensor("Q4_K", [4], 0, 4) }, new Uint8Array(4))), "invalid_model", /unsupported dtype "Q4_K" for tensor "x"/);
    await rejects(openSafetensors(await file({ x: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4))), "invalid_model", /tensor "x": dtype is missing/);
  });

  it("unknown fields in a tensor entry", async () => {
    await rejects(openSafetensors(await file({ x: { ...tensor("F32", [1], 0, 4), extra: 1 } }, new Uint8Array(4))), "invalid_model", /tensor "x": unexpected field "extra"/);
  });

  it("a missing file, as model_load_failed naming it", async () => {
    await rejects(openSafetensors(`${dir}/nope.safetensors`), "model_load_failed", /cannot open ".*nope\.safetensors"/);
  });
});

describe("readTensor rejects", () => {
  it("valid safetensors dtypes the engine cannot use, naming them", async () => {
    const f = await openSafetensors(await file({ x: tensor("F8_E4M3", [4], 0, 4), i: tensor("I64", [1], 4, 12) }, new Uint8Array(12)));
    expect(f.entries.get("x")?.dtype).toBe("F8_E4M3");
    await rejects(f.readTensor("x"), "unsupported", /unsupported dtype "F8_E4M3" for tensor "x" \(supported: F32, F16, BF16\)/);
    await rejects(f.readTensor("i"), "unsupported", /unsupported dtype "I64" for tensor "i"/);
    await f.close();
  });

  it("an unknown name, a bad alloc result, a closed file, an aborted signal", async () => {
    const f = await openSafetensors(await file({ t: tensor("F32", [2], 0, 8) }, f32Bytes([1, 2])), { chunkBytes: 4 });
    await rejects(f.readTensor("nope"), "invalid_model", /no tensor "nope"/);
    await rejects(f.readTensor("t", () => new Uint8Array(4)), "invalid_argument", /alloc must return a Uint8Array of exactly 8 bytes aligned to 4 for tensor "t"/);
    await rejects(f.readTensor("t", () => new Uint8Array(new ArrayBuffer(16), 2, 8)), "invalid_argument", /aligned to 4/);
    const ctl = new AbortController();
    await rejects(
      f.readTensor("t", undefined, { signal: ctl.signal, onBytes: () => ctl.abort() }),
      "aborted",
      /reading tensor "t" was aborted/,
    );
    await f.close();
    await rejects(f.readTensor("t"), "closed", /is closed/);
  });

  it("a file that shrank after it was opened", async () => {
    const path = await file({ t: tensor("F32", [2], 0, 8) }, f32Bytes([1, 2]));
    const f = await openSafetensors(path);
    const { truncate } = await import("node:fs/promises");
    await truncate(path, 20);
    await rejects(f.readTensor("t"), "invalid_model", /file ended while reading tensor "t"/);
    await f.close();
  });

  it("a bad chunk size", async () => {
    await rejects(openSafetensors(`${dir}/x`, { chunkBytes: 0 }), "invalid_argument", /chunkBytes must be a positive integer/);
  });
});
