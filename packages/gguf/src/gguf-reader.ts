/**
 * Reads the header of a GGUF file (v2/v3, little-endian): metadata and tensor infos, defensively. The file is
 * untrusted: every count, length and offset is checked against caps and against the bytes that remain before
 * anything is allocated, and every failure is an `InferenceError` (`invalid_model`, or `unsupported` for a tensor
 * type this package does not know). The checks follow llama.cpp's test-gguf cases and @huggingface/gguf's limits.
 * Tensor data is not read here except on request (`readGGUFTensorData`); this is not a model loader.
 */
import { open } from "node:fs/promises";
import { InferenceError } from "@dappcore/inference";
import {
  GGML_BLOCK,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUFValueType,
  ggmlTypeName,
  type GGMLTypeName,
  type GGUFArrayValue,
  type GGUFMetadataValue,
  type GGUFScalar,
  type GGUFScalarTypeName,
  type GGUFValueTypeName,
} from "./gguf-types.js";

const OP = "gguf.read";

/** Caps on what a header may declare. */
export interface GGUFReadLimits {
  /** Most tensors. Default 1,000,000. */
  readonly maxTensors: number;
  /** Most metadata keys. Default 100,000. */
  readonly maxMetadata: number;
  /** Longest string (key, value or tensor name) in bytes. Default 16 MiB. */
  readonly maxStringBytes: number;
  /** Most elements of one array. Default 16,777,216. */
  readonly maxArrayLength: number;
  /** Deepest nesting of arrays. Default 3. */
  readonly maxArrayDepth: number;
}

/** The default caps. */
export const GGUF_READ_LIMITS: GGUFReadLimits = Object.freeze({
  maxTensors: 1_000_000,
  maxMetadata: 100_000,
  maxStringBytes: 16 * 1024 * 1024,
  maxArrayLength: 16 * 1024 * 1024,
  maxArrayDepth: 3,
});

/** ggml's limits on tensor names and dimensions. */
const MAX_NAME_BYTES = 63;
const MAX_DIMS = 4;

export interface GGUFTensorInfo {
  readonly name: string;
  /** Row-major shape, outermost first (the reverse of the file's ne order). */
  readonly shape: readonly number[];
  readonly type: GGMLTypeName;
  /** Offset from the start of the data section. */
  readonly offset: number;
  /** Absolute offset of the data in the file. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

export interface GGUFFile {
  readonly version: number;
  readonly metadata: ReadonlyMap<string, GGUFMetadataValue>;
  readonly tensors: readonly GGUFTensorInfo[];
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  readonly fileSize: number;
}

interface ByteSource {
  readonly size: number;
  read(position: number, length: number): Promise<Uint8Array>;
}

const CHUNK = 1 << 20;
const decoder = new TextDecoder("utf-8", { fatal: true });
const elementBytes: Record<GGUFScalarTypeName, number> = {
  uint8: 1, int8: 1, bool: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, uint64: 8, int64: 8, float64: 8,
  string: 8,
};
const typeNames = Object.keys(GGUFValueType) as GGUFValueTypeName[];

/** A forward cursor over a byte source that reads ahead in chunks and bounds every read by the file size. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;

  constructor(
    private readonly src: ByteSource,
    private readonly fail: (message: string, details?: Record<string, unknown>) => InferenceError,
  ) {}

  get remaining(): number {
    return this.src.size - this.pos;
  }

  private async need(n: number, what: string): Promise<number> {
    if (n > this.remaining) throw this.fail(`file ends inside ${what} (needs ${n} bytes at offset ${this.pos}, ${this.remaining} left)`);
    if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.byteLength) {
      const length = Math.min(Math.max(n, CHUNK), this.remaining);
      this.buf = await this.src.read(this.pos, length);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
      this.bufStart = this.pos;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  /** The next fixed-size value of `type` (bool as its byte), reading ahead when it is not buffered. */
  async fixed(type: Exclude<GGUFScalarTypeName, "string">, what: string): Promise<number | bigint> {
    const at = await this.need(elementBytes[type], what);
    return valueAt(this.view, at, type);
  }
  async u32(what: string): Promise<number> {
    return (await this.fixed("uint32", what)) as number;
  }
  async u64(what: string): Promise<bigint> {
    return (await this.fixed("uint64", what)) as bigint;
  }

  /** Whether bytes pos .. pos + n are already in the buffer. */
  private buffered(n: number): boolean {
    return this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.byteLength;
  }

  /**
   * The next scalar read without waiting, when its bytes are already buffered; else undefined and nothing is
   * consumed (the awaiting reader then reads it, failing the same way). Arrays of 100 000 items (a vocabulary) read
   * item by item through promises made enough garbage to grow the process by about 15 MB.
   */
  scalarNow(type: GGUFScalarTypeName, what: string, maxStringBytes: number): GGUFScalar | undefined {
    const size = elementBytes[type];
    if (!this.buffered(size)) return undefined;
    const at = this.pos - this.bufStart;
    let value: GGUFScalar;
    switch (type) {
      case "bool": {
        const b = this.view.getUint8(at);
        if (b > 1) return undefined; // the awaiting reader reports it
        value = b === 1;
        break;
      }
      case "string": {
        const len = this.view.getBigUint64(at, true);
        if (len > BigInt(maxStringBytes) || !this.buffered(8 + Number(len))) return undefined;
        const n = Number(len);
        try {
          value = decoder.decode(this.buf.subarray(at + 8, at + 8 + n));
        } catch {
          throw this.fail(`${what} is not valid UTF-8`);
        }
        this.pos += 8 + n;
        return value;
      }
      default:
        value = valueAt(this.view, at, type);
    }
    this.pos += size;
    return value;
  }

  async string(what: string, maxBytes: number): Promise<string> {
    const len = await this.u64(`${what} length`);
    if (len > BigInt(maxBytes)) throw this.fail(`${what} is ${len} bytes, more than the limit of ${maxBytes}`);
    const n = Number(len);
    const at = await this.need(n, what);
    try {
      return decoder.decode(this.buf.subarray(at, at + n));
    } catch {
      throw this.fail(`${what} is not valid UTF-8`);
    }
  }
}

/**
 * Reads and validates the header of the GGUF file at `path`.
 *
 * @example
 * const gguf = await readGGUF("model.gguf");
 * gguf.metadata.get("general.architecture"); // { type: "string", value: "llama" }
 */
export async function readGGUF(path: string, limits: Partial<GGUFReadLimits> = {}): Promise<GGUFFile> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (cause) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `cannot open ${path}`, cause, details: { path } });
  }
  try {
    const size = (await handle.stat()).size;
    const src: ByteSource = {
      size,
      async read(position, length) {
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, position + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        if (done < length) throw new InferenceError({ code: "invalid_model", op: OP, message: `${path} shrank while reading` });
        return out;
      },
    };
    return await parse(src, { ...GGUF_READ_LIMITS, ...limits }, path);
  } finally {
    await handle.close();
  }
}

/** Reads and validates a GGUF header held in memory (the whole file, or at least through its header). */
export async function readGGUFBytes(bytes: Uint8Array, limits: Partial<GGUFReadLimits> = {}): Promise<GGUFFile> {
  const src: ByteSource = { size: bytes.byteLength, read: async (p, n) => bytes.subarray(p, p + n) };
  return parse(src, { ...GGUF_READ_LIMITS, ...limits }, "<memory>");
}

/** Reads one tensor's bytes from the file (a fresh buffer, aligned for any element type). */
export async function readGGUFTensorData(path: string, tensor: GGUFTensorInfo): Promise<Uint8Array> {
  const handle = await open(path, "r");
  try {
    const out = new Uint8Array(tensor.byteLength);
    let done = 0;
    while (done < out.byteLength) {
      const { bytesRead } = await handle.read(out, done, Math.min(out.byteLength - done, 1 << 30), tensor.fileOffset + done);
      if (bytesRead === 0) {
        throw new InferenceError({ code: "invalid_model", op: OP, message: `${path} ends inside tensor "${tensor.name}"` });
      }
      done += bytesRead;
    }
    return out;
  } finally {
    await handle.close();
  }
}

async function parse(src: ByteSource, limits: GGUFReadLimits, path: string): Promise<GGUFFile> {
  const fail = (message: string, details: Record<string, unknown> = {}) =>
    new InferenceError({ code: "invalid_model", op: OP, message: `${path}: ${message}`, details: { path, ...details } });
  const c = new Cursor(src, fail);

  const magic = await c.u32("the magic");
  if (magic !== GGUF_MAGIC) throw fail(`not a GGUF file (bad magic 0x${magic.toString(16).padStart(8, "0")})`);
  const version = await c.u32("the version");
  if (version !== 2 && version !== 3) throw fail(`unsupported GGUF version ${version} (2 and 3 are read)`, { version });
  const nTensors = await c.u64("the tensor count");
  if (nTensors > BigInt(limits.maxTensors)) throw fail(`tensor count ${nTensors} exceeds the limit of ${limits.maxTensors}`);
  const nKV = await c.u64("the metadata count");
  if (nKV > BigInt(limits.maxMetadata)) throw fail(`metadata count ${nKV} exceeds the limit of ${limits.maxMetadata}`);

  const metadata = new Map<string, GGUFMetadataValue>();
  for (let i = 0; i < Number(nKV); i++) {
    const key = await c.string(`metadata key ${i}`, limits.maxStringBytes);
    if (key.length === 0) throw fail(`metadata key ${i} is empty`);
    if (metadata.has(key)) throw fail(`duplicate metadata key "${key}"`, { key });
    const typeId = await c.u32(`the type of "${key}"`);
    const type = typeNames[typeId];
    if (type === undefined) throw fail(`metadata "${key}" has unknown value type ${typeId}`, { key });
    metadata.set(key, await readValue(c, type, key, limits, 0, fail));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignValue = metadata.get("general.alignment");
  if (alignValue !== undefined) {
    if (alignValue.type !== "uint32") throw fail(`general.alignment must be uint32, got ${alignValue.type}`);
    const a = alignValue.value;
    if (a === 0 || (a & (a - 1)) !== 0) throw fail(`general.alignment ${a} is not a power of two`);
    alignment = a;
  }

  const raw: { name: string; shape: number[]; type: GGMLTypeName; offset: bigint; byteLength: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < Number(nTensors); i++) {
    const name = await c.string(`tensor name ${i}`, limits.maxStringBytes);
    if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES) {
      throw fail(`tensor ${i} name must be 1 to ${MAX_NAME_BYTES} bytes`);
    }
    if (names.has(name)) throw fail(`duplicate tensor "${name}"`, { tensor: name });
    names.add(name);
    const nDims = await c.u32(`the dimension count of "${name}"`);
    if (nDims < 1 || nDims > MAX_DIMS) throw fail(`tensor "${name}" has ${nDims} dimensions (1 to ${MAX_DIMS})`, { tensor: name });
    const ne: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const dim = await c.u64(`a dimension of "${name}"`);
      if (dim === 0n || dim > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`tensor "${name}" has dimension ${dim}`, { tensor: name });
      elements *= Number(dim);
      if (!Number.isSafeInteger(elements)) throw fail(`tensor "${name}" has too many elements`, { tensor: name });
      ne.push(Number(dim));
    }
    const typeId = await c.u32(`the type of "${name}"`);
    const type = ggmlTypeName(typeId);
    if (type === undefined) {
      if (typeId < 64) {
        throw new InferenceError({
          code: "unsupported",
          op: OP,
          message: `${path}: tensor "${name}" has ggml type ${typeId}, which this reader does not know`,
          details: { path, tensor: name, type: typeId },
        });
      }
      throw fail(`tensor "${name}" has invalid type ${typeId}`, { tensor: name });
    }
    const { blockSize, typeSize } = GGML_BLOCK[type];
    if (ne[0] % blockSize !== 0) throw fail(`tensor "${name}" rows of ${ne[0]} are not a multiple of the ${type} block of ${blockSize}`);
    const byteLength = (elements / blockSize) * typeSize;
    if (!Number.isSafeInteger(byteLength)) throw fail(`tensor "${name}" is too large`, { tensor: name });
    const offset = await c.u64(`the offset of "${name}"`);
    if (offset % BigInt(alignment) !== 0n) throw fail(`tensor "${name}" offset ${offset} is not aligned to ${alignment}`);
    raw.push({ name, shape: ne.slice().reverse(), type, offset, byteLength });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (dataOffset > src.size && raw.length > 0) throw fail(`file ends before its data section`);
  const dataSize = BigInt(Math.max(0, src.size - dataOffset));
  const tensors: GGUFTensorInfo[] = raw.map((t) => {
    if (t.offset + BigInt(t.byteLength) > dataSize) {
      throw fail(`tensor "${t.name}" (${t.byteLength} bytes at ${t.offset}) lies outside the file`, { tensor: t.name });
    }
    const offset = Number(t.offset);
    return { name: t.name, shape: t.shape, type: t.type, offset, fileOffset: dataOffset + offset, byteLength: t.byteLength };
  });
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].offset < sorted[i - 1].offset + sorted[i - 1].byteLength) {
      throw fail(`tensors "${sorted[i - 1].name}" and "${sorted[i].name}" overlap`);
    }
  }
  return { version, metadata, tensors, alignment, dataOffset, fileSize: src.size };
}

async function readScalar(c: Cursor, type: GGUFScalarTypeName, what: string, limits: GGUFReadLimits): Promise<GGUFScalar> {
  if (type === "string") return c.string(what, limits.maxStringBytes);
  const value = await c.fixed(type, what);
  if (type !== "bool") return value;
  if (value !== 0 && value !== 1) throw new InferenceError({ code: "invalid_model", op: OP, message: `${what} is not a bool (${value})` });
  return value === 1;
}

/** The little-endian value of `type` at byte `at` of `view` (bool: its byte). */
function valueAt(view: DataView, at: number, type: Exclude<GGUFScalarTypeName, "string">): number | bigint {
  switch (type) {
    case "uint8": case "bool": return view.getUint8(at);
    case "int8": return view.getInt8(at);
    case "uint16": return view.getUint16(at, true);
    case "int16": return view.getInt16(at, true);
    case "uint32": return view.getUint32(at, true);
    case "int32": return view.getInt32(at, true);
    case "float32": return view.getFloat32(at, true);
    case "float64": return view.getFloat64(at, true);
    case "uint64": return view.getBigUint64(at, true);
    case "int64": return view.getBigInt64(at, true);
  }
}

async function readValue(
  c: Cursor,
  type: GGUFValueTypeName,
  key: string,
  limits: GGUFReadLimits,
  depth: number,
  fail: (message: string) => InferenceError,
): Promise<GGUFMetadataValue> {
  if (type !== "array") {
    return { type, value: await readScalar(c, type, `metadata "${key}"`, limits) } as GGUFMetadataValue;
  }
  if (depth >= limits.maxArrayDepth) throw fail(`metadata "${key}" nests arrays deeper than ${limits.maxArrayDepth}`);
  const itemId = await c.u32(`the item type of "${key}"`);
  const itemType = typeNames[itemId];
  if (itemType === undefined) throw fail(`metadata "${key}" has unknown array item type ${itemId}`);
  const count = await c.u64(`the length of "${key}"`);
  if (count > BigInt(limits.maxArrayLength)) throw fail(`metadata "${key}" has ${count} items, more than the limit of ${limits.maxArrayLength}`);
  const n = Number(count);
  // Each item takes at least this many bytes, so a count the file cannot hold fails before any allocation.
  const minBytes = itemType === "array" ? 12 : elementBytes[itemType];
  if (n * minBytes > c.remaining) throw fail(`metadata "${key}" declares ${n} items but the file ends first`);
  if (itemType === "array") {
    const items: GGUFArrayValue[] = [];
    for (let i = 0; i < n; i++) items.push((await readValue(c, "array", key, limits, depth + 1, fail)) as GGUFArrayValue);
    return { type: "array", itemType: "array", value: items };
  }
  const items: GGUFScalar[] = new Array(n);
  const what = `an item of "${key}"`;
  for (let i = 0; i < n; i++) items[i] = c.scalarNow(itemType, what, limits.maxStringBytes) ?? (await readScalar(c, itemType, what, limits));
  return { type: "array", itemType, value: items };
}
