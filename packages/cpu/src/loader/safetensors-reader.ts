/**
 * Reads safetensors files safely: the header is validated by every rule of the format (and of the reference Rust
 * implementation) before any tensor data is touched, and tensor bytes are read in bounded chunks with positioned
 * reads, so files past 2 GiB work and no single read exceeds Node's Buffer limit. Not a writer (see
 * `safetensors-writer.ts`) and not a model loader (see `model-dir.ts`).
 */
import { open, type FileHandle } from "node:fs/promises";
import { basename } from "node:path";
import { InferenceError } from "@dappcore/inference";
import type { DType, Tensor } from "../model-config.js";
import { findDuplicateKey } from "./json-duplicate-keys.js";

/** Largest header accepted, as in the reference implementation (`MAX_HEADER_SIZE`). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Default size of one positioned read: 64 MiB. */
export const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

/** Bits per element of every dtype the safetensors format defines. */
const dtypeBits: Readonly<Record<string, number>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, number>, {
    BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F8_E4M3FNUZ: 8,
    F8_E5M2FNUZ: 8, I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
  }),
);

/** Tensor names that would reach `Object.prototype` if a consumer ever indexed a plain object with them. */
const forbiddenNames = new Set(["__proto__", "constructor", "prototype"]);

/** The storage types `readTensor` returns. */
export const LOADABLE_DTYPES: readonly DType[] = ["F32", "F16", "BF16"];

/** One tensor as the header describes it. `begin`/`end` are relative to `dataOffset`. */
export interface SafetensorsEntry {
  readonly dtype: string;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

/** Options of `openSafetensors`. */
export interface OpenSafetensorsOptions {
  /**
   * Bytes per positioned read when reading tensor data. Default 64 MiB.
   * @example openSafetensors(path, { chunkBytes: 16 * 1024 * 1024 })
   */
  readonly chunkBytes?: number;
}

/** Options of one `readTensor` call. */
export interface ReadTensorOptions {
  /**
   * Called after each chunk with the number of bytes it read. Default: none.
   * @example file.readTensor(name, undefined, { onBytes: (n) => (done += n) })
   */
  readonly onBytes?: (bytes: number) => void;
  /**
   * Stops between chunks with an `aborted` error. Default: none.
   * @example file.readTensor(name, undefined, { signal: AbortSignal.timeout(10_000) })
   */
  readonly signal?: AbortSignal;
}

/** What an `alloc` hook learns about the tensor it places: its name, stored dtype and shape. */
export interface TensorAllocInfo {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/** An open, validated safetensors file. Call `close()` when done. */
export interface SafetensorsFile {
  readonly path: string;
  /** Tensors by name, in file order. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  /** The `__metadata__` map (string to string); empty when absent. Null prototype. */
  readonly metadata: Record<string, string>;
  /** File offset of the first tensor byte: 8 + header length. */
  readonly dataOffset: number;
  /** Size of the whole file in bytes. */
  readonly byteLength: number;
  /**
   * Reads one F32/F16/BF16 tensor into its own buffer (from `alloc` when given, else a fresh aligned one), copying
   * its bytes once. Throws `invalid_model` for an unknown name and `unsupported` for other dtypes.
   */
  readTensor(
    name: string,
    alloc?: (byteLength: number, tensor: TensorAllocInfo) => Uint8Array,
    opts?: ReadTensorOptions,
  ): Promise<Tensor>;
  close(): Promise<void>;
}

/** Opens `path` and validates its header. Throws `InferenceError` (`invalid_model`) naming the file and tensor. */
export async function openSafetensors(path: string, opts: OpenSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new InferenceError({
      code: "invalid_argument",
      op: "safetensors.open",
      message: `chunkBytes must be a positive integer, got ${chunkBytes}`,
    });
  }
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (cause) {
    throw new InferenceError({
      code: "model_load_failed",
      op: "safetensors.open",
      message: `cannot open "${path}"`,
      cause,
      details: { path },
    });
  }
  try {
    const header = await readHeader(handle, path);
    return new OpenFile(handle, path, header, chunkBytes);
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

interface ParsedHeader {
  readonly entries: Map<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
  readonly dataOffset: number;
  readonly byteLength: number;
}

function bad(path: string, message: string, details: Record<string, unknown> = {}): InferenceError {
  return new InferenceError({
    code: "invalid_model",
    op: "safetensors.open",
    message: `${basename(path)}: ${message}`,
    details: { path, ...details },
  });
}

async function readExactly(handle: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

async function readHeader(handle: FileHandle, path: string): Promise<ParsedHeader> {
  const fileSize = (await handle.stat()).size;
  if (fileSize < 8) throw bad(path, `file is ${fileSize} bytes, too small for the 8-byte header length`);
  const prefix = await readExactly(handle, 8, 0);
  if (prefix.length < 8) throw bad(path, "file is truncated inside the header length");
  // The length is checked against the cap and the file size before anything is allocated for it.
  const declared = prefix.readBigUInt64LE(0);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw bad(path, `header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > fileSize) {
    throw bad(path, `header length ${headerLength} runs past the end of the file (${fileSize} bytes)`);
  }
  const raw = await readExactly(handle, headerLength, 8);
  if (raw.length < headerLength) throw bad(path, "file is truncated inside the header");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw bad(path, "header is not valid UTF-8");
  }
  // Writers may pad with whitespace (the reference accepts it on both sides); the rest must be one JSON object.
  text = text.trim();
  if (!text.startsWith("{")) throw bad(path, "header is not a JSON object");
  const dup = findDuplicateKey(text);
  if (dup !== undefined) {
    const where = dup.path.length === 0 ? "" : ` in "${dup.path.join(".")}"`;
    throw bad(path, `duplicate key "${dup.key}"${where} in the header`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    // SyntaxError, or RangeError from pathologically deep nesting.
    throw bad(path, `header is not valid JSON (${cause instanceof Error ? cause.message : String(cause)})`);
  }
  if (!isPlainObject(parsed)) throw bad(path, "header is not a JSON object");

  const metadata = Object.create(null) as Record<string, string>;
  const entries = new Map<string, SafetensorsEntry>();
  const dataLength = fileSize - 8 - headerLength;
  for (const name of Object.keys(parsed)) {
    const value = parsed[name];
    if (name === "__metadata__") {
      readMetadata(path, value, metadata);
      continue;
    }
    if (forbiddenNames.has(name)) throw bad(path, `tensor name "${name}" is not allowed`, { tensor: name });
    entries.set(name, readEntry(path, name, value, dataLength));
  }
  checkLayout(path, entries, dataLength);
  return { entries, metadata, dataOffset: 8 + headerLength, byteLength: fileSize };
}

function readMetadata(path: string, value: unknown, into: Record<string, string>): void {
  if (!isPlainObject(value)) throw bad(path, "__metadata__ must be an object of strings");
  for (const key of Object.keys(value)) {
    const v = value[key];
    if (typeof v !== "string") throw bad(path, `__metadata__ value of "${key}" is not a string`);
    Object.defineProperty(into, key, { value: v, enumerable: true, writable: false, configurable: false });
  }
}

function readEntry(path: string, name: string, value: unknown, dataLength: number): SafetensorsEntry {
  const fail = (message: string) => bad(path, `tensor "${name}": ${message}`, { tensor: name });
  if (!isPlainObject(value)) throw fail("entry is not an object");
  for (const key of Object.keys(value)) {
    if (key !== "dtype" && key !== "shape" && key !== "data_offsets") throw fail(`unexpected field "${key}"`);
  }
  const { dtype, shape, data_offsets: offsets } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof dtype !== "string") throw fail("dtype is missing or not a string");
  const bits = Object.hasOwn(dtypeBits, dtype) ? dtypeBits[dtype] : undefined;
  if (bits === undefined) {
    throw bad(path, `unsupported dtype "${dtype}" for tensor "${name}" (not a safetensors dtype)`, { tensor: name, dtype });
  }
  if (!Array.isArray(shape)) throw fail("shape is missing or not an array");
  let elements = 1n;
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw fail(`shape ${JSON.stringify(shape)} has an entry that is not a non-negative integer`);
    }
    elements *= BigInt(d);
  }
  const bitCount = elements * BigInt(bits);
  if (bitCount % 8n !== 0n) throw fail(`shape ${JSON.stringify(shape)} of ${dtype} does not fill whole bytes`);
  const bytes = bitCount / 8n;
  if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`shape ${JSON.stringify(shape)} overflows`);
  if (!Array.isArray(offsets) || offsets.length !== 2) throw fail("data_offsets must be [begin, end]");
  const [begin, end] = offsets as unknown[];
  if (!isOffset(begin) || !isOffset(end)) throw fail(`data_offsets ${JSON.stringify(offsets)} are not non-negative integers`);
  if (end < begin) throw fail(`data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLength) {
    throw fail(`data_offsets [${begin}, ${end}] run past the end of the file (${dataLength} data bytes)`);
  }
  if (BigInt(end - begin) !== bytes) {
    throw fail(`dtype ${dtype} and shape ${JSON.stringify(shape)} need ${bytes} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`);
  }
  return { dtype, shape: shape as number[], begin, end };
}

/** Offsets sorted by position must tile the data section exactly: no overlap, no gap, nothing after. */
function checkLayout(path: string, entries: Map<string, SafetensorsEntry>, dataLength: number): void {
  const sorted = [...entries].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let cursor = 0;
  let previous = "";
  for (const [name, e] of sorted) {
    if (e.begin < cursor) {
      throw bad(path, `tensor "${name}" at [${e.begin}, ${e.end}] overlaps tensor "${previous}" (ends at ${cursor})`, { tensor: name });
    }
    if (e.begin > cursor) {
      throw bad(path, `gap of ${e.begin - cursor} bytes before tensor "${name}" at [${e.begin}, ${e.end}]`, { tensor: name });
    }
    cursor = e.end;
    previous = name;
  }
  if (cursor !== dataLength) {
    throw bad(path, `${dataLength - cursor} trailing bytes after the last tensor (data section is ${dataLength} bytes)`);
  }
}

class OpenFile implements SafetensorsFile {
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
  readonly dataOffset: number;
  readonly byteLength: number;
  private closed = false;

  constructor(
    private readonly handle: FileHandle,
    readonly path: string,
    header: ParsedHeader,
    private readonly chunkBytes: number,
  ) {
    this.entries = header.entries;
    this.metadata = header.metadata;
    this.dataOffset = header.dataOffset;
    this.byteLength = header.byteLength;
  }

  async readTensor(
    name: string,
    alloc?: (byteLength: number, tensor: TensorAllocInfo) => Uint8Array,
    opts: ReadTensorOptions = {},
  ): Promise<Tensor> {
    const op = "safetensors.readTensor";
    if (this.closed) throw new InferenceError({ code: "closed", op, message: `${basename(this.path)} is closed` });
    const entry = this.entries.get(name);
    if (entry === undefined) {
      throw new InferenceError({
        code: "invalid_model",
        op,
        message: `${basename(this.path)}: no tensor "${name}"`,
        details: { path: this.path, tensor: name },
      });
    }
    if (!(LOADABLE_DTYPES as readonly string[]).includes(entry.dtype)) {
      throw new InferenceError({
        code: "unsupported",
        op,
        message: `${basename(this.path)}: unsupported dtype "${entry.dtype}" for tensor "${name}" (supported: ${LOADABLE_DTYPES.join(", ")})`,
        details: { path: this.path, tensor: name, dtype: entry.dtype },
      });
    }
    const dtype = entry.dtype as DType;
    const length = entry.end - entry.begin;
    const data = allocate(length, dtype === "F32" ? 4 : 2, alloc, this.path, { name, dtype, shape: entry.shape });
    let done = 0;
    while (done < length) {
      if (opts.signal?.aborted) {
        throw new InferenceError({ code: "aborted", op, message: `reading tensor "${name}" was aborted`, cause: opts.signal.reason });
      }
      const want = Math.min(this.chunkBytes, length - done);
      const { bytesRead } = await this.handle.read(data, done, want, this.dataOffset + entry.begin + done);
      if (bytesRead === 0) {
        throw new InferenceError({
          code: "invalid_model",
          op,
          message: `${basename(this.path)}: file ended while reading tensor "${name}" (it changed after it was opened)`,
          details: { path: this.path, tensor: name },
        });
      }
      done += bytesRead;
      opts.onBytes?.(bytesRead);
    }
    return { name, dtype, shape: [...entry.shape], data };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

function allocate(
  length: number,
  align: number,
  alloc: ((byteLength: number, tensor: TensorAllocInfo) => Uint8Array) | undefined,
  path: string,
  info: TensorAllocInfo,
): Uint8Array {
  const op = "safetensors.readTensor";
  const name = info.name;
  if (alloc === undefined) {
    try {
      return new Uint8Array(new ArrayBuffer(length));
    } catch (cause) {
      throw new InferenceError({
        code: "out_of_memory",
        op,
        message: `cannot allocate ${length} bytes for tensor "${name}" of ${basename(path)}`,
        cause,
        details: { path, tensor: name, bytes: length },
      });
    }
  }
  const data = alloc(length, info);
  if (!(data instanceof Uint8Array) || data.byteLength !== length || data.byteOffset % align !== 0) {
    throw new InferenceError({
      code: "invalid_argument",
      op,
      message: `alloc must return a Uint8Array of exactly ${length} bytes aligned to ${align} for tensor "${name}"`,
      details: { tensor: name },
    });
  }
  return data;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isOffset(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
