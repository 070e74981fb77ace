/**
 * The check of probe events: when `probe.events` is claimed, a model loaded with `withProbeBus(bus)` emits one
 * `token` event (phase `decode`) per emitted token, with the same id and text, and a sink that throws does not break
 * generation. The bus itself is tested in @dappcore/inference; this checks only what a backend emits.
 */
import { type ProbeEvent, newProbeBus, probeSinkFunc, withMaxTokens, withProbeBus } from "@dappcore/inference";
import { type ContractCheck, PASSED, notApplicable } from "../contract-check.js";

export const probeEventsCheck: ContractCheck = {
  id: "probe-events",
  title: "a model loaded withProbeBus emits one decode token event per emitted token",
  exercises: ["probe.events"],
  run: async (ctx) => {
    const events: ProbeEvent[] = [];
    const bus = newProbeBus(
      probeSinkFunc(() => {
        throw new Error("a probe sink that always fails");
      }),
      probeSinkFunc((event) => events.push(event)),
    );
    return ctx.withModel(async (model) => {
      if (!ctx.claimed(model).has("probe.events")) return notApplicable("probe.events is not claimed");
      const n = ctx.options.maxTokens;
      const what = "generate on a model loaded withProbeBus (one of whose sinks throws)";
      const run = await ctx.drain("generate", () => model.generate(ctx.options.prompt, ...ctx.opts(withMaxTokens(n))), n);
      ctx.expectClean(what, run, n);
      const tokenEvents = events.filter((e) => e.kind === "token" && e.phase === "decode");
      if (tokenEvents.length === 0) {
        ctx.fail(`${what} emitted no decode token events (saw ${events.length} events); does load forward its options?`);
      }
      if (tokenEvents.length !== run.tokens.length) {
        ctx.fail(`${what} emitted ${tokenEvents.length} decode token events for ${run.tokens.length} tokens`);
      }
      tokenEvents.forEach((event, i) => {
        const token = event.kind === "token" ? event.token : undefined;
        const expected = run.tokens[i];
        if (token === undefined || token.id !== expected.id || token.text !== expected.text) {
          return ctx.fail(
            `${what}: token event ${i} carries ${JSON.stringify(token)}, but the stream yielded ` +
              `${JSON.stringify({ id: expected.id, text: expected.text })}`,
          );
        }
        if (token.generatedTokens !== i + 1) {
          ctx.fail(`${what}: token event ${i} says generatedTokens ${token.generatedTokens}, expected ${i + 1}`);
        }
      });
      return PASSED;
    }, withProbeBus(bus));
  },
};
