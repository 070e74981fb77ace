/**
 * Checks of reproducibility: greedy decoding (temperature 0) gives the same ids twice, and so does sampling with the
 * same seed. They compare a model with itself only; agreement with other implementations is the backends' own tests.
 */
import { withMaxTokens, withSeed, withTemperature } from "@dappcore/inference";
import type { GenerateOption, TextModel } from "@dappcore/inference";
import { type ContractCheck, PASSED } from "../contract-check.js";
import type { ContractContext } from "../contract-context.js";
import { idsOf } from "../stream-run.js";

export const greedyDeterminismCheck: ContractCheck = {
  id: "determinism-greedy",
  title: "temperature 0 gives identical ids twice",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      await expectSameTwice(ctx, model, "greedy generate (withTemperature(0))", [withTemperature(0)]);
      return PASSED;
    }),
};

export const seededDeterminismCheck: ContractCheck = {
  id: "determinism-seeded",
  title: "the same seed with temperature > 0 gives identical ids twice",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const { seed, temperature } = ctx.options;
      await expectSameTwice(ctx, model, `generate with withSeed(${seed}), withTemperature(${temperature})`, [
        withTemperature(temperature),
        withSeed(seed),
      ]);
      return PASSED;
    }),
};

async function expectSameTwice(ctx: ContractContext, model: TextModel, what: string, extra: GenerateOption[]): Promise<void> {
  const n = ctx.options.maxTokens;
  const once = async () => {
    const run = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.opts(withMaxTokens(n), ...extra)), n);
    ctx.expectClean(what, run, n);
    if (run.tokens.length === 0) ctx.fail(`${what} yielded no tokens`);
    return idsOf(run.tokens);
  };
  const a = await once();
  const b = await once();
  if (a.length !== b.length || a.some((id, i) => id !== b[i])) ctx.fail(`${what} differed between two runs: [${a}] then [${b}]`);
}
