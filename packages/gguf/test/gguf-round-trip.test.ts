// GGUF writer -> reader round trip: every metadata value type (arrays and nested arrays included), tensor infos,
// alignment, and the data of each tensor at its aligned offset; plus the writer's typed errors.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GGUFWriter } from "../src/gguf-writer.js";
import { readGGUF, readGGUFBytes, readGGUFTensorData } from "../src/gguf-reader.js";
import type { GGUFMetadataValue } from "../src/gguf-types.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gguf-rt-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const everyType: [string, GGUFMetadataValue][] = [
  ["t.uint8", { type: "uint8", value: 255 }],
  ["t.int8", { type: "int8", value: -128 }],
  ["t.uint16", { type: "uint16", value: 65535 }],
  ["t.int16", { type: "int16", value: -32768 }],
  ["t.uint32", { type: "uint32", value: 4294967295 }],
  ["t.int32", { type: "int32", value: -2147483648 }],
  ["t.float32", { type: "float32", value: Math.fround(3.14159) }],
  ["t.float64", { type: "float64", value: Math.PI }],
  ["t.bool", { type: "bool", value: true }],
  ["t.bool_false", { type: "bool", value: false }],
  ["t.string", { type: "string", value: "héllo ✓ 🦙" }],
  ["t.empty_string", { type: "string", value: "" }],
  ["t.uint64", { type: "uint64", value: 18446744073709551615n }],
  ["t.int64", { type: "int64", value: -9223372036854775808n }],
  ["t.arr.u8", { type: "array", itemType: "uint8", value: [0, 1, 255] }],
  ["t.arr.i32", { type: "array", itemType: "int32", value: [-1, 0, 7] }],
  ["t.arr.f32", { type: "array", itemType: "float32", value: [0.5, -2, Math.fround(0.1)] }],
  ["t.arr.f64", { type: "array", itemType: "float64", value: [0.1, 1e300] }],
  ["t.arr.str", { type: "array", itemType: "string", value: ["a", "", "Ġb c"] }],
  ["t.arr.bool", { type: "array", itemType: "bool", value: [true, false] }],
  ["t.arr.u64", { type: "array", itemType: "uint64", value: [0n, 1n << 63n] }],
  ["t.arr.i64", { type: "array", itemType: "int64", value: [-5n] }],
  ["t.arr.u16", { type: "array", itemType: "uint16", value: [1, 2] }],
  ["t.arr.i16", { type: "array", itemType: "int16", value: [-1] }],
  ["t.arr.i8", { type: "array", itemType: "int8", value: [-3] }],
  ["t.arr.u32", { type: "array", itemType: "uint32", value: [] }],
  [
    "t.arr.nested",
    {
      type: "array",
      itemType: "array",
      value: [
        { type: "array", itemType: "int32", value: [1, 2] },
        { type: "array", itemType: "string", value: ["x"] },
      ],
    },
  ],
];

describe("GGUF round trip", () => {
  it.each([32, 64])("writes and reads back every value type and the tensors (alignment %d)", async (alignment) => {
    const w = new GGUFWriter({ alignment });
    for (const [k, v] of everyType) w.addMetadata(k, v);
    w.addTensor("a.weight", [3, 2], "F32");
    w.addTensor("b.weight", [5], "F16");
    w.addTensor("c.weight", [2, 32], "Q8_0");
    const data = [
      new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer),
      new Uint8Array(10).fill(7),
      new Uint8Array(68).fill(9),
    ];
    const path = join(dir, `rt-${alignment}.gguf`);
    await w.write(path, (_t, i) => data[i]);

    const g = await readGGUF(path);
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(alignment);
    const expected = new Map(everyType);
    if (alignment !== 32) expected.set("general.alignment", { type: "uint32", value: alignment });
    expect(new Map(g.metadata)).toEqual(expected);
    expect(g.tensors.map((t) => [t.name, t.shape, t.type, t.byteLength])).toEqual([
      ["a.weight", [3, 2], "F32", 24],
      ["b.weight", [5], "F16", 10],
      ["c.weight", [2, 32], "Q8_0", 68],
    ]);
    for (const [i, t] of g.tensors.entries()) {
      expect(t.fileOffset % alignment).toBe(0);
      expect(await readGGUFTensorData(path, t)).toEqual(data[i]);
    }
    // The file on disk has the dims in ggml order: a.weight [3, 2] is stored as ne = [2, 3].
    const bytes = new Uint8Array(await readFile(path));
    expect((await readGGUFBytes(bytes)).tensors[0].shape).toEqual([3, 2]);
    expect(g.fileSize).toBe(bytes.byteLength);
  });

  it("reads arrays whose items cross the reader's 1 MiB read-ahead chunks", async () => {
    // 150 000 strings of 7 to 26 bytes and as many uint32 and int64: about 5.5 MB of metadata, read in 1 MiB chunks.
    const strings = Array.from({ length: 150_000 }, (_, i) => `token-${i}-${"é".repeat(i % 10)}`);
    const numbers = Array.from({ length: 150_000 }, (_, i) => (i * 2654435761) >>> 0);
    const bigs = Array.from({ length: 150_000 }, (_, i) => BigInt(i) * -(3n ** 20n));
    const w = new GGUFWriter();
    w.addMetadata("t.strings", { type: "array", itemType: "string", value: strings });
    w.addMetadata("t.numbers", { type: "array", itemType: "uint32", value: numbers });
    w.addMetadata("t.bigs", { type: "array", itemType: "int64", value: bigs });
    const path = join(dir, "big-arrays.gguf");
    await w.write(path, () => new Uint8Array(0));
    const g = await readGGUF(path);
    expect(g.metadata.get("t.strings")).toEqual({ type: "array", itemType: "string", value: strings });
    expect(g.metadata.get("t.numbers")).toEqual({ type: "array", itemType: "uint32", value: numbers });
    expect(g.metadata.get("t.bigs")).toEqual({ type: "array", itemType: "int64", value: bigs });
  });

  it("writes a file with no tensors", async () => {
    const w = new GGUFWriter();
    w.addMetadata("general.architecture", { type: "string", value: "llama" });
    const path = join(dir, "empty.gguf");
    await w.write(path, () => new Uint8Array(0));
    const g = await readGGUF(path);
    expect(g.tensors).toEqual([]);
    expect(g.metadata.get("general.architecture")).toEqual({ type: "string", value: "llama" });
  });
});

describe("GGUF writer errors", () => {
  const code = (c: string, message: string) => expect.objectContaining({ code: c, message });
  it("rejects bad alignment, keys, values and tensors", async () => {
    expect(() => new GGUFWriter({ alignment: 48 })).toThrowError(
      code("invalid_argument", "gguf.write: alignment must be a power of two up to 1 MiB, got 48"),
    );
    const w = new GGUFWriter();
    w.addMetadata("k", { type: "uint8", value: 1 });
    expect(() => w.addMetadata("k", { type: "uint8", value: 1 })).toThrowError(code("invalid_argument", 'gguf.write: duplicate metadata key "k"'));
    expect(() => w.addMetadata("", { type: "uint8", value: 1 })).toThrowError(code("invalid_argument", "gguf.write: empty metadata key"));
    expect(() => w.addMetadata("general.alignment", { type: "uint32", value: 64 })).toThrowError(
      code("invalid_argument", "gguf.write: general.alignment is set through the alignment option"),
    );
    expect(() => w.addMetadata("x", { type: "uint8", value: 256 })).toThrowError(
      code("invalid_argument", 'gguf.write: metadata "x": 256 is out of range for uint8'),
    );
    expect(() => w.addMetadata("y", { type: "uint64", value: 1 as unknown as bigint })).toThrowError(
      code("invalid_argument", 'gguf.write: metadata "y": expected a bigint for uint64, got number'),
    );
    expect(() => w.addMetadata("z", { type: "array", itemType: "string", value: ["a", 1 as unknown as string] })).toThrowError(
      code("invalid_argument", 'gguf.write: metadata "z": expected a string, got number'),
    );
    expect(() => w.addTensor("t", [3, 31], "Q8_0")).toThrowError(
      code("invalid_argument", "gguf.write: a Q8_0 row must be a multiple of 32 elements, got 31"),
    );
    expect(() => w.addTensor("t", [0], "F32")).toThrowError(
      code("invalid_argument", 'gguf.write: tensor "t" has an invalid shape [0] (1 to 4 positive dimensions)'),
    );
    expect(() => w.addTensor("x".repeat(64), [1], "F32")).toThrowError(
      code("invalid_argument", `gguf.write: tensor name must be 1 to 63 bytes, got "${"x".repeat(64)}"`),
    );
    w.addTensor("t", [4], "F32");
    expect(() => w.addTensor("t", [4], "F32")).toThrowError(code("invalid_argument", 'gguf.write: duplicate tensor "t"'));
    await expect(w.write(join(dir, "bad.gguf"), () => new Uint8Array(15))).rejects.toThrowError(
      code("invalid_argument", 'gguf.write: tensor "t" (F32 [4]) needs 16 bytes, got 15'),
    );
    await expect(w.write(join(dir, "no-such-dir", "x.gguf"), () => new Uint8Array(16))).rejects.toMatchObject({ code: "internal" });
  });
});
