// The probe bus: func sinks, nil handling, ordered synchronous delivery, isolation of throwing sinks, composition.
import { describe, expect, it } from "vitest";
import { isProbeSink, newProbeBus, ProbeBus, probeSinkFunc, type ProbeEvent, type ProbeSink } from "@dappcore/inference";

const tokenEvent = (n: number): ProbeEvent => ({
  kind: "token", phase: "decode", step: n, token: { id: n, text: String(n), promptTokens: 3, generatedTokens: n + 1 },
});

describe("probe sinks and bus", () => {
  it("a func sink receives the event; a null func is a no-op sink", () => {
    const got: ProbeEvent[] = [];
    probeSinkFunc((e) => got.push(e)).emitProbe(tokenEvent(0));
    expect(got).toEqual([tokenEvent(0)]);
    expect(() => probeSinkFunc(null).emitProbe(tokenEvent(0))).not.toThrow();
    expect(() => probeSinkFunc(undefined).emitProbe(tokenEvent(0))).not.toThrow();
  });

  it("drops null sinks at construction and on add", () => {
    const bus = newProbeBus(null, probeSinkFunc(() => {}), undefined);
    expect(bus.size).toBe(1);
    bus.add(null);
    bus.add(undefined);
    expect(bus.size).toBe(1);
  });

  it("delivers each event once to each sink, synchronously, in registration order", () => {
    const order: string[] = [];
    const bus = newProbeBus(probeSinkFunc(() => order.push("a")), probeSinkFunc(() => order.push("b")));
    bus.add(probeSinkFunc(() => order.push("c")));
    bus.emitProbe(tokenEvent(0));
    expect(order).toEqual(["a", "b", "c"]);
  });

  it("a sink that throws breaks neither the others nor the caller; errors are counted and reported", () => {
    const seen: string[] = [];
    const reported: unknown[] = [];
    const bad: ProbeSink = { emitProbe: () => { throw new Error("sink broke"); } };
    const bus = newProbeBus(bad, probeSinkFunc(() => seen.push("after")));
    expect(() => bus.emitProbe(tokenEvent(0))).not.toThrow();
    expect(seen).toEqual(["after"]);
    expect(bus.sinkErrors).toBe(1);
    bus.onSinkError = (err, sink, event) => reported.push([(err as Error).message, sink === bad, event.step]);
    bus.emitProbe(tokenEvent(1));
    expect(reported).toEqual([["sink broke", true, 1]]);
    bus.onSinkError = () => { throw new Error("hook broke too"); };
    expect(() => bus.emitProbe(tokenEvent(2))).not.toThrow();
    expect(bus.sinkErrors).toBe(3);
    expect(seen).toEqual(["after", "after", "after"]);
  });

  it("buses compose; a bus that contains itself stops and reports instead of overflowing", () => {
    const got: number[] = [];
    const inner = newProbeBus(probeSinkFunc((e) => got.push(e.step)));
    const outer = newProbeBus(inner);
    outer.emitProbe(tokenEvent(4));
    expect(got).toEqual([4]);
    const reported: string[] = [];
    const loop = new ProbeBus([], (err) => reported.push((err as Error).message));
    loop.add(loop);
    expect(() => loop.emitProbe(tokenEvent(0))).not.toThrow();
    expect(reported).toEqual(["probe bus nested deeper than 16 levels (does a bus contain itself?)"]);
  });

  it("sinks added during delivery get the next event; remove works", () => {
    const got: string[] = [];
    const late = probeSinkFunc(() => got.push("late"));
    const bus = newProbeBus(probeSinkFunc(() => { if (bus.size === 1) bus.add(late); got.push("first"); }));
    bus.emitProbe(tokenEvent(0));
    expect(got).toEqual(["first"]);
    bus.emitProbe(tokenEvent(1));
    expect(got).toEqual(["first", "first", "late"]);
    expect(bus.remove(late)).toBe(true);
    expect(bus.remove(late)).toBe(false);
    expect(bus.size).toBe(1);
  });

  it("narrows events on kind", () => {
    const texts: string[] = [];
    const sink = probeSinkFunc((e) => {
      if (e.kind === "token") texts.push(e.token.text);
      else if (e.kind === "logits") texts.push(`max=${e.logits.max}`);
      else if (e.kind === "entropy") texts.push(`${e.entropy.value}${e.entropy.unit}`);
    });
    sink.emitProbe(tokenEvent(7));
    sink.emitProbe({ kind: "logits", phase: "decode", step: 0, logits: { vocabularySize: 3, top: [{ id: 2, value: 5 }], min: 0, max: 5, mean: 2 } });
    sink.emitProbe({ kind: "entropy", phase: "decode", step: 0, entropy: { value: 1.5, unit: "nats" } });
    expect(texts).toEqual(["7", "max=5", "1.5nats"]);
    expect(isProbeSink(sink)).toBe(true);
    expect(isProbeSink({})).toBe(false);
    expect(isProbeSink(null)).toBe(false);
  });
});
