/**
 * The check of `err()`: ok on a fresh model and after success, set after a failed stream (an out-of-range option
 * fails with `invalid_argument`, thrown by the stream and recorded), and cleared by the next success. Result-returning
 * calls are checked with their own capabilities in `batch-checks.ts`.
 */
import { type TextModel, type Token, withMaxTokens, withTopP } from "@dappcore/inference";
import { type ContractCheck, PASSED } from "../contract-check.js";
import { countOf } from "../stream-run.js";
import type { ContractContext } from "../contract-context.js";

export const errorStateCheck: ContractCheck = {
  id: "error-state",
  title: "err() is ok after success, set after a failed stream (invalid option), and cleared by the next success",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const n = ctx.options.maxTokens;
      ctx.expectErrOk(model, "load");
      await expectSuccess(ctx, model, "generate", () => model.generate(ctx.options.prompt, ...ctx.opts(withMaxTokens(n))));
      ctx.expectErrOk(model, "a completed generate");

      await expectInvalidTopP(ctx, model, "generate", () =>
        model.generate(ctx.options.prompt, ...ctx.opts(withMaxTokens(n), withTopP(2))),
      );
      await expectSuccess(ctx, model, "generate", () => model.generate(ctx.options.prompt, ...ctx.opts(withMaxTokens(n))));
      ctx.expectErrOk(model, "a successful generate following a failed one");

      await expectInvalidTopP(ctx, model, "chat", () =>
        model.chat(ctx.options.chatMessages, ...ctx.opts(withMaxTokens(n), withTopP(2))),
      );
      await expectSuccess(ctx, model, "chat", () => model.chat(ctx.options.chatMessages, ...ctx.opts(withMaxTokens(n))));
      ctx.expectErrOk(model, "a successful chat following a failed one");
      return PASSED;
    }),
};

async function expectSuccess(
  ctx: ContractContext,
  model: TextModel,
  what: string,
  start: () => AsyncIterable<Token>,
): Promise<void> {
  const n = ctx.options.maxTokens;
  const run = await ctx.drain(what, start, n);
  ctx.expectClean(what, run, n);
  if (run.tokens.length === 0) ctx.fail(`${what} yielded no tokens`);
}

/** withTopP(2) is out of range: the stream yields nothing, throws `invalid_argument` naming topP, and `err()` has it. */
async function expectInvalidTopP(
  ctx: ContractContext,
  model: TextModel,
  what: string,
  start: () => AsyncIterable<Token>,
): Promise<void> {
  const label = `${what} with withTopP(2)`;
  const run = await ctx.drain(what, start, ctx.options.maxTokens);
  if (run.tokens.length > 0) ctx.fail(`${label} yielded ${countOf(run)} tokens; an invalid option must fail first`);
  if (run.error === undefined) ctx.fail(`${label} ended cleanly; an out-of-range option must fail with invalid_argument`);
  const error = ctx.expectCode(label, run.error, "invalid_argument");
  if (!/topP/i.test(error.message)) ctx.fail(`${label}: the error must name the option, got "${error.message}"`);
  ctx.expectErrCode(model, label, "invalid_argument");
}
