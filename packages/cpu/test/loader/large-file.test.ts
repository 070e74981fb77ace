// A safetensors file over 2 GiB (sparse, so it costs no disk): the tensor stored past the 2 GiB mark reads back
// exactly, which needs 64-bit positioned reads and no whole-file Buffer.
import { open } from "node:fs/promises";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openSafetensors } from "../../src/loader/safetensors-reader.js";
import { f32Bytes, tempDir } from "./raw-safetensors.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir("st-large")));
afterAll(async () => cleanup());

it("reads the tensor at the end of a sparse 2.5 GiB file", async () => {
  const padBytes = 2 ** 31 + 2 ** 29; // 2.5 GiB of U8 zeros, never read
  const tail = [3.5, -1.25, 1e-30, 42];
  const header = JSON.stringify({
    pad: { dtype: "U8", shape: [padBytes], data_offsets: [0, padBytes] },
    tail: { dtype: "F32", shape: [2, 2], data_offsets: [padBytes, padBytes + 16] },
  });
  const headerBytes = Buffer.from(header);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  const path = `${dir}/big.safetensors`;
  const dataOffset = 8 + headerBytes.length;
  const fh = await open(path, "w");
  try {
    await fh.write(prefix, 0, 8, 0);
    await fh.write(headerBytes, 0, headerBytes.length, 8);
    await fh.truncate(dataOffset + padBytes + 16);
    await fh.write(f32Bytes(tail), 0, 16, dataOffset + padBytes);
  } finally {
    await fh.close();
  }
  const f = await openSafetensors(path);
  try {
    expect(f.byteLength).toBe(dataOffset + padBytes + 16);
    expect(f.byteLength).toBeGreaterThan(2 ** 31);
    expect(f.entries.get("tail")).toEqual({ dtype: "F32", shape: [2, 2], begin: padBytes, end: padBytes + 16 });
    const t = await f.readTensor("tail");
    expect(Array.from(new Float32Array(t.data.buffer, t.data.byteOffset, 4))).toEqual(tail.map(Math.fround));
  } finally {
    await f.close();
  }
});
