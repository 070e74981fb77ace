/**
 * Checks of the Result-returning calls over many prompts: `classify` and `batchGenerate` give one well-formed result
 * per prompt, an empty list gives an empty array, `maxTokens` holds per prompt, and an invalid option fails the
 * Result (never a throw). A backend that does not claim the capability may instead answer `unsupported`.
 */
import { type BatchResult, type ClassifyResult, isInferenceError, withMaxTokens, withTopP } from "@dappcore/inference";
import { type CheckOutcome, type ContractCheck, PASSED, notApplicable } from "../contract-check.js";
import { type ContractContext, awaitOrFail } from "../contract-context.js";
import { describeThrown } from "../contract-violation.js";

/** The cap per prompt in the batch check. */
const BATCH_MAX_TOKENS = 4;

export const classifyCheck: ContractCheck = {
  id: "classify",
  title: "classify gives one well-formed result per prompt; [] gives []; an invalid option fails the Result",
  exercises: ["classify"],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const vocab = ctx.vocabSize(model);
      const prompts = ctx.options.prompts;
      const first = await awaitOrFail(ctx, "classify", () => model.classify(prompts, ...ctx.opts()));
      const skip = unclaimedOutcome(ctx, "classify", ctx.claimed(model).has("classify"), first);
      if (skip !== undefined) return skip;
      const results = ctx.expectOk<ClassifyResult[]>("classify", first);
      expectOnePerPrompt(ctx, "classify", results, prompts.length);
      results.forEach((r, i) => {
        if (r === null || typeof r !== "object") ctx.fail(`classify result ${i} is not an object`);
        ctx.expectToken(`classify result ${i}`, r.token, vocab);
        if (r.logits !== undefined && !(r.logits instanceof Float32Array && r.logits.length === vocab)) {
          ctx.fail(`classify result ${i} has logits that are not a Float32Array of ${vocab}`);
        }
      });
      const empty = ctx.expectOk<ClassifyResult[]>("classify([])", await awaitOrFail(ctx, "classify([])", () => model.classify([], ...ctx.opts())));
      expectOnePerPrompt(ctx, "classify([])", empty, 0);
      const invalid = await awaitOrFail(ctx, "classify with withTopP(2)", () => model.classify(prompts, ...ctx.opts(withTopP(2))));
      ctx.expectFailedResult("classify with withTopP(2)", invalid, "invalid_argument");
      return PASSED;
    }),
};

export const batchGenerateCheck: ContractCheck = {
  id: "batch-generate",
  title: "batchGenerate gives one result per prompt within maxTokens; [] gives []; an invalid option fails the Result",
  exercises: ["batch.generate"],
  run: (ctx) =>
    ctx.withModel(async (model) => {
      const vocab = ctx.vocabSize(model);
      const prompts = ctx.options.prompts;
      const cap = BATCH_MAX_TOKENS;
      const what = `batchGenerate with withMaxTokens(${cap})`;
      const first = await awaitOrFail(ctx, what, () => model.batchGenerate(prompts, ...ctx.opts(withMaxTokens(cap))));
      const skip = unclaimedOutcome(ctx, "batchGenerate", ctx.claimed(model).has("batch.generate"), first);
      if (skip !== undefined) return skip;
      const results = ctx.expectOk<BatchResult[]>(what, first);
      expectOnePerPrompt(ctx, what, results, prompts.length);
      results.forEach((r, i) => {
        if (r === null || typeof r !== "object" || !Array.isArray(r.tokens)) ctx.fail(`${what}: result ${i} has no tokens array`);
        if (r.error !== undefined) {
          ctx.fail(`${what}: prompt ${i} failed: ${describeThrown(r.error)}`, isInferenceError(r.error) ? r.error : undefined);
        }
        if (r.tokens.length === 0) ctx.fail(`${what}: prompt ${i} yielded no tokens`);
        if (r.tokens.length > cap) ctx.fail(`${what}: prompt ${i} yielded ${r.tokens.length} tokens, more than ${cap}`);
        for (const token of r.tokens) ctx.expectToken(`${what}, prompt ${i}`, token, vocab);
      });
      const empty = ctx.expectOk<BatchResult[]>("batchGenerate([])", await awaitOrFail(ctx, "batchGenerate([])", () => model.batchGenerate([], ...ctx.opts(withMaxTokens(cap)))));
      expectOnePerPrompt(ctx, "batchGenerate([])", empty, 0);
      const invalid = await awaitOrFail(ctx, "batchGenerate with withTopP(2)", () =>
        model.batchGenerate(prompts, ...ctx.opts(withMaxTokens(cap), withTopP(2))),
      );
      ctx.expectFailedResult("batchGenerate with withTopP(2)", invalid, "invalid_argument");
      return PASSED;
    }),
};

/**
 * When the capability is not claimed, a clean `unsupported` failure means the check does not apply; a success is
 * checked like a claimed one. When it is claimed, nothing here applies.
 */
function unclaimedOutcome(ctx: ContractContext, call: string, claimed: boolean, result: unknown): CheckOutcome | undefined {
  const r = ctx.expectResult<unknown>(call, result);
  if (claimed || r.ok) return undefined;
  if (r.error.code === "unsupported") return notApplicable(`${call} is not claimed and answers unsupported`);
  return ctx.fail(`${call} is not claimed, so it must succeed or fail with "unsupported"; got ${describeThrown(r.error)}`, r.error);
}

function expectOnePerPrompt(ctx: ContractContext, what: string, results: unknown, count: number): void {
  if (!Array.isArray(results)) ctx.fail(`${what} did not give an array`);
  if (results.length !== count) ctx.fail(`${what} gave ${results.length} results for ${count} prompts`);
}
