/**
 * The one error family of the contract. Every failure a contract call reports is an `InferenceError` with a stable
 * `code`, the operation that failed (`op`), and, where there is one, the `cause` it wraps. Messages follow the Go
 * form `op: message: cause`, lowercase and without trailing punctuation, so logs read the same in both libraries.
 *
 * This file is not where errors are caught: packages throw these internally and convert them to `Result` at the
 * contract boundary (see `result.ts`).
 */

/** Stable machine-readable error codes. New codes may be added; existing ones never change meaning. */
export type ErrorCode =
  | "no_backends_registered"
  | "no_backends_available"
  | "backend_not_registered"
  | "backend_unavailable"
  | "model_load_failed"
  | "invalid_model"
  | "invalid_argument"
  | "unsupported"
  | "context_length_exceeded"
  | "aborted"
  | "closed"
  | "busy"
  | "out_of_memory"
  | "internal";

/** What `new InferenceError(...)` takes. `message` is the error's own text, without the op prefix. */
export interface InferenceErrorInit {
  readonly code: ErrorCode;
  /** The operation that failed, e.g. `inference.loadModel` or `cpu.generate`. */
  readonly op: string;
  readonly message: string;
  readonly cause?: unknown;
  /** Facts a caller may act on: the path, the backend name, counts. Plain JSON-able values. */
  readonly details?: Readonly<Record<string, unknown>>;
  /** What the user can do about it, when there is something. */
  readonly remedy?: string;
}

/**
 * A typed failure from any part of the library.
 *
 * @example
 * const r = await loadModel("./model");
 * if (!r.ok && r.error.code === "no_backends_registered") console.error(r.error.message);
 */
export class InferenceError extends Error {
  readonly code: ErrorCode;
  readonly op: string;
  /** The error's own text, without op prefix and cause suffix. */
  readonly detail: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly remedy: string | undefined;

  constructor(init: InferenceErrorInit) {
    const causeText = init.cause === undefined ? "" : `: ${messageOf(init.cause)}`;
    super(`${init.op}: ${init.message}${causeText}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "InferenceError";
    this.code = init.code;
    this.op = init.op;
    this.detail = init.message;
    this.details = Object.freeze({ ...(init.details ?? {}) });
    this.remedy = init.remedy;
  }

  /** A plain object for logs and JSON bodies: code, op, message, details, remedy and the cause's message. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      op: this.op,
      message: this.message,
      details: this.details,
      ...(this.remedy === undefined ? {} : { remedy: this.remedy }),
      ...(this.cause === undefined ? {} : { cause: messageOf(this.cause) }),
    };
  }
}

/** True when `value` is an `InferenceError`, including one from another copy of this package. */
export function isInferenceError(value: unknown): value is InferenceError {
  if (value instanceof InferenceError) return true;
  return (
    value instanceof Error &&
    (value as { name?: unknown }).name === "InferenceError" &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { op?: unknown }).op === "string"
  );
}

/** Shorthand constructor: `inferenceError("invalid_argument", "inference.withTopP", "topP must be in [0, 1]")`. */
export function inferenceError(
  code: ErrorCode,
  op: string,
  message: string,
  extra: { cause?: unknown; details?: Record<string, unknown>; remedy?: string } = {},
): InferenceError {
  return new InferenceError({ code, op, message, ...extra });
}

/**
 * Wraps `cause` in a new error of operation `op`, as Go's `core.Wrap` does. The code is `code` when given, else the
 * cause's own code when it is an `InferenceError`, else `internal`.
 */
export function wrapError(cause: unknown, op: string, message: string, code?: ErrorCode): InferenceError {
  const inherited = isInferenceError(cause) ? cause.code : "internal";
  return new InferenceError({ code: code ?? inherited, op, message, cause });
}

/**
 * Any thrown value as an `InferenceError`: an `InferenceError` is returned as is; an `AbortError` becomes `aborted`;
 * anything else becomes `internal` with the value as its cause.
 */
export function toInferenceError(value: unknown, op: string): InferenceError {
  if (isInferenceError(value)) return value;
  if (isAbortError(value)) return new InferenceError({ code: "aborted", op, message: "aborted", cause: value });
  return new InferenceError({ code: "internal", op, message: "unexpected failure", cause: value });
}

/** The operation of the outermost `InferenceError`, or "" for anything else (Go's `core.Operation`). */
export function operation(err: unknown): string {
  return isInferenceError(err) ? err.op : "";
}

/** The innermost cause of a chain of errors (Go's `core.Root`). */
export function rootCause(err: unknown): unknown {
  let current = err;
  for (let depth = 0; depth < 32; depth++) {
    const next = current instanceof Error ? current.cause : undefined;
    if (next === undefined || next === current) return current;
    current = next;
  }
  return current;
}

function isAbortError(value: unknown): boolean {
  return value instanceof Error && (value.name === "AbortError" || value.name === "TimeoutError");
}

function messageOf(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
