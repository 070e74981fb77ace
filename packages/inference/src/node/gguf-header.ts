/// <reference types="node" />
/**
 * A minimal, bounded reader of a GGUF file's header and metadata key/values (no tensors), enough for `discover()`
 * to name a .gguf file's architecture and quantisation. It reads through a small buffer, never the whole file, stops
 * as soon as the keys it was asked for are found, and fails with `invalid_model` on anything malformed: bad magic,
 * an unsupported version, truncation, absurd counts or lengths, unknown value types, or more metadata than the limit.
 *
 * This is not a GGUF loader: tensor infos and data are never read (the full reader is the gguf package's job).
 *
 * Layout (little-endian): "GGUF" u32 version (2 or 3) u64 tensor_count u64 metadata_kv_count, then per key/value:
 * string key, u32 type, value; strings are u64 length + UTF-8 bytes; arrays are u32 item type, u64 count, items.
 */
import { open, type FileHandle } from "node:fs/promises";
import { InferenceError } from "../errors.js";

/** What an array value becomes: its item type and length (the items are skipped, not kept). */
export interface GGUFArraySummary {
  readonly kind: "array";
  readonly itemType: number;
  readonly length: number;
}

export type GGUFValue = number | bigint | boolean | string | GGUFArraySummary;

export interface GGUFHeader {
  readonly version: number;
  readonly tensorCount: number;
  readonly metadataCount: number;
  /** The key/values read, in file order (all of them, or up to the last of `keys` when given). */
  readonly metadata: ReadonlyMap<string, GGUFValue>;
}

export interface ReadGGUFHeaderOptions {
  /**
   * Stop reading once all of these keys were seen. Default: read every key/value.
   * @example readGGUFHeader(file, { keys: ["general.architecture", "general.file_type"] })
   */
  keys?: readonly string[];
  /**
   * Most bytes of header and metadata to read. Default: 64 MiB (vocabularies of several hundred thousand tokens fit).
   * @example readGGUFHeader(file, { maxBytes: 1 << 20 })
   */
  maxBytes?: number;
}

const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
const MAX_KEY_BYTES = 65_536;
const MAX_METADATA_COUNT = 1_000_000;
const MAX_ARRAY_DEPTH = 4;
const CHUNK = 64 * 1024;

/** GGUF value types and the byte size of the fixed-size ones. */
const FIXED_SIZE: Readonly<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const TYPE_STRING = 8;
const TYPE_ARRAY = 9;

/**
 * Reads the header and metadata of the GGUF file at `path`. Throws `InferenceError` with code `invalid_model`
 * (the message names the file and the problem) when the file is missing, unreadable or malformed.
 *
 * @example
 * const h = await readGGUFHeader("model.gguf", { keys: ["general.architecture"] });
 * h.metadata.get("general.architecture"); // "llama"
 */
export async function readGGUFHeader(path: string, options: ReadGGUFHeaderOptions = {}): Promise<GGUFHeader> {
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw bad(path, "cannot open file", e);
  }
  try {
    const size = (await fh.stat()).size;
    const r = new ByteReader(fh, size, maxBytes, path);
    if ((await r.u32()) !== MAGIC) throw bad(path, "not a GGUF file (bad magic)");
    const version = await r.u32();
    if (version !== 2 && version !== 3) throw bad(path, `unsupported GGUF version ${version} (2 and 3 are read)`);
    const tensorCount = toCount(await r.u64(), path, "tensor count", Number.MAX_SAFE_INTEGER);
    const metadataCount = toCount(await r.u64(), path, "metadata count", MAX_METADATA_COUNT);
    const wanted = new Set(options.keys ?? []);
    const stopEarly = wanted.size > 0;
    const metadata = new Map<string, GGUFValue>();
    for (let i = 0; i < metadataCount; i++) {
      const key = await r.string(MAX_KEY_BYTES, "key");
      const type = await r.u32();
      metadata.set(key, await readValue(r, type, key, 0));
      if (stopEarly) {
        wanted.delete(key);
        if (wanted.size === 0) break;
      }
    }
    return { version, tensorCount, metadataCount, metadata };
  } finally {
    await fh.close();
  }
}

/** Quantisation named by GGUF's `general.file_type` (llama.cpp's `LLAMA_FTYPE_*`). */
export interface GGUFQuantization {
  readonly bits: number;
  /** Weights per scale; 0 for float types. */
  readonly group: number;
  /** Lowercase llama.cpp name, e.g. "q4_k_m"; "" when the file type is unknown here. */
  readonly type: string;
}

const FILE_TYPES: Readonly<Record<number, GGUFQuantization>> = {
  0: { bits: 32, group: 0, type: "f32" },
  1: { bits: 16, group: 0, type: "f16" },
  2: { bits: 4, group: 32, type: "q4_0" },
  3: { bits: 4, group: 32, type: "q4_1" },
  7: { bits: 8, group: 32, type: "q8_0" },
  8: { bits: 5, group: 32, type: "q5_0" },
  9: { bits: 5, group: 32, type: "q5_1" },
  10: { bits: 2, group: 16, type: "q2_k" },
  11: { bits: 3, group: 16, type: "q3_k_s" },
  12: { bits: 3, group: 16, type: "q3_k_m" },
  13: { bits: 3, group: 16, type: "q3_k_l" },
  14: { bits: 4, group: 32, type: "q4_k_s" },
  15: { bits: 4, group: 32, type: "q4_k_m" },
  16: { bits: 5, group: 32, type: "q5_k_s" },
  17: { bits: 5, group: 32, type: "q5_k_m" },
  18: { bits: 6, group: 16, type: "q6_k" },
  32: { bits: 16, group: 0, type: "bf16" },
};

/** The quantisation of a GGUF `general.file_type`; zeros and "" for types not in the table (or undefined). */
export function ggufQuantization(fileType: number | undefined): GGUFQuantization {
  return (fileType === undefined ? undefined : FILE_TYPES[fileType]) ?? { bits: 0, group: 0, type: "" };
}

async function readValue(r: ByteReader, type: number, key: string, depth: number): Promise<GGUFValue> {
  switch (type) {
    case 0: return (await r.bytes(1)).readUInt8(0);
    case 1: return (await r.bytes(1)).readInt8(0);
    case 2: return (await r.bytes(2)).readUInt16LE(0);
    case 3: return (await r.bytes(2)).readInt16LE(0);
    case 4: return r.u32();
    case 5: return (await r.bytes(4)).readInt32LE(0);
    case 6: return (await r.bytes(4)).readFloatLE(0);
    case 7: return (await r.bytes(1)).readUInt8(0) !== 0;
    case 8: return r.string(r.remaining(), `value of "${key}"`);
    case 10: return narrow(await r.u64());
    case 11: return narrow((await r.bytes(8)).readBigInt64LE(0));
    case 12: return (await r.bytes(8)).readDoubleLE(0);
    case 9: {
      if (depth >= MAX_ARRAY_DEPTH) throw bad(r.path, `arrays nested deeper than ${MAX_ARRAY_DEPTH} in "${key}"`);
      const itemType = await r.u32();
      const length = toCount(await r.u64(), r.path, `array length of "${key}"`, r.remaining());
      const fixed = FIXED_SIZE[itemType];
      if (fixed !== undefined) {
        await r.skip(length * fixed);
      } else if (itemType === TYPE_STRING) {
        for (let i = 0; i < length; i++) await r.skip(toCount(await r.u64(), r.path, `string in "${key}"`, r.remaining()));
      } else if (itemType === TYPE_ARRAY) {
        for (let i = 0; i < length; i++) await readValue(r, TYPE_ARRAY, key, depth + 1);
      } else {
        throw bad(r.path, `unknown array item type ${itemType} in "${key}"`);
      }
      return { kind: "array", itemType, length };
    }
    default:
      throw bad(r.path, `unknown value type ${type} for "${key}"`);
  }
}

/** Buffered sequential reads with a byte budget; every read checks the file end and the budget. */
class ByteReader {
  #buf = Buffer.alloc(0);
  #bufStart = 0;
  #pos = 0;

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
    private readonly maxBytes: number,
    readonly path: string,
  ) {}

  /** Bytes left before the file end or the budget, whichever is first. */
  remaining(): number {
    return Math.min(this.size, this.maxBytes) - this.#pos;
  }

  async bytes(n: number): Promise<Buffer> {
    this.#check(n);
    const offset = this.#pos - this.#bufStart;
    if (offset < 0 || offset + n > this.#buf.length) {
      const want = Math.min(Math.max(n, CHUNK), this.size - this.#pos);
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await this.fh.read(buf, got, want - got, this.#pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < n) throw bad(this.path, `truncated at byte ${this.#pos + got}`);
      this.#buf = buf.subarray(0, got);
      this.#bufStart = this.#pos;
    }
    const start = this.#pos - this.#bufStart;
    this.#pos += n;
    return this.#buf.subarray(start, start + n);
  }

  async skip(n: number): Promise<void> {
    this.#check(n);
    this.#pos += n;
  }

  async u32(): Promise<number> {
    return (await this.bytes(4)).readUInt32LE(0);
  }

  async u64(): Promise<bigint> {
    return (await this.bytes(8)).readBigUInt64LE(0);
  }

  async string(limit: number, what: string): Promise<string> {
    const length = toCount(await this.u64(), this.path, `length of ${what}`, limit);
    return (await this.bytes(length)).toString("utf8");
  }

  #check(n: number): void {
    if (this.#pos + n > this.maxBytes) throw bad(this.path, `metadata exceeds the ${this.maxBytes}-byte limit`);
    if (this.#pos + n > this.size) throw bad(this.path, `truncated at byte ${this.size}`);
  }
}

function toCount(value: bigint, path: string, what: string, limit: number): number {
  if (value > BigInt(limit)) throw bad(path, `${what} ${value} exceeds the limit of ${limit}`);
  return Number(value);
}

function narrow(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
}

function bad(path: string, message: string, cause?: unknown): InferenceError {
  return new InferenceError({
    code: "invalid_model",
    op: "inference.readGGUFHeader",
    message: `${JSON.stringify(path)}: ${message}`,
    details: { path },
    ...(cause === undefined ? {} : { cause }),
  });
}
