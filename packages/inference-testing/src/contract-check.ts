/**
 * The shape of one conformance check: an id, a title, the capabilities it exercises, and an async `run` that
 * throws a `ContractViolation` on failure. The list of checks is in `contract-checks.ts`; the checks are in `checks/`.
 */
import type { ContractCheckId } from "./check-ids.js";
import type { ContractContext } from "./contract-context.js";

/** How a check ended when it did not throw: it passed, or it does not apply to this backend (with the reason). */
export type CheckOutcome =
  | { readonly status: "passed" }
  | { readonly status: "not-applicable"; readonly reason: string };

/** One check of the kit. */
export interface ContractCheck {
  readonly id: ContractCheckId;
  /** The test title. */
  readonly title: string;
  /** Capability ids this check exercises; while one of them is claimed the check cannot be skipped. */
  readonly exercises: readonly string[];
  /** Runs the check; throws a `ContractViolation` when the backend breaks the contract. */
  run(ctx: ContractContext): Promise<CheckOutcome>;
}

/** The outcome of a check that passed. */
export const PASSED: CheckOutcome = Object.freeze({ status: "passed" });

/** The outcome of a check that does not apply, with the reason shown as the test's skip note. */
export function notApplicable(reason: string): CheckOutcome {
  return { status: "not-applicable", reason };
}
