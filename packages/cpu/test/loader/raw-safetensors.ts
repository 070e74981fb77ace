/**
 * Test helper: writes safetensors files byte by byte, including malformed ones (any header text, any declared
 * header length, any data), so the reader's rejections can be exercised. Not a test itself.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RawFile {
  /** Header text exactly as written (not re-serialised, so duplicate keys survive). */
  readonly header: string;
  /** Bytes after the header. Default none. */
  readonly data?: Uint8Array;
  /** Declared header length; default the header's UTF-8 length. */
  readonly declaredLength?: bigint;
}

export function rawSafetensors(spec: RawFile): Buffer {
  const header = Buffer.from(spec.header, "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(spec.declaredLength ?? BigInt(header.length));
  return Buffer.concat([prefix, header, spec.data ?? new Uint8Array(0)]);
}

export async function writeRaw(dir: string, name: string, spec: RawFile): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, rawSafetensors(spec));
  return path;
}

/** A fresh temporary directory and a function that removes it. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Float32 values as little-endian bytes. */
export function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}
