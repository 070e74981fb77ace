/**
 * Probe events and the probe bus: token-by-token introspection of a generation (tokens, logit summaries, entropy,
 * cache and memory pressure, training steps, scheduler events) delivered to any number of sinks.
 *
 * What a backend emits, when a bus is given at load time (`withProbeBus`): one `token` event per emitted token in
 * phase `decode`; a `logits` summary per token when it computes one; optionally a `scheduler` event `started` before
 * prefill and `finished` / `cancelled` / `failed` after the last token (the telemetry sink uses them for time to first
 * token and to close a generation).
 *
 * This file is not where events are produced (backends) or consumed (sinks in `sinks/`, and consumer code).
 */

export type ProbeEventKind =
  | "token"
  | "logits"
  | "entropy"
  | "cache_pressure"
  | "memory_pressure"
  | "training"
  | "scheduler";

export type ProbePhase = "prefill" | "decode" | "training" | "queue";

/** Fields every event has. `step` is the decode step (0-based) or the training step. */
export interface ProbeEventBase {
  readonly phase: ProbePhase;
  readonly step: number;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ProbeToken {
  readonly id: number;
  readonly text: string;
  /** Tokens of the prompt of this generation. */
  readonly promptTokens: number;
  /** Tokens generated so far, this one included (1 for the first token). */
  readonly generatedTokens: number;
}

export interface ProbeLogit {
  readonly id: number;
  readonly text?: string;
  readonly value: number;
}

/** A summary of one position's logits; `values` (vocabulary-sized) only when the emitter chose to include them. */
export interface ProbeLogits {
  readonly vocabularySize: number;
  /** The highest logits, best first. */
  readonly top: readonly ProbeLogit[];
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly values?: Float32Array;
}

export interface ProbeEntropy {
  readonly value: number;
  readonly unit: "nats" | "bits";
}

export interface ProbeCachePressure {
  readonly promptTokens: number;
  readonly generatedTokens: number;
  readonly cachedTokens: number;
  readonly capacityTokens: number;
  /** Fraction of prompt tokens served from a cache, in [0, 1], when known. */
  readonly hitRate?: number;
}

/** Bytes; 0 where the backend cannot measure it. */
export interface ProbeMemoryPressure {
  readonly activeBytes: number;
  readonly peakBytes: number;
  readonly limitBytes: number;
}

export interface ProbeTraining {
  readonly epoch: number;
  readonly step: number;
  readonly loss: number;
  readonly learningRate: number;
  readonly tokensPerSec?: number;
}

/** What happened to a request. Backends may send other strings; sinks ignore what they do not know. */
export type ProbeSchedulerEventName = "queued" | "started" | "finished" | "cancelled" | "failed" | (string & {});

export interface ProbeScheduler {
  readonly requestId: string;
  readonly event: ProbeSchedulerEventName;
  readonly queueDepth: number;
  readonly queueLatencyMs?: number;
  readonly firstTokenLatencyMs?: number;
  readonly totalLatencyMs?: number;
  readonly cancelled?: boolean;
}

export interface ProbeTokenEvent extends ProbeEventBase { readonly kind: "token"; readonly token: ProbeToken }
export interface ProbeLogitsEvent extends ProbeEventBase { readonly kind: "logits"; readonly logits: ProbeLogits }
export interface ProbeEntropyEvent extends ProbeEventBase { readonly kind: "entropy"; readonly entropy: ProbeEntropy }
export interface ProbeCachePressureEvent extends ProbeEventBase {
  readonly kind: "cache_pressure";
  readonly cache: ProbeCachePressure;
}
export interface ProbeMemoryPressureEvent extends ProbeEventBase {
  readonly kind: "memory_pressure";
  readonly memory: ProbeMemoryPressure;
}
export interface ProbeTrainingEvent extends ProbeEventBase { readonly kind: "training"; readonly training: ProbeTraining }
export interface ProbeSchedulerEvent extends ProbeEventBase {
  readonly kind: "scheduler";
  readonly scheduler: ProbeScheduler;
}

/** One probe event, discriminated on `kind`; the payload field is named after it. */
export type ProbeEvent =
  | ProbeTokenEvent
  | ProbeLogitsEvent
  | ProbeEntropyEvent
  | ProbeCachePressureEvent
  | ProbeMemoryPressureEvent
  | ProbeTrainingEvent
  | ProbeSchedulerEvent;

/** Anything that receives probe events. Called synchronously on the generating path: keep it cheap. */
export interface ProbeSink {
  emitProbe(event: ProbeEvent): void;
}

/**
 * A sink from a function. A null or undefined function gives a sink that does nothing (Go's nil `ProbeSinkFunc`).
 *
 * @example
 * const sink = probeSinkFunc((e) => { if (e.kind === "token") process.stdout.write(e.token.text); });
 */
export function probeSinkFunc(fn: ((event: ProbeEvent) => void) | null | undefined): ProbeSink {
  return { emitProbe: (event) => { if (fn) fn(event); } };
}

/** Called when a sink throws; see `ProbeBus.onSinkError`. */
export type ProbeSinkErrorHandler = (error: unknown, sink: ProbeSink, event: ProbeEvent) => void;

/** Buses nested deeper than this (a bus that contains itself) stop delivering and report a sink error. */
const MAX_BUS_NESTING = 16;

/**
 * Fans events out to its sinks, synchronously, in registration order. A bus is itself a sink, so buses compose.
 *
 * A sink that throws never breaks delivery to the others nor the caller (the generating backend): the error is
 * counted in `sinkErrors` and handed to `onSinkError` when set (an `onSinkError` that throws is ignored). Sinks added
 * while an event is being delivered receive the next event, not the current one.
 *
 * @example
 * const bus = newProbeBus(newTelemetrySink(core));
 * bus.onSinkError = (err) => console.warn("probe sink failed", err);
 */
export class ProbeBus implements ProbeSink {
  /** Hook for sink failures. Default: none (errors are only counted). */
  onSinkError: ProbeSinkErrorHandler | undefined;
  #sinks: ProbeSink[] = [];
  #sinkErrors = 0;
  #depth = 0;

  constructor(sinks: Iterable<ProbeSink | null | undefined> = [], onSinkError?: ProbeSinkErrorHandler) {
    for (const s of sinks) this.add(s);
    this.onSinkError = onSinkError;
  }

  /** Adds a sink at the end. null and undefined are ignored. */
  add(sink: ProbeSink | null | undefined): void {
    if (sink === null || sink === undefined) return;
    this.#sinks.push(sink);
  }

  /** Removes the first registration of `sink`; true when it was there. */
  remove(sink: ProbeSink): boolean {
    const i = this.#sinks.indexOf(sink);
    if (i < 0) return false;
    this.#sinks.splice(i, 1);
    return true;
  }

  /** Number of registered sinks. */
  get size(): number {
    return this.#sinks.length;
  }

  /** How many times a sink has thrown since the bus was made. */
  get sinkErrors(): number {
    return this.#sinkErrors;
  }

  emitProbe(event: ProbeEvent): void {
    if (this.#depth >= MAX_BUS_NESTING) {
      this.#report(new Error(`probe bus nested deeper than ${MAX_BUS_NESTING} levels (does a bus contain itself?)`), this, event);
      return;
    }
    const sinks = this.#sinks.slice();
    this.#depth++;
    try {
      for (const sink of sinks) {
        try {
          sink.emitProbe(event);
        } catch (e) {
          this.#report(e, sink, event);
        }
      }
    } finally {
      this.#depth--;
    }
  }

  #report(error: unknown, sink: ProbeSink, event: ProbeEvent): void {
    this.#sinkErrors++;
    const hook = this.onSinkError;
    if (!hook) return;
    try {
      hook(error, sink, event);
    } catch {
      // The hook is diagnostics; its own failure must not reach the generating backend either.
    }
  }
}

/**
 * A bus over these sinks; null and undefined entries are dropped.
 *
 * @example
 * const bus = newProbeBus(newTelemetrySink(core), newLogitSink((l) => tops.push(l.top[0])));
 */
export function newProbeBus(...sinks: (ProbeSink | null | undefined)[]): ProbeBus {
  return new ProbeBus(sinks);
}

/** True for objects with an `emitProbe` method. */
export function isProbeSink(value: unknown): value is ProbeSink {
  return typeof value === "object" && value !== null && typeof (value as ProbeSink).emitProbe === "function";
}
