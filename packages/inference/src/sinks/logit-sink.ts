/**
 * The logit sink: hands the logits summary of every `logits` probe event to a callback (an eval harness, a live
 * view of what the model considered). Other events are ignored.
 *
 * This sink does not compute logits; the backend emits `logits` events when a probe bus is attached.
 */
import { InferenceError } from "../errors.js";
import type { ProbeLogits, ProbeLogitsEvent, ProbeSink } from "../probe.js";

/** Receives one logits summary; `event` carries its phase, step and labels. */
export type LogitCallback = (logits: ProbeLogits, event: ProbeLogitsEvent) => void;

/**
 * A sink that calls `callback` with each logits event's payload, in order. Throws `invalid_argument` when
 * `callback` is not a function (at construction, not on the generating path).
 *
 * @example
 * const tops: number[] = [];
 * const bus = newProbeBus(newLogitSink((l) => tops.push(l.top[0]?.id ?? -1)));
 */
export function newLogitSink(callback: LogitCallback): ProbeSink {
  if (typeof callback !== "function") {
    throw new InferenceError({ code: "invalid_argument", op: "inference.newLogitSink", message: "callback must be a function" });
  }
  return {
    emitProbe(event) {
      if (event.kind === "logits") callback(event.logits, event);
    },
  };
}
