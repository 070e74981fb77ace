/**
 * The telemetry sink: turns probe events into per-generation numbers (time to first token, decode tokens/s, prompt
 * and generated token counts) and, when given a Core, broadcasts each finished generation into it as a message
 * `{ type: "inference.telemetry", generation }` that any `core.onMessage` subscriber receives.
 *
 * How it reads the stream of events:
 * - a generation **starts** at a `scheduler` event `started`, or at any `prefill`-phase event, seen before its first
 *   token; without one, it starts at its first token and `timeToFirstTokenMs` is undefined;
 * - `token` events update the counts; a token whose `generatedTokens` does not exceed the current count begins a new
 *   generation (the counter restarted), finishing the previous one;
 * - a generation **finishes** at a `scheduler` event `finished`, `cancelled` or `failed`, when the next generation
 *   starts, or when `finish()` is called.
 *
 * This sink measures what the events say; it does not time the backend itself, and it never throws into the bus.
 */
import { InferenceError } from "../errors.js";
import type { ProbeEvent, ProbeSink } from "../probe.js";

/** The `type` of the messages the sink broadcasts into a Core. */
export const TELEMETRY_MESSAGE_TYPE = "inference.telemetry";

export type GenerationOutcome = "running" | "finished" | "cancelled" | "failed";

/** One generation as the sink saw it. Times are the injected clock's milliseconds. */
export interface GenerationTelemetry {
  /** 0-based order of this generation among those the sink has seen. */
  readonly index: number;
  /** From the `scheduler` events, when the backend sends them. */
  readonly requestId: string | undefined;
  readonly promptTokens: number;
  readonly generatedTokens: number;
  readonly startedAtMs: number;
  readonly firstTokenAtMs: number | undefined;
  readonly lastTokenAtMs: number | undefined;
  /** First token minus start; undefined when no start signal came before the first token. */
  readonly timeToFirstTokenMs: number | undefined;
  /** Decode rate: tokens after the first per second between first and last token; 0 with fewer than 2 tokens. */
  readonly tokensPerSec: number;
  readonly outcome: GenerationOutcome;
}

/** The message a Core receives for each finished generation. */
export interface TelemetryMessage {
  readonly type: typeof TELEMETRY_MESSAGE_TYPE;
  readonly generation: GenerationTelemetry;
}

/** Totals over finished generations, plus the running one. */
export interface TelemetrySnapshot {
  readonly generations: number;
  readonly promptTokens: number;
  readonly generatedTokens: number;
  /** Mean over finished generations that have one; undefined when none has. */
  readonly meanTimeToFirstTokenMs: number | undefined;
  /** Mean over finished generations with at least 2 tokens; undefined when none has. */
  readonly meanTokensPerSec: number | undefined;
  readonly current: GenerationTelemetry | undefined;
  readonly last: GenerationTelemetry | undefined;
}

/** What `newTelemetrySink` returns: a probe sink with a readable state. */
export interface TelemetrySink extends ProbeSink {
  snapshot(): TelemetrySnapshot;
  /** Finishes the running generation (if any) as `finished` and reports it. */
  finish(): void;
}

/** Anything with a `broadcast(message)`: a `Core`, or a stand-in. */
export interface TelemetryTarget {
  broadcast(message: unknown): unknown;
}

export interface TelemetrySinkOptions {
  /**
   * Milliseconds now. Default: `performance.now()`. Inject one in tests.
   * @example newTelemetrySink(core, { clock: () => fakeNow })
   */
  clock?: () => number;
}

interface Draft {
  index: number;
  requestId: string | undefined;
  promptTokens: number;
  generatedTokens: number;
  startedAtMs: number;
  startSignalled: boolean;
  firstTokenAtMs: number | undefined;
  lastTokenAtMs: number | undefined;
}

/**
 * A telemetry sink; with a Core (or any `broadcast` target) it reports each finished generation there.
 * Throws `invalid_argument` at construction when `core` has no `broadcast` method or `clock` is not a function.
 *
 * @example
 * const telemetry = newTelemetrySink(core);
 * const r = await loadModel(path, withProbeBus(newProbeBus(telemetry)));
 * // ... generate ..., then:
 * console.log(telemetry.snapshot().meanTokensPerSec);
 */
export function newTelemetrySink(core?: TelemetryTarget | null, options: TelemetrySinkOptions = {}): TelemetrySink {
  const op = "inference.newTelemetrySink";
  if (core !== undefined && core !== null && typeof core.broadcast !== "function") {
    throw new InferenceError({ code: "invalid_argument", op, message: "core must have a broadcast(message) method" });
  }
  if (options.clock !== undefined && typeof options.clock !== "function") {
    throw new InferenceError({ code: "invalid_argument", op, message: "clock must be a function returning milliseconds" });
  }
  const clock = options.clock ?? (() => performance.now());

  let current: Draft | undefined;
  let pendingStart: number | undefined;
  let pendingRequestId: string | undefined;
  let count = 0;
  let last: GenerationTelemetry | undefined;
  const totals = { generations: 0, promptTokens: 0, generatedTokens: 0, ttftSum: 0, ttftN: 0, tpsSum: 0, tpsN: 0 };

  const view = (d: Draft, outcome: GenerationOutcome): GenerationTelemetry => {
    const first = d.firstTokenAtMs;
    const lastAt = d.lastTokenAtMs;
    const span = first !== undefined && lastAt !== undefined ? lastAt - first : 0;
    return {
      index: d.index,
      requestId: d.requestId,
      promptTokens: d.promptTokens,
      generatedTokens: d.generatedTokens,
      startedAtMs: d.startedAtMs,
      firstTokenAtMs: first,
      lastTokenAtMs: lastAt,
      timeToFirstTokenMs: d.startSignalled && first !== undefined ? first - d.startedAtMs : undefined,
      tokensPerSec: d.generatedTokens >= 2 && span > 0 ? ((d.generatedTokens - 1) * 1000) / span : 0,
      outcome,
    };
  };

  const close = (outcome: Exclude<GenerationOutcome, "running">): void => {
    if (current === undefined) return;
    const g = view(current, outcome);
    current = undefined;
    last = g;
    totals.generations++;
    totals.promptTokens += g.promptTokens;
    totals.generatedTokens += g.generatedTokens;
    if (g.timeToFirstTokenMs !== undefined) { totals.ttftSum += g.timeToFirstTokenMs; totals.ttftN++; }
    if (g.generatedTokens >= 2 && g.tokensPerSec > 0) { totals.tpsSum += g.tokensPerSec; totals.tpsN++; }
    if (core) {
      try {
        core.broadcast({ type: TELEMETRY_MESSAGE_TYPE, generation: g } satisfies TelemetryMessage);
      } catch {
        // A failing subscriber must not turn into a failing generation.
      }
    }
  };

  const open = (now: number, signalled: boolean): Draft => {
    const d: Draft = {
      index: count++,
      requestId: pendingRequestId,
      promptTokens: 0,
      generatedTokens: 0,
      startedAtMs: signalled && pendingStart !== undefined ? pendingStart : now,
      startSignalled: signalled,
      firstTokenAtMs: undefined,
      lastTokenAtMs: undefined,
    };
    pendingStart = undefined;
    pendingRequestId = undefined;
    current = d;
    return d;
  };

  const signalStart = (now: number, requestId: string | undefined): void => {
    if (current !== undefined && current.generatedTokens > 0) close("finished");
    if (current === undefined) {
      pendingStart ??= now;
      pendingRequestId ??= requestId;
    }
  };

  return {
    emitProbe(event: ProbeEvent): void {
      const now = clock();
      if (event.kind === "token") {
        const t = event.token;
        if (current !== undefined && t.generatedTokens <= current.generatedTokens) close("finished");
        const d = current ?? open(now, pendingStart !== undefined);
        if (d.firstTokenAtMs === undefined) d.firstTokenAtMs = now;
        d.lastTokenAtMs = now;
        d.generatedTokens = t.generatedTokens;
        d.promptTokens = t.promptTokens;
        return;
      }
      if (event.kind === "scheduler") {
        const s = event.scheduler;
        if (s.event === "started") {
          signalStart(now, s.requestId);
        } else if (s.event === "finished" || s.event === "cancelled" || s.event === "failed") {
          if (current === undefined && pendingStart !== undefined) open(now, true).requestId ??= s.requestId;
          if (current !== undefined) current.requestId ??= s.requestId;
          close(s.event as "finished" | "cancelled" | "failed");
        }
        return;
      }
      if (event.phase === "prefill") signalStart(now, undefined);
    },
    finish(): void {
      close("finished");
    },
    snapshot(): TelemetrySnapshot {
      return {
        generations: totals.generations,
        promptTokens: totals.promptTokens,
        generatedTokens: totals.generatedTokens,
        meanTimeToFirstTokenMs: totals.ttftN > 0 ? totals.ttftSum / totals.ttftN : undefined,
        meanTokensPerSec: totals.tpsN > 0 ? totals.tpsSum / totals.tpsN : undefined,
        current: current === undefined ? undefined : view(current, "running"),
        last,
      };
    },
  };
}
