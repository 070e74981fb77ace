/**
 * Typed access to the metadata of a GGUF file for the loader: each getter checks the key's GGUF value type and fails
 * with `invalid_model` naming the file and the key. Numbers are accepted from any integer or float GGUF type (files in
 * the wild use uint32, int32 and uint64 for the same key), and float32 values are given back as the shortest decimal
 * that rounds to them (1e-6, not 9.99999997e-7). Not the GGUF reader (@dappcore/inference-gguf) and not a config mapper.
 */
import { InferenceError } from "@dappcore/inference";
import type { GGUFFile, GGUFMetadataValue } from "@dappcore/inference-gguf";

export const GGUF_LOAD_OP = "model.load";

/** A typed InferenceError about the GGUF file at `path`. */
export function ggufInvalid(path: string, message: string, details: Record<string, unknown> = {}): InferenceError {
  return new InferenceError({ code: "invalid_model", op: GGUF_LOAD_OP, message: `${path}: ${message}`, details: { path, ...details } });
}

/** The shortest decimal that rounds to the same float32 as `x` (so 1e-6 stored as float32 reads back as 1e-6). */
export function shortestFloat32(x: number): number {
  const target = Math.fround(x);
  for (let p = 1; p <= 9; p++) {
    const v = Number(target.toPrecision(p));
    if (Math.fround(v) === target) return v;
  }
  return target;
}

const integerTypes = new Set(["uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64"]);

/** Getters over one file's metadata. */
export class GGUFMetadata {
  constructor(
    private readonly file: GGUFFile,
    readonly path: string,
  ) {}

  has(key: string): boolean {
    return this.file.metadata.has(key);
  }

  raw(key: string): GGUFMetadataValue | undefined {
    return this.file.metadata.get(key);
  }

  private wrongType(key: string, want: string, v: GGUFMetadataValue): InferenceError {
    return ggufInvalid(this.path, `metadata "${key}" must be ${want}, got ${v.type}`, { key });
  }

  string(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (v.type !== "string") throw this.wrongType(key, "a string", v);
    return v.value;
  }

  requireString(key: string): string {
    const s = this.string(key);
    if (s === undefined) throw ggufInvalid(this.path, `metadata "${key}" is missing`, { key });
    return s;
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (v.type !== "bool") throw this.wrongType(key, "a bool", v);
    return v.value;
  }

  /** A non-negative integer key, or undefined when absent. */
  uint(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    return this.toUint(key, v);
  }

  /** A positive integer key that must be present. */
  requirePositiveInt(key: string): number {
    const n = this.uint(key);
    if (n === undefined) throw ggufInvalid(this.path, `metadata "${key}" is missing`, { key });
    if (n === 0) throw ggufInvalid(this.path, `metadata "${key}" must be positive, got 0`, { key });
    return n;
  }

  /**
   * A per-model integer that some files store per layer (an array): the array must hold one value for every layer.
   * Returns undefined when absent.
   */
  uniformUint(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (v.type !== "array") return this.toUint(key, v);
    const values = v.value.map((item, i) => this.toUint(`${key}[${i}]`, { type: v.itemType, value: item } as GGUFMetadataValue));
    if (values.length === 0) throw ggufInvalid(this.path, `metadata "${key}" is an empty array`, { key });
    if (values.some((x) => x !== values[0])) {
      throw new InferenceError({
        code: "unsupported",
        op: GGUF_LOAD_OP,
        message: `${this.path}: metadata "${key}" differs between layers (${values.slice(0, 8).join(", ")}...), which the cpu backend does not run`,
        details: { path: this.path, key },
      });
    }
    return values[0];
  }

  /** A positive finite number (float32 values given back as their shortest decimal), or undefined when absent. */
  positiveNumber(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    let n: number;
    if (v.type === "float32") n = shortestFloat32(v.value);
    else if (v.type === "float64") n = v.value;
    else if (integerTypes.has(v.type)) n = this.toUint(key, v);
    else throw this.wrongType(key, "a number", v);
    if (!Number.isFinite(n) || n <= 0) throw ggufInvalid(this.path, `metadata "${key}" must be a positive number, got ${n}`, { key });
    return n;
  }

  /** A string array key, or undefined when absent. */
  strings(key: string): readonly string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (v.type !== "array" || v.itemType !== "string") throw this.wrongType(key, "an array of strings", v);
    return v.value as readonly string[];
  }

  /** A numeric array key (any integer or float item type), or undefined when absent. */
  numbers(key: string): readonly number[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (v.type !== "array" || v.itemType === "array" || v.itemType === "string" || v.itemType === "bool") {
      throw this.wrongType(key, "an array of numbers", v);
    }
    return v.value.map((x) => (typeof x === "bigint" ? Number(x) : (x as number)));
  }

  private toUint(key: string, v: GGUFMetadataValue): number {
    if (!integerTypes.has(v.type)) throw this.wrongType(key, "an integer", v);
    const n = typeof v.value === "bigint" ? Number(v.value) : (v.value as number);
    if (!Number.isSafeInteger(n) || n < 0) throw ggufInvalid(this.path, `metadata "${key}" must be a non-negative integer, got ${String(v.value)}`, { key });
    return n;
  }
}
