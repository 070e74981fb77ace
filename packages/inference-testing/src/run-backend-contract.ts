/**
 * `runBackendContract`: the conformance suite as vitest tests, one `it` per check and per caller exerciser, inside
 * one `describe`. It only wires the plan (`contract-plan.ts`) to vitest; the checks are plain async functions.
 */
import { describe, it } from "vitest";
import { prepareContractOptions, runCapabilityExerciser, runContractCheck } from "./contract-checks.js";
import type { BackendContractOptions } from "./contract-options.js";
import { planBackendContract } from "./contract-plan.js";

/**
 * Registers the conformance suite for one backend. Call it at the top level of a backend's test file. Each check
 * loads a fresh model through `options.load` and closes it. Checks that do not apply (a capability that is not
 * claimed and answers `unsupported`) are reported as skipped with the reason; skips from `options.skip` show their
 * reason in the title; a skip of a check that exercises a claimed capability fails instead. Invalid options throw a
 * `ContractViolation` (check `options`) at collection time.
 *
 * @example
 * runBackendContract({ name: "cpu", backend: cpuBackend, load: (...opts) => cpuBackend.loadModel(dir, ...opts) });
 */
export function runBackendContract(options: BackendContractOptions): void {
  const resolved = prepareContractOptions(options);
  const timeout = resolved.timeoutMs;
  describe(`backend contract: ${resolved.name}`, () => {
    for (const test of planBackendContract(resolved)) {
      switch (test.kind) {
        case "check":
          it(
            test.title,
            async (context) => {
              const outcome = await runContractCheck(test.check, resolved);
              if (outcome.status === "not-applicable") context.skip(outcome.reason);
            },
            timeout,
          );
          break;
        case "skipped":
          it.skip(test.title, () => undefined);
          break;
        case "blocked-skip":
          it(test.title, () => {
            throw test.violation;
          });
          break;
        case "exerciser":
          it(test.title, async () => void (await runCapabilityExerciser(test.capability, resolved)), timeout);
          break;
      }
    }
  });
}
