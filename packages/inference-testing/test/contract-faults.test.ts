// Proves the kit catches broken backends: each fault of the scripted model breaks one promise of the contract, and
// the check for that promise must reject with a ContractViolation naming the check and saying what went wrong.
import { describe, expect, it } from "vitest";
import { supportedCapability } from "@dappcore/inference";
import {
  type ContractCheckId,
  ContractViolation,
  contractChecks,
  runContractCheck,
} from "@dappcore/inference-testing";
import { DEFAULT_CAPABILITIES, type ScriptedFaults, scriptedLoader } from "./scripted-backend.js";

const cases: [keyof ScriptedFaults, ContractCheckId, RegExp][] = [
  ["ignoreMaxTokens", "generate-bounded", /generate with withMaxTokens\(8\) yielded more than 8 tokens/],
  ["tokenIdOutOfRange", "generate-bounded", /yielded token id 24, outside \[0, 24\)/],
  ["chatYieldsNothing", "chat", /^chat with withMaxTokens\(8\) yielded no tokens$/],
  ["maxTokensOffByOne", "max-tokens-exact", /withMaxTokens\(2\) yielded 1 tokens, expected exactly 2/],
  ["emitStopToken", "stop-tokens", /emitted the stop token/],
  ["ignoreStopStrings", "stop-strings", /withStop\(".*"\) emitted the stop string/],
  ["ignoreAbort", "abort", /yielded 7 more tokens after the abort; at most 1 is allowed/],
  ["abortSilently", "abort", /ended without throwing; it must throw an aborted InferenceError/],
  ["ignoreAbort", "abort-before-start", /already-aborted signal yielded 8 tokens; it must yield none/],
  ["breakPoisons", "break", /generate after a break out of generate failed: InferenceError \[busy\]/],
  ["stickyErr", "error-state", /err\(\) after a successful generate following a failed one should be ok, got InferenceError \[invalid_argument\]/],
  ["swallowInvalidOptions", "error-state", /generate with withTopP\(2\) yielded more than 8 tokens; an invalid option must fail first/],
  ["throwSynchronously", "error-state", /generate threw synchronously \(InferenceError \[invalid_argument\]/],
  ["wrongMetrics", "metrics", /metrics\(\)\.generatedTokens is 9, but the stream yielded 8 tokens/],
  ["classifyDropsLast", "classify", /classify gave 2 results for 3 prompts/],
  ["classifyThrows", "classify", /classify threw Error "classify exploded"; it must answer with a Result/],
  ["classifyUnsupported", "classify", /classify failed: InferenceError \[unsupported\]/],
  ["batchIgnoresMaxTokens", "batch-generate", /prompt 0 yielded 12 tokens, more than 4/],
  ["emptyModelType", "info", /modelType\(\) must be a non-empty string, got ""/],
  ["closeFailsTwice", "close", /a second close\(\) failed: InferenceError \[closed\]/],
  ["usableAfterClose", "close", /classify after close\(\) succeeded; expected a failed Result with code "closed"/],
  ["disposeDoesNotClose", "async-dispose", /generate after await using yielded 8 tokens; it must fail with closed/],
  ["logitsMismatch", "logits", /token 0 is id \d+ \(logit .*\) but the argmax is id \d+/],
  ["silentlyIgnoreLogits", "logits", /token 0 \(id \d+\) has no logits although probe.logits is claimed/],
  ["logitsUnsupported", "logits", /greedy generate with withLogits\(\) failed: InferenceError \[unsupported\]/],
  ["greedyVaries", "determinism-greedy", /greedy generate \(withTemperature\(0\)\) differed between two runs: \[[\d,]+\] then \[[\d,]+\]/],
  ["seedIgnored", "determinism-seeded", /withSeed\(1234\), withTemperature\(0.8\) differed between two runs/],
  ["noProbeEvents", "probe-events", /emitted no decode token events \(saw 0 events\)/],
];

describe("the kit catches a broken backend", () => {
  it.each(cases)("fault %s fails check %s", async (fault, check, message) => {
    const load = scriptedLoader({ faults: { [fault]: true } });
    const failure = await runContractCheck(check, { name: "faulty", load }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(ContractViolation);
    const violation = failure as ContractViolation;
    expect(violation.check).toBe(check);
    expect(violation.suite).toBe("faulty");
    expect(violation.message).toMatch(new RegExp(`^faulty contract, check ${check}: `));
    expect(violation.detail).toMatch(message);
  });

  it("every check passes against the healthy scripted model", async () => {
    const load = scriptedLoader();
    for (const check of contractChecks) {
      await expect(runContractCheck(check.id, { name: "healthy", load }), check.id).resolves.toEqual({ status: "passed" });
    }
  });

  it("a claimed capability with no exerciser fails the coverage check, naming it", async () => {
    const load = scriptedLoader({
      capabilities: [...DEFAULT_CAPABILITIES, supportedCapability("kv.snapshot", "runtime"), supportedCapability("lora.inference", "model")],
    });
    await expect(runContractCheck("capability-coverage", { name: "claims", load })).rejects.toThrow(
      'claims contract, check capability-coverage: claimed capabilities with no exerciser: "kv.snapshot", "lora.inference"; add options.exercisers[id] for each',
    );
  });

  it("a skipped check that exercises a claimed capability fails the coverage check", async () => {
    const load = scriptedLoader();
    await expect(
      runContractCheck("capability-coverage", { name: "skipper", load, skip: { abort: "too slow" } }),
    ).rejects.toThrow(
      'skipper contract, check capability-coverage: claimed capabilities are never skipped: check abort (skipped: too slow) exercises "request.cancel"',
    );
  });

  it("a claimed capability needs a running check: skipping every one that covers it leaves it missing", async () => {
    const load = scriptedLoader({ capabilities: [supportedCapability("classify", "model")] });
    await expect(
      runContractCheck("capability-coverage", { name: "skipper", load, skip: { classify: "no reason is enough" } }),
    ).rejects.toThrow(/check classify \(skipped: no reason is enough\) exercises "classify"/);
  });

  it("an early EOS makes the abort check fail with advice instead of passing vacuously", async () => {
    const load = scriptedLoader();
    await expect(runContractCheck("abort", { name: "short", load, prompt: "<short> hi" })).rejects.toThrow(
      "short contract, check abort: generate with withMaxTokens(8) yielded 1 tokens; this check needs at least 3 " +
        "(set options.prompt or options.generateOptions to avoid an early EOS)",
    );
  });

  it("a prompt that yields nothing fails generate-bounded", async () => {
    const load = scriptedLoader();
    await expect(
      runContractCheck("generate-bounded", { name: "mute", load, prompt: "hi", generateOptions: [{ stopTokens: [...Array(24).keys()] }] }),
    ).rejects.toThrow("mute contract, check generate-bounded: generate with withMaxTokens(8) yielded no tokens; the prompt must produce at least one");
  });
});
