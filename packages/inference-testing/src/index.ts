/**
 * @dappcore/inference-testing: the conformance kit every backend's tests run. `runBackendContract(options)` registers
 * the suite with vitest; `contractChecks` and `runContractCheck` expose the same checks as plain async functions.
 * It is test tooling only: nothing here is shipped to users of @dappcore/inference.
 *
 * @example
 * // packages/<backend>/test/contract.test.ts
 * runBackendContract({
 *   name: "cpu (tiny llama)",
 *   backend: cpuBackend,
 *   load: (...opts) => cpuBackend.loadModel(dir, ...opts),
 *   exercisers: { "lora.inference": async (model) => { ... } },
 *   skip: { "probe-events": "reason, only for a capability this backend does not claim" },
 * });
 */
export { runBackendContract } from "./run-backend-contract.js";
export {
  contractChecks,
  contractCheck,
  runContractCheck,
  runCapabilityExerciser,
  prepareContractOptions,
} from "./contract-checks.js";
export { planBackendContract } from "./contract-plan.js";
export type { PlannedTest } from "./contract-plan.js";
export { CONTRACT_CHECK_IDS } from "./check-ids.js";
export type { ContractCheckId } from "./check-ids.js";
export type { CheckOutcome, ContractCheck } from "./contract-check.js";
export { ContractContext } from "./contract-context.js";
export { resolveContractOptions } from "./contract-options.js";
export type {
  BackendContractOptions,
  CapabilityExerciser,
  ContractLoader,
  ResolvedContractOptions,
} from "./contract-options.js";
export { ContractViolation, isContractViolation } from "./contract-violation.js";
export { capabilityCoverage, INTRINSIC_CAPABILITIES } from "./checks/capability-checks.js";
export type { BlockedSkip, CapabilityCoverage } from "./checks/capability-checks.js";
export { drainStream } from "./stream-run.js";
export type { StreamRun } from "./stream-run.js";
