/**
 * Checks of plain generation: a bounded generate and chat yield well-formed tokens and leave `err()` clean, and
 * `maxTokens` is honoured exactly when EOS is not reached. Stop conditions and cancellation have their own files.
 */
import { withMaxTokens } from "@dappcore/inference";
import { type ContractCheck, PASSED } from "../contract-check.js";
import { idsOf } from "../stream-run.js";

export const generateBoundedCheck: ContractCheck = {
  id: "generate-bounded",
  title: "generate yields 1..maxTokens well-formed tokens and leaves err() ok",
  exercises: ["generate"],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const vocab = ctx.vocabSize(model);
      const n = ctx.options.maxTokens;
      const what = `generate with withMaxTokens(${n})`;
      const run = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.opts(withMaxTokens(n))), n);
      ctx.expectClean(what, run, n);
      if (run.tokens.length === 0) ctx.fail(`${what} yielded no tokens; the prompt must produce at least one`);
      for (const token of run.tokens) ctx.expectToken(what, token, vocab);
      ctx.expectErrOk(model, "a completed generate");
      return PASSED;
    }),
};

export const chatCheck: ContractCheck = {
  id: "chat",
  title: "chat yields 1..maxTokens well-formed tokens and leaves err() ok",
  exercises: ["chat", "tokenizer", "chat.template"],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const vocab = ctx.vocabSize(model);
      const n = ctx.options.maxTokens;
      const what = `chat with withMaxTokens(${n})`;
      const run = await ctx.drain("chat", () => model.chat(ctx.options.chatMessages, ...ctx.opts(withMaxTokens(n))), n);
      ctx.expectClean(what, run, n);
      if (run.tokens.length === 0) ctx.fail(`${what} yielded no tokens`);
      for (const token of run.tokens) ctx.expectToken(what, token, vocab);
      ctx.expectErrOk(model, "a completed chat");
      return PASSED;
    }),
};

/**
 * A greedy reference run with a larger cap tells whether EOS comes early; every smaller cap must then yield exactly
 * min(cap, reference length) tokens, the reference's prefix.
 */
export const maxTokensExactCheck: ContractCheck = {
  id: "max-tokens-exact",
  title: "maxTokens is honoured exactly when EOS is not reached",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const refCap = ctx.options.maxTokens * 2;
      const generate = (cap: number) =>
        ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(cap))), cap);
      const ref = await generate(refCap);
      ctx.expectClean(`generate with withMaxTokens(${refCap})`, ref, refCap);
      if (ref.tokens.length === 0) ctx.fail(`generate with withMaxTokens(${refCap}) yielded no tokens`);
      const refIds = idsOf(ref.tokens);
      for (const cap of new Set([1, 2, ctx.options.maxTokens - 1, ctx.options.maxTokens])) {
        const run = await generate(cap);
        ctx.expectClean(`generate with withMaxTokens(${cap})`, run, cap);
        const expected = Math.min(cap, refIds.length);
        if (run.tokens.length !== expected) {
          ctx.fail(
            `generate with withMaxTokens(${cap}) yielded ${run.tokens.length} tokens, expected exactly ${expected} ` +
              `(greedy with withMaxTokens(${refCap}) yielded ${refIds.length})`,
          );
        }
        const ids = idsOf(run.tokens);
        if (ids.some((id, i) => id !== refIds[i])) {
          ctx.fail(`greedy generate with withMaxTokens(${cap}) gave [${ids}], not a prefix of [${refIds}]`);
        }
      }
      return PASSED;
    }),
};
