/**
 * Writes GGUF v3 files: header, typed metadata (every value type, arrays included), tensor infos, and the tensor data
 * streamed to the file one tensor at a time, each at an offset aligned to `general.alignment`. The whole file is never
 * held in memory: only the header and the one tensor being written. Not a converter (see `convert.ts`) and not a
 * quantiser (see `quants.ts`); it writes the bytes it is given after checking their length.
 */
import { open } from "node:fs/promises";
import { InferenceError } from "@dappcore/inference";
import {
  GGML_BLOCK,
  GGMLType,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_VERSION,
  GGUFValueType,
  type GGMLTypeName,
  type GGUFArrayValue,
  type GGUFMetadataValue,
  type GGUFScalar,
  type GGUFScalarTypeName,
} from "./gguf-types.js";

const OP = "gguf.write";

/** One tensor as the writer lays it out. */
export interface GGUFTensorPlan {
  readonly name: string;
  /** Row-major shape, outermost first (as PyTorch and safetensors write it); stored reversed in the file. */
  readonly shape: readonly number[];
  readonly type: GGMLTypeName;
  /** Bytes of the tensor's data. */
  readonly byteLength: number;
  /** Offset of the data from the start of the data section. */
  readonly offset: number;
}

export interface GGUFWriterOptions {
  /**
   * Alignment of each tensor's data, a power of two. Written as `general.alignment` when not the default.
   * Default 32 (GGUF's default). Example: `new GGUFWriter({ alignment: 64 })`.
   */
  readonly alignment?: number;
}

/** Bytes of a tensor of `type` and row-major `shape`; the innermost dimension must be a whole number of blocks. */
export function ggmlTensorBytes(type: GGMLTypeName, shape: readonly number[]): number {
  const { blockSize, typeSize } = GGML_BLOCK[type];
  const inner = shape.length === 0 ? 1 : shape[shape.length - 1];
  if (inner % blockSize !== 0) {
    throw new InferenceError({
      code: "invalid_argument",
      op: OP,
      message: `a ${type} row must be a multiple of ${blockSize} elements, got ${inner}`,
    });
  }
  const elements = shape.reduce((a, b) => a * b, 1);
  return (elements / blockSize) * typeSize;
}

/**
 * Collects metadata and tensor infos, then writes the file with `write`.
 *
 * @example
 * const w = new GGUFWriter();
 * w.addMetadata("general.architecture", { type: "string", value: "llama" });
 * w.addTensor("token_embd.weight", [vocab, hidden], "F32");
 * await w.write("out.gguf", async (t) => bytesOf(t.name));
 */
export class GGUFWriter {
  readonly alignment: number;
  private readonly metadata = new Map<string, GGUFMetadataValue>();
  private readonly tensors: GGUFTensorPlan[] = [];
  private readonly tensorNames = new Set<string>();
  private dataBytes = 0;

  constructor(opts: GGUFWriterOptions = {}) {
    const alignment = opts.alignment ?? GGUF_DEFAULT_ALIGNMENT;
    if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0 || alignment > 1 << 20) {
      throw new InferenceError({
        code: "invalid_argument",
        op: OP,
        message: `alignment must be a power of two up to 1 MiB, got ${alignment}`,
      });
    }
    this.alignment = alignment;
    if (alignment !== GGUF_DEFAULT_ALIGNMENT) this.metadata.set("general.alignment", { type: "uint32", value: alignment });
  }

  /** Adds a metadata key. Keys are unique; `general.alignment` is owned by the constructor option. */
  addMetadata(key: string, value: GGUFMetadataValue): void {
    if (key.length === 0) throw new InferenceError({ code: "invalid_argument", op: OP, message: "empty metadata key" });
    if (key === "general.alignment") {
      throw new InferenceError({
        code: "invalid_argument",
        op: OP,
        message: "general.alignment is set through the alignment option",
      });
    }
    if (this.metadata.has(key)) {
      throw new InferenceError({ code: "invalid_argument", op: OP, message: `duplicate metadata key "${key}"` });
    }
    checkValue(key, value, 0);
    this.metadata.set(key, value);
  }

  /** Adds a tensor info; its data is asked for, in the order added, by `write`. */
  addTensor(name: string, shape: readonly number[], type: GGMLTypeName): GGUFTensorPlan {
    if (name.length === 0 || Buffer.byteLength(name) > 63) {
      throw new InferenceError({
        code: "invalid_argument",
        op: OP,
        message: `tensor name must be 1 to 63 bytes, got "${name}"`,
      });
    }
    if (this.tensorNames.has(name)) {
      throw new InferenceError({ code: "invalid_argument", op: OP, message: `duplicate tensor "${name}"` });
    }
    if (shape.length < 1 || shape.length > 4 || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new InferenceError({
        code: "invalid_argument",
        op: OP,
        message: `tensor "${name}" has an invalid shape [${shape.join(", ")}] (1 to 4 positive dimensions)`,
      });
    }
    if (!(type in GGMLType)) {
      throw new InferenceError({ code: "invalid_argument", op: OP, message: `unknown tensor type "${type}"` });
    }
    const byteLength = ggmlTensorBytes(type, shape);
    const plan: GGUFTensorPlan = { name, shape: [...shape], type, byteLength, offset: this.dataBytes };
    this.tensors.push(plan);
    this.tensorNames.add(name);
    this.dataBytes = alignUp(this.dataBytes + byteLength, this.alignment);
    return plan;
  }

  /** The tensors in file order, with their data offsets. */
  tensorPlans(): readonly GGUFTensorPlan[] {
    return this.tensors;
  }

  /** The header (magic through the padding before the data section) as bytes. */
  headerBytes(): Uint8Array {
    const out = new ByteSink();
    out.u32(GGUF_MAGIC);
    out.u32(GGUF_VERSION);
    out.u64(BigInt(this.tensors.length));
    out.u64(BigInt(this.metadata.size));
    for (const [key, value] of this.metadata) {
      out.string(key);
      out.u32(GGUFValueType[value.type]);
      writeValue(out, value);
    }
    for (const t of this.tensors) {
      out.string(t.name);
      out.u32(t.shape.length);
      for (let i = t.shape.length - 1; i >= 0; i--) out.u64(BigInt(t.shape[i]));
      out.u32(GGMLType[t.type]);
      out.u64(BigInt(t.offset));
    }
    out.pad(this.alignment);
    return out.bytes();
  }

  /**
   * Writes the file: the header, then each tensor's data as `data(tensor)` returns it, in the order added. Only one
   * tensor's data is held at a time. A returned length other than the tensor's `byteLength` fails with
   * `invalid_argument`; I/O failures are `internal`.
   */
  async write(path: string, data: (tensor: GGUFTensorPlan, index: number) => Promise<Uint8Array> | Uint8Array): Promise<void> {
    const header = this.headerBytes();
    let handle;
    try {
      handle = await open(path, "w");
    } catch (cause) {
      throw new InferenceError({ code: "internal", op: OP, message: `cannot create ${path}`, cause, details: { path } });
    }
    try {
      let position = 0;
      const put = async (bytes: Uint8Array) => {
        let done = 0;
        while (done < bytes.byteLength) {
          const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position);
          done += bytesWritten;
          position += bytesWritten;
        }
      };
      await put(header);
      const dataStart = position;
      for (let i = 0; i < this.tensors.length; i++) {
        const t = this.tensors[i];
        const bytes = await data(t, i);
        if (bytes.byteLength !== t.byteLength) {
          throw new InferenceError({
            code: "invalid_argument",
            op: OP,
            message: `tensor "${t.name}" (${t.type} [${t.shape.join(", ")}]) needs ${t.byteLength} bytes, got ${bytes.byteLength}`,
          });
        }
        await put(bytes);
        const padding = alignUp(position - dataStart, this.alignment) - (position - dataStart);
        if (padding > 0) await put(new Uint8Array(padding));
      }
    } catch (cause) {
      await handle.close().catch(() => undefined);
      if (cause instanceof InferenceError) throw cause;
      throw new InferenceError({ code: "internal", op: OP, message: `cannot write ${path}`, cause, details: { path } });
    }
    await handle.close();
  }
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

const numberRanges: Record<string, [number, number]> = {
  uint8: [0, 0xff],
  int8: [-0x80, 0x7f],
  uint16: [0, 0xffff],
  int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
};

function checkScalar(key: string, type: GGUFScalarTypeName, value: GGUFScalar): void {
  const bad = (why: string) =>
    new InferenceError({ code: "invalid_argument", op: OP, message: `metadata "${key}": ${why}` });
  switch (type) {
    case "string":
      if (typeof value !== "string") throw bad(`expected a string, got ${typeof value}`);
      return;
    case "bool":
      if (typeof value !== "boolean") throw bad(`expected a boolean, got ${typeof value}`);
      return;
    case "uint64":
    case "int64": {
      if (typeof value !== "bigint") throw bad(`expected a bigint for ${type}, got ${typeof value}`);
      const ok = type === "uint64" ? value >= 0n && value < 1n << 64n : value >= -(1n << 63n) && value < 1n << 63n;
      if (!ok) throw bad(`${value} is out of range for ${type}`);
      return;
    }
    case "float32":
    case "float64":
      if (typeof value !== "number") throw bad(`expected a number for ${type}, got ${typeof value}`);
      return;
    default: {
      if (typeof value !== "number" || !Number.isInteger(value)) throw bad(`expected an integer for ${type}, got ${String(value)}`);
      const [lo, hi] = numberRanges[type];
      if (value < lo || value > hi) throw bad(`${value} is out of range for ${type}`);
    }
  }
}

function checkValue(key: string, value: GGUFMetadataValue, depth: number): void {
  if (!(value.type in GGUFValueType)) {
    throw new InferenceError({ code: "invalid_argument", op: OP, message: `metadata "${key}": unknown type "${value.type}"` });
  }
  if (value.type !== "array") {
    checkScalar(key, value.type, value.value);
    return;
  }
  if (depth >= 3) {
    throw new InferenceError({ code: "invalid_argument", op: OP, message: `metadata "${key}": arrays nested too deep` });
  }
  if (!Array.isArray(value.value)) {
    throw new InferenceError({ code: "invalid_argument", op: OP, message: `metadata "${key}": array value is not an array` });
  }
  if (value.itemType === "array") {
    for (const item of value.value as readonly GGUFArrayValue[]) checkValue(key, item, depth + 1);
  } else {
    for (const item of value.value as readonly GGUFScalar[]) checkScalar(key, value.itemType, item);
  }
}

function writeScalar(out: ByteSink, type: GGUFScalarTypeName, v: GGUFScalar): void {
  switch (type) {
    case "uint8": return out.u8(v as number);
    case "int8": return out.i8(v as number);
    case "uint16": return out.u16(v as number);
    case "int16": return out.i16(v as number);
    case "uint32": return out.u32(v as number);
    case "int32": return out.i32(v as number);
    case "float32": return out.f32(v as number);
    case "float64": return out.f64(v as number);
    case "uint64": return out.u64(v as bigint);
    case "int64": return out.i64(v as bigint);
    case "bool": return out.u8(v ? 1 : 0);
    case "string": return out.string(v as string);
  }
}

function writeValue(out: ByteSink, value: GGUFMetadataValue): void {
  if (value.type !== "array") return writeScalar(out, value.type, value.value);
  out.u32(GGUFValueType[value.itemType]);
  out.u64(BigInt(value.value.length));
  if (value.itemType === "array") {
    // Nested arrays repeat no type tag: each element is an item type, a count and the items (as gguf-py writes them).
    for (const item of value.value as readonly GGUFArrayValue[]) writeValue(out, item);
    return;
  }
  for (const item of value.value as readonly GGUFScalar[]) writeScalar(out, value.itemType, item);
}

/** A growable little-endian byte buffer for the header. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  private readonly encoder = new TextEncoder();

  /** Grows the buffer when needed and returns the write offset; callers take it before touching buf or view. */
  private reserve(n: number): number {
    if (this.len + n > this.buf.byteLength) {
      let size = this.buf.byteLength * 2;
      while (size < this.len + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.len;
    this.len += n;
    return at;
  }
  u8(v: number) { const at = this.reserve(1); this.view.setUint8(at, v); }
  i8(v: number) { const at = this.reserve(1); this.view.setInt8(at, v); }
  u16(v: number) { const at = this.reserve(2); this.view.setUint16(at, v, true); }
  i16(v: number) { const at = this.reserve(2); this.view.setInt16(at, v, true); }
  u32(v: number) { const at = this.reserve(4); this.view.setUint32(at, v, true); }
  i32(v: number) { const at = this.reserve(4); this.view.setInt32(at, v, true); }
  f32(v: number) { const at = this.reserve(4); this.view.setFloat32(at, v, true); }
  f64(v: number) { const at = this.reserve(8); this.view.setFloat64(at, v, true); }
  u64(v: bigint) { const at = this.reserve(8); this.view.setBigUint64(at, v, true); }
  i64(v: bigint) { const at = this.reserve(8); this.view.setBigInt64(at, v, true); }
  string(s: string) {
    const bytes = this.encoder.encode(s);
    this.u64(BigInt(bytes.byteLength));
    // reserve() may replace this.buf, so take the offset before reading the buffer.
    const at = this.reserve(bytes.byteLength);
    this.buf.set(bytes, at);
  }
  pad(alignment: number) {
    const target = alignUp(this.len, alignment);
    this.reserve(target - this.len);
  }
  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
