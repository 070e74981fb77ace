/**
 * Typed reads of fields from an untrusted JSON object (config.json, generation_config.json), each failing with
 * `invalid_model` naming the file and the field. Only the checks; what the fields mean lives in `config.ts` and
 * `rope-config.ts`.
 */
import { InferenceError } from "@dappcore/inference";

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads fields of one JSON object; `source` names it in errors (e.g. "config.json"). */
export class FieldReader {
  constructor(
    readonly raw: JsonObject,
    readonly source: string,
    readonly op: string,
  ) {}

  /** The field's value when it is present and not null. Own properties only. */
  value(field: string): unknown {
    return Object.hasOwn(this.raw, field) ? (this.raw[field] ?? undefined) : undefined;
  }

  has(field: string): boolean {
    return this.value(field) !== undefined;
  }

  invalid(field: string, message: string): InferenceError {
    return new InferenceError({
      code: "invalid_model",
      op: this.op,
      message: `${this.source}: ${field} ${message}`,
      details: { source: this.source, field },
    });
  }

  /** A positive integer; `fallback` when absent (undefined fallback: the field is required). */
  positiveInt(field: string, fallback?: number): number {
    const v = this.value(field);
    if (v === undefined) {
      if (fallback === undefined) throw this.invalid(field, "is missing");
      return fallback;
    }
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      throw this.invalid(field, `must be a positive integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** A non-negative integer or undefined when absent. */
  tokenId(field: string, fallback?: number): number | undefined {
    const v = this.value(field);
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw this.invalid(field, `must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** One token id or a list of them (eos_token_id). */
  tokenIds(field: string, fallback: readonly number[] = []): number[] {
    const v = this.value(field);
    if (v === undefined) return [...fallback];
    const list = Array.isArray(v) ? v : [v];
    for (const id of list) {
      if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
        throw this.invalid(field, `must be a token id or a list of token ids, got ${JSON.stringify(v)}`);
      }
    }
    return [...new Set(list as number[])];
  }

  /** A finite number > 0 (or >= 0 with `allowZero`). */
  positiveNumber(field: string, fallback: number, allowZero = false): number {
    const v = this.value(field);
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
      throw this.invalid(field, `must be a finite number ${allowZero ? ">= 0" : "> 0"}, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  /** A finite number in [min, max]. */
  numberIn(field: string, fallback: number, min: number, max: number): number {
    const v = this.value(field);
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
      throw this.invalid(field, `must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
    }
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.value(field);
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") throw this.invalid(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  string(field: string, fallback: string): string {
    const v = this.value(field);
    if (v === undefined) return fallback;
    if (typeof v !== "string") throw this.invalid(field, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }
}
