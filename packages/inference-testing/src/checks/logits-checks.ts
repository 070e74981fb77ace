/**
 * The check of `withLogits()`: when `probe.logits` is claimed, every token carries a Float32Array of vocabSize raw
 * logits whose argmax is the token chosen by greedy decoding. When it is not claimed, the option must still be
 * honoured or rejected with `unsupported`: never ignored quietly. Probe-bus logit summaries are `probe-checks.ts`.
 */
import { withLogits, withMaxTokens, withRepeatPenalty } from "@dappcore/inference";
import { type ContractCheck, PASSED, notApplicable } from "../contract-check.js";
import { textOf } from "../stream-run.js";

export const logitsCheck: ContractCheck = {
  id: "logits",
  title: "withLogits attaches vocabSize logits to every token, whose argmax is the greedy token",
  exercises: ["probe.logits"],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const vocab = ctx.vocabSize(model);
      const claimed = ctx.claimed(model).has("probe.logits");
      const n = ctx.options.maxTokens;
      const what = "greedy generate with withLogits()";
      const run = await ctx.drain(
        "generate",
        () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n), withRepeatPenalty(1), withLogits())),
        n,
      );
      if (!claimed && run.tokens.length === 0 && run.error !== undefined) {
        ctx.expectCode(`${what} (probe.logits not claimed)`, run.error, "unsupported");
        return notApplicable("probe.logits is not claimed and withLogits() is rejected with unsupported");
      }
      ctx.expectClean(what, run, n);
      if (run.tokens.length === 0) ctx.fail(`${what} yielded no tokens`);
      run.tokens.forEach((token, i) => {
        ctx.expectToken(what, token, vocab);
        const logits = token.logits;
        if (logits === undefined) {
          return ctx.fail(
            claimed
              ? `${what}: token ${i} (id ${token.id}) has no logits although probe.logits is claimed`
              : `${what}: token ${i} has no logits; probe.logits is not claimed, so withLogits() must fail with unsupported rather than be ignored`,
          );
        }
        if (logits.length !== vocab) ctx.fail(`${what}: token ${i} has ${logits.length} logits, expected vocabSize ${vocab}`);
        let best = 0;
        for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
        if (Number.isNaN(logits[token.id]) || logits[token.id] < logits[best]) {
          ctx.fail(
            `${what}: token ${i} is id ${token.id} (logit ${logits[token.id]}) but the argmax is id ${best} ` +
              `(logit ${logits[best]}); output so far ${JSON.stringify(textOf(run.tokens.slice(0, i)))}`,
          );
        }
      });
      return PASSED;
    }),
};
