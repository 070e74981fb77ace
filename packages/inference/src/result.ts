/**
 * `Result<T>`: how every fallible contract call answers, in place of throwing across the contract boundary
 * (Go's `core.Result`). Narrowing on `ok` types `value` or `error` without casts.
 */
import { type InferenceError, toInferenceError } from "./errors.js";

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: InferenceError };

/** A successful result. */
export function ok<T>(value: T): Result<T>;
export function ok(): Result<void>;
export function ok<T>(value?: T): Result<T | undefined> {
  return { ok: true, value };
}

/** A failed result. */
export function fail<T = never>(error: InferenceError): Result<T> {
  return { ok: false, error };
}

/**
 * Runs `fn` and captures what it throws as a failed result: thrown values become `InferenceError`s of operation `op`
 * (see `toInferenceError`).
 *
 * @example
 * const r = await resultOf("cpu.loadModel", () => loadWeights(dir));
 */
export async function resultOf<T>(op: string, fn: () => T | Promise<T>): Promise<Result<T>> {
  try {
    return ok(await fn());
  } catch (e) {
    return fail(toInferenceError(e, op));
  }
}

/** The value of a successful result; throws the error of a failed one. For scripts and tests. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw result.error;
}
