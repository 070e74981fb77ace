// The ready sinks: telemetry (time to first token, tokens/s, counts, reports into a Core) and the logit sink.
import { describe, expect, it } from "vitest";
import {
  Core,
  newLogitSink,
  newProbeBus,
  newTelemetrySink,
  TELEMETRY_MESSAGE_TYPE,
  type ProbeEvent,
  type ProbeLogits,
  type TelemetryMessage,
} from "@dappcore/inference";

const token = (n: number, promptTokens = 4): ProbeEvent => ({
  kind: "token", phase: "decode", step: n - 1, token: { id: n, text: `t${n}`, promptTokens, generatedTokens: n },
});
const scheduler = (event: string, requestId = "r1"): ProbeEvent => ({
  kind: "scheduler", phase: "queue", step: 0, scheduler: { requestId, event, queueDepth: 0 },
});

function clocked() {
  let now = 0;
  return { clock: () => now, at: (t: number) => { now = t; } };
}

describe("newTelemetrySink", () => {
  it("measures time to first token, tokens/s and counts, and reports into a Core", () => {
    const core = new Core();
    const messages: unknown[] = [];
    core.onMessage((m) => messages.push(m));
    const c = clocked();
    const sink = newTelemetrySink(core, { clock: c.clock });
    c.at(100); sink.emitProbe(scheduler("started"));
    c.at(150); sink.emitProbe(token(1));
    c.at(160); sink.emitProbe(token(2));
    c.at(170); sink.emitProbe(token(3));
    expect(sink.snapshot().current).toMatchObject({ generatedTokens: 3, outcome: "running", timeToFirstTokenMs: 50 });
    expect(messages).toEqual([]);
    c.at(175); sink.emitProbe(scheduler("finished"));
    const g = {
      index: 0, requestId: "r1", promptTokens: 4, generatedTokens: 3, startedAtMs: 100, firstTokenAtMs: 150,
      lastTokenAtMs: 170, timeToFirstTokenMs: 50, tokensPerSec: 100, outcome: "finished" as const,
    };
    expect(messages).toEqual([{ type: TELEMETRY_MESSAGE_TYPE, generation: g } satisfies TelemetryMessage]);
    expect(sink.snapshot()).toEqual({
      generations: 1, promptTokens: 4, generatedTokens: 3, meanTimeToFirstTokenMs: 50, meanTokensPerSec: 100,
      current: undefined, last: g,
    });
  });

  it("starts at a prefill event, splits generations when the counter restarts, and finishes on finish()", () => {
    const c = clocked();
    const sink = newTelemetrySink(undefined, { clock: c.clock });
    c.at(0); sink.emitProbe({ kind: "cache_pressure", phase: "prefill", step: 0, cache: { promptTokens: 2, generatedTokens: 0, cachedTokens: 0, capacityTokens: 64 } });
    c.at(20); sink.emitProbe(token(1, 2));
    c.at(40); sink.emitProbe(token(2, 2));
    // A new generation without a start signal: TTFT unknown.
    c.at(100); sink.emitProbe(token(1, 5));
    let s = sink.snapshot();
    expect(s.generations).toBe(1);
    expect(s.last).toMatchObject({ index: 0, timeToFirstTokenMs: 20, tokensPerSec: 50, generatedTokens: 2, requestId: undefined });
    expect(s.current).toMatchObject({ index: 1, timeToFirstTokenMs: undefined, tokensPerSec: 0, startedAtMs: 100 });
    sink.finish();
    sink.finish();
    s = sink.snapshot();
    expect(s.generations).toBe(2);
    expect(s).toMatchObject({ promptTokens: 7, generatedTokens: 3, meanTimeToFirstTokenMs: 20, meanTokensPerSec: 50, current: undefined });
  });

  it("records cancelled and failed outcomes, including a failure before any token", () => {
    const c = clocked();
    const sink = newTelemetrySink(null, { clock: c.clock });
    sink.emitProbe(scheduler("started", "a"));
    sink.emitProbe(token(1));
    sink.emitProbe(scheduler("cancelled", "a"));
    expect(sink.snapshot().last).toMatchObject({ outcome: "cancelled", requestId: "a", generatedTokens: 1 });
    c.at(5); sink.emitProbe(scheduler("started", "b"));
    c.at(9); sink.emitProbe(scheduler("failed", "b"));
    expect(sink.snapshot().last).toMatchObject({ outcome: "failed", requestId: "b", generatedTokens: 0, startedAtMs: 5 });
    sink.emitProbe(scheduler("finished", "c"));
    sink.emitProbe(scheduler("queued", "d"));
    expect(sink.snapshot().generations).toBe(2);
  });

  it("a started signal after tokens finishes the running generation", () => {
    const sink = newTelemetrySink();
    sink.emitProbe(token(1));
    sink.emitProbe(scheduler("started", "next"));
    expect(sink.snapshot()).toMatchObject({ generations: 1, current: undefined });
    sink.emitProbe(token(1));
    expect(sink.snapshot().current).toMatchObject({ requestId: "next", index: 1 });
    expect(sink.snapshot().current!.timeToFirstTokenMs).toBeGreaterThanOrEqual(0);
  });

  it("a throwing Core subscriber does not break the bus or generation", () => {
    const core = new Core();
    core.onMessage(() => { throw new Error("subscriber broke"); });
    const sink = newTelemetrySink(core);
    const bus = newProbeBus(sink);
    bus.emitProbe(token(1));
    expect(() => sink.finish()).not.toThrow();
    expect(bus.sinkErrors).toBe(0);
    expect(sink.snapshot().generations).toBe(1);
  });

  it("rejects a target without broadcast and a non-function clock", () => {
    expect(() => newTelemetrySink({} as Core)).toThrowError(expect.objectContaining({
      code: "invalid_argument", message: "inference.newTelemetrySink: core must have a broadcast(message) method",
    }));
    expect(() => newTelemetrySink(undefined, { clock: 5 as never })).toThrowError(expect.objectContaining({
      code: "invalid_argument", message: "inference.newTelemetrySink: clock must be a function returning milliseconds",
    }));
  });
});

describe("newLogitSink", () => {
  it("hands each logits payload to the callback and ignores other events", () => {
    const got: ProbeLogits[] = [];
    const sink = newLogitSink((l, e) => { got.push(l); expect(e.kind).toBe("logits"); });
    const logits: ProbeLogits = { vocabularySize: 4, top: [{ id: 1, value: 3 }], min: -1, max: 3, mean: 0.5, values: new Float32Array([0, 3, -1, 0]) };
    sink.emitProbe(token(1));
    sink.emitProbe({ kind: "logits", phase: "decode", step: 0, logits });
    expect(got).toEqual([logits]);
    expect(got[0]).toBe(logits);
  });

  it("rejects a callback that is not a function", () => {
    expect(() => newLogitSink(undefined as never)).toThrowError(expect.objectContaining({
      code: "invalid_argument", message: "inference.newLogitSink: callback must be a function",
    }));
  });
});
