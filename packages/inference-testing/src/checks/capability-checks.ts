/**
 * Capability coverage: every capability the backend claims as usable is exercised, by a built-in check that is not
 * skipped or by a caller-provided exerciser; a claimed capability is never skipped. This file decides coverage; the
 * exercising happens in the other checks and in `runCapabilityExerciser`.
 */
import type { ContractCheckId } from "../check-ids.js";
import { type ContractCheck, PASSED } from "../contract-check.js";
import type { ResolvedContractOptions } from "../contract-options.js";

/** Capabilities every check exercises just by running: each one loads its model through `options.load`. */
export const INTRINSIC_CAPABILITIES: readonly string[] = ["model.load"];

/** A skipped check that exercises a claimed capability. */
export interface BlockedSkip {
  readonly capability: string;
  readonly check: ContractCheckId;
  readonly reason: string;
}

/** What `capabilityCoverage` finds. */
export interface CapabilityCoverage {
  /** Claimed capabilities that no running check and no exerciser covers, sorted. */
  readonly missing: readonly string[];
  /** Skips that would leave a claimed capability's check unrun. */
  readonly blocked: readonly BlockedSkip[];
}

/** Matches the claimed capability ids against the checks' `exercises`, the skips and the caller's exercisers. */
export function capabilityCoverage(
  checks: readonly ContractCheck[],
  options: Pick<ResolvedContractOptions, "skip" | "exercisers">,
  claimed: ReadonlySet<string>,
): CapabilityCoverage {
  const missing: string[] = [];
  const blocked: BlockedSkip[] = [];
  for (const capability of [...claimed].sort()) {
    if (INTRINSIC_CAPABILITIES.includes(capability)) continue;
    const covering = checks.filter((c) => c.exercises.includes(capability));
    for (const check of covering) {
      const reason = options.skip[check.id];
      if (reason !== undefined) blocked.push({ capability, check: check.id, reason });
    }
    const running = covering.some((c) => options.skip[c.id] === undefined);
    if (!running && options.exercisers[capability] === undefined) missing.push(capability);
  }
  return { missing, blocked };
}

/** The coverage check over `checks` (the kit's list, passed in to keep this file free of a cycle). */
export function capabilityCoverageCheck(checks: () => readonly ContractCheck[]): ContractCheck {
  return {
    id: "capability-coverage",
    title: "every claimed capability is exercised by a check or an exerciser, and none is skipped",
    exercises: [],
    run: (ctx) =>
      ctx.withModel(async (model) => {
        const coverage = capabilityCoverage(checks(), ctx.options, ctx.claimed(model));
        if (coverage.blocked.length > 0) {
          const list = coverage.blocked.map((b) => `check ${b.check} (skipped: ${b.reason}) exercises "${b.capability}"`);
          ctx.fail(`claimed capabilities are never skipped: ${list.join("; ")}`);
        }
        if (coverage.missing.length > 0) {
          const names = coverage.missing.map((id) => `"${id}"`).join(", ");
          ctx.fail(`claimed capabilities with no exerciser: ${names}; add options.exercisers[id] for each`);
        }
        return PASSED;
      }),
  };
}
