/**
 * The list of conformance checks and the plain-function way to run them (`runContractCheck`,
 * `runCapabilityExerciser`), usable without vitest. The vitest wrapper is `run-backend-contract.ts`.
 */
import type { ContractCheckId } from "./check-ids.js";
import type { CheckOutcome, ContractCheck } from "./contract-check.js";
import { PASSED } from "./contract-check.js";
import { ContractContext } from "./contract-context.js";
import { type BackendContractOptions, type ResolvedContractOptions, resolveContractOptions } from "./contract-options.js";
import { ContractViolation, describeThrown } from "./contract-violation.js";
import { abortBeforeStartCheck, abortCheck, breakCheck } from "./checks/abort-checks.js";
import { batchGenerateCheck, classifyCheck } from "./checks/batch-checks.js";
import { capabilityCoverageCheck } from "./checks/capability-checks.js";
import { greedyDeterminismCheck, seededDeterminismCheck } from "./checks/determinism-checks.js";
import { errorStateCheck } from "./checks/error-state-checks.js";
import { chatCheck, generateBoundedCheck, maxTokensExactCheck } from "./checks/generate-checks.js";
import { asyncDisposeCheck, closeCheck, infoCheck } from "./checks/lifecycle-checks.js";
import { logitsCheck } from "./checks/logits-checks.js";
import { metricsCheck } from "./checks/metrics-checks.js";
import { probeEventsCheck } from "./checks/probe-checks.js";
import { stopStringsCheck, stopTokensCheck } from "./checks/stop-checks.js";

/** Every check, in the order of `CONTRACT_CHECK_IDS`. */
export const contractChecks: readonly ContractCheck[] = Object.freeze([
  generateBoundedCheck,
  chatCheck,
  maxTokensExactCheck,
  stopTokensCheck,
  stopStringsCheck,
  abortCheck,
  abortBeforeStartCheck,
  breakCheck,
  errorStateCheck,
  metricsCheck,
  classifyCheck,
  batchGenerateCheck,
  infoCheck,
  closeCheck,
  asyncDisposeCheck,
  logitsCheck,
  greedyDeterminismCheck,
  seededDeterminismCheck,
  probeEventsCheck,
  capabilityCoverageCheck(() => contractChecks),
]);

/** The check with this id; throws a `ContractViolation` (check `options`) for an unknown id. */
export function contractCheck(id: ContractCheckId): ContractCheck {
  const check = contractChecks.find((c) => c.id === id);
  if (check === undefined) throw new ContractViolation("contract", "options", `unknown check "${id}"`);
  return check;
}

/**
 * Runs one check outside vitest: resolves to its outcome, rejects with a `ContractViolation` when the backend breaks
 * the contract. Skips in the options are not consulted (the caller chose to run it).
 *
 * @example
 * await expect(runContractCheck("abort", { name: "fake", load })).rejects.toThrow(/aborted/);
 */
export async function runContractCheck(
  id: ContractCheckId,
  options: BackendContractOptions | ResolvedContractOptions,
): Promise<CheckOutcome> {
  const resolved = isResolved(options) ? options : resolveContractOptions(options);
  return contractCheck(id).run(new ContractContext(resolved, id));
}

/**
 * Runs the caller's exerciser for capability `id` with a fresh model (closed afterwards). A rejection of the
 * exerciser becomes a `ContractViolation` of check `exerciser:<id>` with the exerciser's error as its cause.
 */
export async function runCapabilityExerciser(
  id: string,
  options: BackendContractOptions | ResolvedContractOptions,
): Promise<CheckOutcome> {
  const resolved = isResolved(options) ? options : resolveContractOptions(options);
  const ctx = new ContractContext(resolved, `exerciser:${id}`);
  const exerciser = resolved.exercisers[id];
  if (exerciser === undefined) ctx.fail(`no exerciser for capability "${id}"`);
  return ctx.withModel(async (model) => {
    try {
      await exerciser(model);
    } catch (e) {
      if (e instanceof ContractViolation) throw e;
      ctx.fail(`the exerciser for "${id}" failed: ${describeThrown(e)}`, e);
    }
    return PASSED;
  });
}

const resolvedMarker = new WeakSet<object>();

/** Resolves options once, so a suite validates them a single time; the result is accepted by the runners as is. */
export function prepareContractOptions(options: BackendContractOptions): ResolvedContractOptions {
  const resolved = Object.freeze(resolveContractOptions(options));
  resolvedMarker.add(resolved);
  return resolved;
}

function isResolved(options: BackendContractOptions | ResolvedContractOptions): options is ResolvedContractOptions {
  return resolvedMarker.has(options);
}
