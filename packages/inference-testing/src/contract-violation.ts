/**
 * `ContractViolation`: what a conformance check throws when a backend breaks the contract. It names the suite and
 * the check so a failing run says exactly which promise was broken. It is not an `InferenceError`: those are the
 * backend's own typed failures, which checks inspect; a violation is the kit's verdict about them.
 */

/** Thrown by a contract check (and by option validation, check id `options`) when the backend breaks the contract. */
export class ContractViolation extends Error {
  /** The suite's `name` option. */
  readonly suite: string;
  /** The id of the check that failed, or `options` for invalid kit options. */
  readonly check: string;
  /** The violation's own text, without the suite/check prefix. */
  readonly detail: string;

  constructor(suite: string, check: string, detail: string, cause?: unknown) {
    super(`${suite} contract, check ${check}: ${detail}`, cause === undefined ? undefined : { cause });
    this.name = "ContractViolation";
    this.suite = suite;
    this.check = check;
    this.detail = detail;
  }
}

/** True when `value` is a `ContractViolation`. */
export function isContractViolation(value: unknown): value is ContractViolation {
  return value instanceof ContractViolation;
}

/** A short printable description of any thrown value, for violation messages. */
export function describeThrown(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return typeof code === "string" ? `${value.name} [${code}] "${value.message}"` : `${value.name} "${value.message}"`;
  }
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
