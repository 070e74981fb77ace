/**
 * Checks of a model's lifetime: `info()` and `modelType()` are sane, `close()` is idempotent and every later call
 * fails with `closed` (streams throw, Results fail), and `await using` disposes the model. Generation itself is
 * checked elsewhere.
 */
import { type TextModel, withMaxTokens } from "@dappcore/inference";
import { type ContractCheck, PASSED } from "../contract-check.js";
import { countOf } from "../stream-run.js";
import { type ContractContext, awaitOrFail, callOrFail } from "../contract-context.js";

const INFO_COUNTS = ["numLayers", "hiddenSize", "contextLength", "quantBits", "quantGroup"] as const;

export const infoCheck: ContractCheck = {
  id: "info",
  title: "modelType() is a non-empty string and info() has sane sizes",
  exercises: [],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const type = callOrFail(ctx, "modelType()", () => model.modelType());
      if (typeof type !== "string" || type === "") ctx.fail(`modelType() must be a non-empty string, got ${JSON.stringify(type)}`);
      const info = callOrFail(ctx, "info()", () => model.info());
      if (info === null || typeof info !== "object") ctx.fail("info() did not return an object");
      if (typeof info.architecture !== "string") ctx.fail(`info().architecture must be a string, got ${typeof info.architecture}`);
      ctx.vocabSize(model);
      for (const field of INFO_COUNTS) {
        const value = info[field];
        if (!Number.isInteger(value) || value < 0) ctx.fail(`info().${field} must be an integer >= 0, got ${value}`);
      }
      return PASSED;
    }),
};

export const closeCheck: ContractCheck = {
  id: "close",
  title: "close() is idempotent and every later call fails with closed",
  exercises: [],
  run: async (ctx) => {
    const model = await ctx.load();
    ctx.expectOk("close()", await awaitOrFail(ctx, "close()", () => model.close()));
    ctx.expectOk("a second close()", await awaitOrFail(ctx, "a second close()", () => model.close()));
    await expectClosed(ctx, model, "close()");
    return PASSED;
  },
};

export const asyncDisposeCheck: ContractCheck = {
  id: "async-dispose",
  title: "await using disposes the model",
  exercises: [],
  run: async (ctx) => {
    const loaded = await ctx.load();
    if (typeof loaded[Symbol.asyncDispose] !== "function") {
      await loaded.close().catch(() => undefined);
      ctx.fail("the model has no [Symbol.asyncDispose] method, so await using cannot dispose it");
    }
    let escaped: TextModel;
    {
      await using model = loaded;
      escaped = model;
    }
    await expectClosed(ctx, escaped, "await using");
    return PASSED;
  },
};

/** Every call on a closed model fails with `closed`: streams throw without yielding, Results fail. */
async function expectClosed(ctx: ContractContext, model: TextModel, after: string): Promise<void> {
  const n = ctx.options.maxTokens;
  const streams = {
    generate: () => model.generate(ctx.options.prompt, ...ctx.opts(withMaxTokens(n))),
    chat: () => model.chat(ctx.options.chatMessages, ...ctx.opts(withMaxTokens(n))),
  };
  for (const [name, start] of Object.entries(streams)) {
    const what = `${name} after ${after}`;
    const run = await ctx.drain(name, start, n);
    if (run.tokens.length > 0) ctx.fail(`${what} yielded ${countOf(run)} tokens; it must fail with closed`);
    if (run.error === undefined) ctx.fail(`${what} ended cleanly; it must throw a closed InferenceError`);
    ctx.expectCode(what, run.error, "closed");
  }
  const prompts = ctx.options.prompts;
  const classify = await awaitOrFail(ctx, `classify after ${after}`, () => model.classify(prompts, ...ctx.opts()));
  ctx.expectFailedResult(`classify after ${after}`, classify, "closed");
  const batch = await awaitOrFail(ctx, `batchGenerate after ${after}`, () => model.batchGenerate(prompts, ...ctx.opts(withMaxTokens(n))));
  ctx.expectFailedResult(`batchGenerate after ${after}`, batch, "closed");
}
