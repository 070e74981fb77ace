/**
 * The ids of the conformance checks, the names used in `skip`, in test titles and in violation messages. Only the
 * list lives here (so options can validate against it without importing the checks); the checks are in `checks/`.
 */

/** Every check of the kit, in the order `runBackendContract` runs them. */
export const CONTRACT_CHECK_IDS = [
  "generate-bounded",
  "chat",
  "max-tokens-exact",
  "stop-tokens",
  "stop-strings",
  "abort",
  "abort-before-start",
  "break",
  "error-state",
  "metrics",
  "classify",
  "batch-generate",
  "info",
  "close",
  "async-dispose",
  "logits",
  "determinism-greedy",
  "determinism-seeded",
  "probe-events",
  "capability-coverage",
] as const;

/** One check's id. */
export type ContractCheckId = (typeof CONTRACT_CHECK_IDS)[number];
