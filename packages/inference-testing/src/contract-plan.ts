/**
 * The plan of a conformance suite: which tests `runBackendContract` registers, with their titles, and which are
 * skipped (with the reason) or fail up front (a skip of a check whose capability the backend claims). Planning is
 * separate from vitest so it can be tested; nothing here runs a check.
 */
import type { ContractCheckId } from "./check-ids.js";
import { ContractContext } from "./contract-context.js";
import { contractChecks } from "./contract-checks.js";
import type { ResolvedContractOptions } from "./contract-options.js";
import { ContractViolation } from "./contract-violation.js";

/** One test of the suite. */
export type PlannedTest =
  | { readonly kind: "check"; readonly title: string; readonly check: ContractCheckId }
  | { readonly kind: "skipped"; readonly title: string; readonly check: ContractCheckId; readonly reason: string }
  | { readonly kind: "blocked-skip"; readonly title: string; readonly check: ContractCheckId; readonly violation: ContractViolation }
  | { readonly kind: "exerciser"; readonly title: string; readonly capability: string };

/**
 * The tests of the suite, in order: one per check, then one per exerciser. Only the backend's own claims are known
 * here (no model is loaded); skips that collide with the model's claims are caught by `capability-coverage`.
 */
export function planBackendContract(options: ResolvedContractOptions): PlannedTest[] {
  const claimedByBackend =
    options.backend === undefined ? new Set<string>() : new ContractContext(options, "capability-coverage").claimed();
  const plan: PlannedTest[] = [];
  for (const check of contractChecks) {
    const reason = options.skip[check.id];
    if (reason === undefined) {
      plan.push({ kind: "check", title: check.title, check: check.id });
      continue;
    }
    const blocked = check.exercises.filter((id) => claimedByBackend.has(id));
    if (blocked.length === 0) {
      plan.push({ kind: "skipped", title: `${check.title} (skipped: ${reason})`, check: check.id, reason });
    } else {
      const names = blocked.map((b) => `"${b}"`).join(", ");
      const violation = new ContractViolation(
        options.name,
        check.id,
        `is skipped (${reason}) but exercises claimed capabilities ${names}; claimed capabilities are never skipped`,
      );
      plan.push({ kind: "blocked-skip", title: check.title, check: check.id, violation });
    }
  }
  for (const capability of Object.keys(options.exercisers)) {
    plan.push({ kind: "exerciser", title: `exerciser: ${capability}`, capability });
  }
  return plan;
}
