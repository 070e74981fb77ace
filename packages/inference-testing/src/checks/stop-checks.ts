/**
 * Checks of stop conditions: a stop token id and a stop string, each taken from a greedy reference run, end the
 * stream before the stop is emitted. `maxTokens` is checked in `generate-checks.ts`, cancellation in `abort-checks.ts`.
 */
import { withMaxTokens, withStop, withStopTokens } from "@dappcore/inference";
import { type ContractCheck, PASSED } from "../contract-check.js";
import { idsOf, textOf } from "../stream-run.js";

export const stopTokensCheck: ContractCheck = {
  id: "stop-tokens",
  title: "withStopTokens ends the stream before the stop token, which is not emitted",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const n = ctx.options.maxTokens;
      const ref = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n))), n);
      ctx.expectClean(`generate with withMaxTokens(${n})`, ref, n);
      const refIds = idsOf(ref.tokens);
      if (refIds.length === 0) ctx.fail(`generate with withMaxTokens(${n}) yielded no tokens`);
      // The first token (after the first) whose id has not appeared before: the stream must stop right there.
      let k = refIds.findIndex((id, i) => i > 0 && !refIds.slice(0, i).includes(id));
      if (k < 0) k = 0;
      const stopId = refIds[k];
      const what = `generate with withStopTokens(${stopId})`;
      const run = await ctx.drain(
        "generate",
        () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n), withStopTokens(stopId))),
        n,
      );
      ctx.expectClean(what, run, n);
      const ids = idsOf(run.tokens);
      if (ids.includes(stopId)) ctx.fail(`${what} emitted the stop token: [${ids}]`);
      const expected = refIds.slice(0, k);
      if (ids.length !== expected.length || ids.some((id, i) => id !== expected[i])) {
        ctx.fail(`${what} yielded [${ids}], expected [${expected}] (the greedy run before token ${stopId} at index ${k})`);
      }
      ctx.expectErrOk(model, "a generate ended by a stop token");
      return PASSED;
    }),
};

export const stopStringsCheck: ContractCheck = {
  id: "stop-strings",
  title: "withStop ends the stream before the stop string, which is not emitted",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const n = ctx.options.maxTokens;
      const ref = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n))), n);
      ctx.expectClean(`generate with withMaxTokens(${n})`, ref, n);
      const refText = textOf(ref.tokens);
      const texts = ref.tokens.map((t) => t.text);
      // Prefer a token whose text first occurs after some output, so the check sees text before the stop.
      const stop =
        texts.find((t, i) => i > 0 && t !== "" && refText.indexOf(t) > 0) ?? texts.find((t) => t !== "");
      if (stop === undefined) {
        return ctx.fail(`generate with withMaxTokens(${n}) yielded no token with text; set options.prompt to one that does`);
      }
      const at = refText.indexOf(stop);
      // Everything before the token where the stop string starts must come out; the stop string itself must not.
      let tokenStart = 0;
      for (const t of texts) {
        if (tokenStart + t.length > at) break;
        tokenStart += t.length;
      }
      const what = `generate with withStop(${JSON.stringify(stop)})`;
      const run = await ctx.drain(
        "generate",
        () => model.generate(ctx.options.prompt, ...ctx.greedy(withMaxTokens(n), withStop(stop))),
        n,
      );
      ctx.expectClean(what, run, n);
      const text = textOf(run.tokens);
      if (text.includes(stop)) ctx.fail(`${what} emitted the stop string: ${JSON.stringify(text)}`);
      if (!refText.startsWith(text) || text.length > at || text.length < tokenStart) {
        ctx.fail(
          `${what} yielded ${JSON.stringify(text)}; expected the greedy output up to the stop string, ` +
            `${JSON.stringify(refText.slice(0, at))} (at least ${JSON.stringify(refText.slice(0, tokenStart))})`,
        );
      }
      ctx.expectErrOk(model, "a generate ended by a stop string");
      return PASSED;
    }),
};
