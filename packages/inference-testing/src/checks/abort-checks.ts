/**
 * Checks of cancellation: an abort through the signal stops the stream within one token with an `aborted` error
 * (thrown and recorded for `err()`), an already-aborted signal yields nothing, and a `break` out of the loop; after
 * each the same model still generates normally. Stop tokens and strings are in `stop-checks.ts`.
 */
import { type TextModel, withMaxTokens, withSignal } from "@dappcore/inference";
import { type ContractCheck, PASSED } from "../contract-check.js";
import { countOf } from "../stream-run.js";
import type { ContractContext } from "../contract-context.js";
import { describeThrown } from "../contract-violation.js";

/** Abort and break need room: the greedy reference must run at least this many tokens. */
const MIN_REFERENCE_TOKENS = 3;

export const abortCheck: ContractCheck = {
  id: "abort",
  title: "aborting the signal mid-stream stops within one token with an aborted error; the model stays usable",
  exercises: ["request.cancel"],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const n = ctx.options.maxTokens;
      await expectLongEnough(ctx, model);
      const controller = new AbortController();
      const run = await ctx.drain(
        "generate",
        () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n), withSignal(controller.signal))),
        n,
        (_token, count) => {
          if (count === 1) controller.abort();
        },
      );
      const what = "generate aborted after its first token";
      if (run.overflow) ctx.fail(`${what} yielded more than ${n} tokens`);
      if (run.tokens.length === 0) ctx.fail(`${what} yielded no tokens before the abort`);
      const after = run.tokens.length - 1;
      if (after > 1) ctx.fail(`${what} yielded ${after} more tokens after the abort; at most 1 is allowed`);
      if (run.error === undefined) ctx.fail(`${what} ended without throwing; it must throw an aborted InferenceError`);
      ctx.expectCode(what, run.error, "aborted");
      ctx.expectErrCode(model, "an aborted generate", "aborted");
      await expectUsable(ctx, model, "an aborted generate");
      return PASSED;
    }),
};

export const abortBeforeStartCheck: ContractCheck = {
  id: "abort-before-start",
  title: "an already-aborted signal yields nothing and fails with aborted; the model stays usable",
  exercises: ["request.cancel"],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const n = ctx.options.maxTokens;
      const signal = AbortSignal.abort();
      const what = "generate with an already-aborted signal";
      const run = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n), withSignal(signal))), n);
      if (run.tokens.length > 0) ctx.fail(`${what} yielded ${countOf(run)} tokens; it must yield none`);
      if (run.error === undefined) ctx.fail(`${what} ended without throwing; it must throw an aborted InferenceError`);
      ctx.expectCode(what, run.error, "aborted");
      ctx.expectErrCode(model, "a generate with an already-aborted signal", "aborted");
      await expectUsable(ctx, model, "a generate with an already-aborted signal");
      return PASSED;
    }),
};

export const breakCheck: ContractCheck = {
  id: "break",
  title: "a break out of for-await ends the stream and leaves the model usable",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const n = ctx.options.maxTokens;
      await expectLongEnough(ctx, model);
      const run = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n))), n, () => "break");
      if (run.error !== undefined) ctx.fail(`generate broken out of after one token threw ${describeThrown(run.error)}`, run.error);
      if (run.tokens.length !== 1) ctx.fail(`generate yielded ${run.tokens.length} tokens before the break; expected 1`);
      await expectUsable(ctx, model, "a break out of generate");
      return PASSED;
    }),
};

/** The greedy reference must run at least `MIN_REFERENCE_TOKENS` tokens, or the abort check proves nothing. */
async function expectLongEnough(ctx: ContractContext, model: TextModel): Promise<void> {
  const n = ctx.options.maxTokens;
  const ref = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n))), n);
  ctx.expectClean(`generate with withMaxTokens(${n})`, ref, n);
  if (ref.tokens.length < MIN_REFERENCE_TOKENS) {
    ctx.fail(
      `generate with withMaxTokens(${n}) yielded ${ref.tokens.length} tokens; this check needs at least ` +
        `${MIN_REFERENCE_TOKENS} (set options.prompt or options.generateOptions to avoid an early EOS)`,
    );
  }
}

/** After `after`, the same model must still generate at least one token cleanly, with `err()` ok. */
async function expectUsable(ctx: ContractContext, model: TextModel, after: string): Promise<void> {
  const n = ctx.options.maxTokens;
  const what = `generate after ${after}`;
  const run = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n))), n);
  ctx.expectClean(what, run, n);
  if (run.tokens.length === 0) ctx.fail(`${what} yielded no tokens; the model must stay usable`);
  ctx.expectErrOk(model, `a successful ${what}`);
}
