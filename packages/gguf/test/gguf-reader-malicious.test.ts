// The GGUF reader against hand-crafted hostile files (llama.cpp's test-gguf cases, the @huggingface/gguf limits,
// the "43-byte file with an array length of 2^63" hang): each fails fast with a typed error naming the problem.
import { describe, expect, it } from "vitest";
import { readGGUF, readGGUFBytes } from "../src/gguf-reader.js";

/** Little-endian byte builder for hand-crafted files. */
class B {
  parts: number[] = [];
  u8(v: number) { this.parts.push(v & 0xff); return this; }
  u32(v: number) { const d = new DataView(new ArrayBuffer(4)); d.setUint32(0, v, true); this.parts.push(...new Uint8Array(d.buffer)); return this; }
  u64(v: bigint) { const d = new DataView(new ArrayBuffer(8)); d.setBigUint64(0, v, true); this.parts.push(...new Uint8Array(d.buffer)); return this; }
  str(s: string) { const b = new TextEncoder().encode(s); this.u64(BigInt(b.length)); this.parts.push(...b); return this; }
  raw(bytes: number[]) { this.parts.push(...bytes); return this; }
  pad(n: number) { while (this.parts.length % n) this.parts.push(0); return this; }
  zeros(n: number) { for (let i = 0; i < n; i++) this.parts.push(0); return this; }
  bytes() { return Uint8Array.from(this.parts); }
}

const head = (nTensors: bigint, nKV: bigint, version = 3) => new B().u32(0x46554747).u32(version).u64(nTensors).u64(nKV);
/** One F32 tensor info. */
const tensor = (b: B, name: string, dims: bigint[], type = 0, offset = 0n) => {
  b.str(name).u32(dims.length);
  for (const d of dims) b.u64(d);
  return b.u32(type).u64(offset);
};

async function rejects(bytes: Uint8Array, code: string, fragment: string): Promise<void> {
  const err = await readGGUFBytes(bytes).then(
    () => undefined,
    (e: unknown) => e as { code: string; message: string },
  );
  expect(err, `expected an error containing "${fragment}"`).toBeDefined();
  expect(err!.code).toBe(code);
  expect(err!.message).toContain(fragment);
  expect(err!.message.startsWith("gguf.read: ")).toBe(true);
}

describe("GGUF reader on hostile headers", () => {
  it("rejects bad magic, versions and empty files", async () => {
    await rejects(new B().u32(0x46554746).u32(3).u64(0n).u64(0n).bytes(), "invalid_model", "not a GGUF file (bad magic 0x46554746)");
    await rejects(head(0n, 0n, 0).bytes(), "invalid_model", "unsupported GGUF version 0 (2 and 3 are read)");
    await rejects(head(0n, 0n, 1).bytes(), "invalid_model", "unsupported GGUF version 1");
    await rejects(head(0n, 0n, 4).bytes(), "invalid_model", "unsupported GGUF version 4");
    await rejects(new Uint8Array(0), "invalid_model", "file ends inside the magic");
    await rejects(new B().u32(0x46554747).u32(3).u32(0).bytes(), "invalid_model", "file ends inside the tensor count");
  });

  it("rejects huge tensor and metadata counts before reading further", async () => {
    await rejects(head(2n ** 64n - 1n, 0n).bytes(), "invalid_model", "tensor count 18446744073709551615 exceeds the limit of 1000000");
    await rejects(head(0n, 2n ** 64n - 1n).bytes(), "invalid_model", "metadata count 18446744073709551615 exceeds the limit of 100000");
    await rejects(head(0n, 5n).bytes(), "invalid_model", "file ends inside metadata key 0 length");
  });

  it("rejects bad keys, value types and duplicate keys", async () => {
    await rejects(head(0n, 1n).u64(2n ** 63n).bytes(), "invalid_model", "metadata key 0 is 9223372036854775808 bytes, more than the limit");
    await rejects(head(0n, 1n).u64(100n).raw([0x61]).bytes(), "invalid_model", "file ends inside metadata key 0");
    await rejects(head(0n, 1n).str("").u32(4).u32(1).bytes(), "invalid_model", "metadata key 0 is empty");
    await rejects(head(0n, 1n).str("k").u32(13).bytes(), "invalid_model", 'metadata "k" has unknown value type 13');
    await rejects(head(0n, 2n).str("k").u32(4).u32(1).str("k").u32(4).u32(2).bytes(), "invalid_model", 'duplicate metadata key "k"');
    await rejects(head(0n, 1n).u64(2n).raw([0xc3, 0x28]).u32(4).u32(1).bytes(), "invalid_model", "metadata key 0 is not valid UTF-8");
    await rejects(head(0n, 1n).str("b").u32(7).u8(2).bytes(), "invalid_model", 'metadata "b" is not a bool (2)');
  });

  it("checks every array item as it checks a single value", async () => {
    await rejects(head(0n, 1n).str("b").u32(9).u32(7).u64(3n).raw([1, 0, 2]).bytes(), "invalid_model", 'an item of "b" is not a bool (2)');
    const utf8 = head(0n, 1n).str("s").u32(9).u32(8).u64(2n).str("ok").u64(2n).raw([0xc3, 0x28]);
    await rejects(utf8.bytes(), "invalid_model", 'an item of "s" is not valid UTF-8');
    const long = head(0n, 1n).str("s").u32(9).u32(8).u64(2n).str("ok").u64(2n ** 40n);
    await rejects(long.bytes(), "invalid_model", 'an item of "s" is 1099511627776 bytes, more than the limit');
    await rejects(head(0n, 1n).str("s").u32(9).u32(8).u64(2n).str("ok").u64(5n).raw([0x61]).bytes(), "invalid_model", 'file ends inside an item of "s"');
  });

  it("rejects strings and arrays longer than the file or the caps (the 43-byte hang)", async () => {
    const hang = head(0n, 1n).str("a").u32(9).u32(4).u64(2n ** 63n).bytes();
    await rejects(hang, "invalid_model", 'metadata "a" has 9223372036854775808 items, more than the limit of 16777216');
    await rejects(head(0n, 1n).str("a").u32(9).u32(4).u64(1000n).u32(1).bytes(), "invalid_model", 'metadata "a" declares 1000 items but the file ends first');
    await rejects(head(0n, 1n).str("a").u32(9).u32(99).u64(0n).bytes(), "invalid_model", 'metadata "a" has unknown array item type 99');
    await rejects(head(0n, 1n).str("s").u32(8).u64(2n ** 40n).bytes(), "invalid_model", 'metadata "s" is 1099511627776 bytes, more than the limit');
    const deep = head(0n, 1n).str("d").u32(9);
    for (let i = 0; i < 4; i++) deep.u32(9).u64(1n);
    await rejects(deep.zeros(16).bytes(), "invalid_model", 'metadata "d" nests arrays deeper than 3');
  });

  it("checks general.alignment's type and value", async () => {
    await rejects(head(0n, 1n).str("general.alignment").u32(5).u32(32).bytes(), "invalid_model", "general.alignment must be uint32, got int32");
    await rejects(head(0n, 1n).str("general.alignment").u32(4).u32(0).bytes(), "invalid_model", "general.alignment 0 is not a power of two");
    await rejects(head(0n, 1n).str("general.alignment").u32(4).u32(48).bytes(), "invalid_model", "general.alignment 48 is not a power of two");
  });

  it("rejects bad tensor infos", async () => {
    const one = (f: (b: B) => B) => f(head(1n, 0n)).pad(32).zeros(64).bytes();
    await rejects(one((b) => tensor(b, "x".repeat(64), [4n])), "invalid_model", "tensor 0 name must be 1 to 63 bytes");
    await rejects(one((b) => tensor(b, "", [4n])), "invalid_model", "tensor 0 name must be 1 to 63 bytes");
    await rejects(one((b) => tensor(b, "t", [4n, 1n, 1n, 1n, 1n])), "invalid_model", 'tensor "t" has 5 dimensions (1 to 4)');
    await rejects(one((b) => tensor(b, "t", [])), "invalid_model", 'tensor "t" has 0 dimensions (1 to 4)');
    await rejects(one((b) => tensor(b, "t", [4n, 0n])), "invalid_model", 'tensor "t" has dimension 0');
    await rejects(one((b) => tensor(b, "t", [2n ** 62n])), "invalid_model", 'tensor "t" has dimension 4611686018427387904');
    await rejects(one((b) => tensor(b, "t", [2n ** 40n, 2n ** 40n])), "invalid_model", 'tensor "t" has too many elements');
    await rejects(one((b) => tensor(b, "t", [4n], 200)), "invalid_model", 'tensor "t" has invalid type 200');
    await rejects(one((b) => tensor(b, "t", [31n], 8)), "invalid_model", 'tensor "t" rows of 31 are not a multiple of the Q8_0 block of 32');
    await rejects(one((b) => tensor(b, "t", [4n], 0, 8n)), "invalid_model", 'tensor "t" offset 8 is not aligned to 32');
    await rejects(one((b) => tensor(b, "t", [4n], 0, 2n ** 63n)), "invalid_model", 'tensor "t" (16 bytes at 9223372036854775808) lies outside the file');
    await rejects(one((b) => tensor(b, "t", [32n], 0, 0n)), "invalid_model", 'tensor "t" (128 bytes at 0) lies outside the file');
    const err = await readGGUFBytes(one((b) => tensor(b, "t", [4n], 39))).catch((e: unknown) => e as { code: string; message: string });
    expect(err).toMatchObject({ code: "unsupported" });
    expect((err as { message: string }).message).toContain('tensor "t" has ggml type 39, which this reader does not know');
  });

  it("rejects duplicate and overlapping tensors, and tensors past the end", async () => {
    const two = (second: (b: B) => B) => second(tensor(head(2n, 0n), "a", [4n])).pad(32).zeros(64).bytes();
    await rejects(two((b) => tensor(b, "a", [4n], 0, 32n)), "invalid_model", 'duplicate tensor "a"');
    await rejects(two((b) => tensor(b, "b", [4n], 0, 0n)), "invalid_model", 'tensors "a" and "b" overlap');
    const ok = await readGGUFBytes(two((b) => tensor(b, "b", [4n], 0, 32n)));
    expect(ok.tensors.map((t) => t.name)).toEqual(["a", "b"]);
    // Two tensors of 2^62 F32 elements each: each alone exceeds the file.
    await rejects(
      tensor(tensor(head(2n, 0n), "a", [2n ** 30n, 2n ** 20n]), "b", [2n ** 30n, 2n ** 20n], 0, 2n ** 52n).pad(32).bytes(),
      "invalid_model",
      'tensor "a" (4503599627370496 bytes at 0) lies outside the file',
    );
    // Data section missing entirely.
    await rejects(tensor(head(1n, 0n), "a", [4n]).bytes(), "invalid_model", "file ends before its data section");
  });

  it("reports a missing file as invalid_model with its path", async () => {
    await expect(readGGUF("/nonexistent/model.gguf")).rejects.toMatchObject({
      code: "invalid_model",
      message: expect.stringContaining("gguf.read: cannot open /nonexistent/model.gguf"),
    });
  });
});
