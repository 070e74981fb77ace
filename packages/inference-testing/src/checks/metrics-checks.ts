/**
 * The check of `metrics()` after a completed generation: counts match what was streamed and every duration and
 * rate is a finite non-negative number. It does not judge speed; tests never assert durations.
 */
import { withMaxTokens } from "@dappcore/inference";
import { type ContractCheck, PASSED } from "../contract-check.js";
import { callOrFail } from "../contract-context.js";

const NUMERIC_FIELDS = [
  "promptTokens",
  "generatedTokens",
  "prefillMs",
  "decodeMs",
  "totalMs",
  "timeToFirstTokenMs",
  "prefillTokensPerSec",
  "decodeTokensPerSec",
  "peakMemoryBytes",
  "activeMemoryBytes",
] as const;

export const metricsCheck: ContractCheck = {
  id: "metrics",
  title: "metrics() after a completed generate: counts match, durations and rates finite and >= 0",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const n = ctx.options.maxTokens;
      const run = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.opts(withMaxTokens(n))), n);
      ctx.expectClean(`generate with withMaxTokens(${n})`, run, n);
      const metrics = callOrFail(ctx, "metrics()", () => model.metrics());
      if (metrics === null || typeof metrics !== "object") ctx.fail("metrics() did not return an object");
      for (const field of NUMERIC_FIELDS) {
        const value = metrics[field];
        if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
          ctx.fail(`metrics().${field} must be a finite number >= 0, got ${value}`);
        }
      }
      if (metrics.generatedTokens !== run.tokens.length) {
        ctx.fail(`metrics().generatedTokens is ${metrics.generatedTokens}, but the stream yielded ${run.tokens.length} tokens`);
      }
      if (metrics.promptTokens <= 0) ctx.fail(`metrics().promptTokens must be > 0 after a prompt, got ${metrics.promptTokens}`);
      if (!Number.isInteger(metrics.promptTokens)) ctx.fail(`metrics().promptTokens must be an integer, got ${metrics.promptTokens}`);
      if (metrics.totalMs < metrics.timeToFirstTokenMs && run.tokens.length > 0) {
        ctx.fail(`metrics().totalMs (${metrics.totalMs}) is less than timeToFirstTokenMs (${metrics.timeToFirstTokenMs})`);
      }
      return PASSED;
    }),
};
