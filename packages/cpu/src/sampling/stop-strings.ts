/**
 * Streaming stop strings: decoded text goes in piece by piece (one token's text at a time), and what is certainly not
 * part of a stop string comes out. Text that could still be the start of a stop string is held back until the next
 * pieces resolve it, so a stop string spread over many tokens is never half-emitted. When a stop string completes,
 * everything before it is emitted and nothing after it.
 *
 * The stop is the first stop string to complete in the text, whatever the piece boundaries are (the earliest end; at
 * the same end the longer string, which starts earlier): feeding the text whole or a character at a time gives the
 * same output. Not here: stop token ids (the decode loop compares ids) and detokenisation.
 */
import { InferenceError } from "@dappcore/inference";

/** What one `push` releases. */
export interface StopPush {
  /** Text now safe to show; may be empty while a possible stop string is pending. */
  readonly emit: string;
  /** True once a stop string has completed; later pushes emit nothing. */
  readonly stopped: boolean;
}

/** A matcher for one generation. */
export interface StopMatcher {
  /** Adds the next piece of text. */
  push(text: string): StopPush;
  /** The end of the stream without a stop: releases the text still held back (empty once stopped). */
  flush(): string;
  /** Whether a stop string has completed. */
  readonly stopped: boolean;
  /** The stop string that completed, or `undefined`. */
  readonly matched: string | undefined;
}

/**
 * A matcher for `stops` (non-empty strings; an empty list passes all text straight through).
 *
 * @example
 * const m = createStopMatcher(["\n\nUser:"]);
 * m.push("Hi!\n"); // { emit: "Hi!", stopped: false }: "\n" may start the stop string
 * m.push("\nUser:"); // { emit: "", stopped: true }
 */
export function createStopMatcher(stops: readonly string[]): StopMatcher {
  if (!Array.isArray(stops)) {
    throw new InferenceError({
      code: "invalid_argument",
      op: "cpu.createStopMatcher",
      message: "stops must be an array of strings",
      details: { option: "stop" },
    });
  }
  stops.forEach((s, i) => {
    if (typeof s !== "string" || s.length === 0) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "cpu.createStopMatcher",
        message: `stop strings must be non-empty strings, got ${typeof s === "string" ? '""' : typeof s} at index ${i}`,
        details: { option: "stop", index: i },
      });
    }
  });
  const list = [...stops];
  let held = "";
  let matched: string | undefined;

  return {
    get stopped() {
      return matched !== undefined;
    },
    get matched() {
      return matched;
    },
    push(text: string): StopPush {
      if (typeof text !== "string") {
        throw new InferenceError({
          code: "invalid_argument",
          op: "cpu.stopMatcher.push",
          message: `text must be a string, got ${typeof text}`,
        });
      }
      if (matched !== undefined) return { emit: "", stopped: true };
      if (list.length === 0) return { emit: text, stopped: false };
      const buf = held + text;

      // A match wholly inside `held` was looked for on an earlier push, so every match found here ends in `text`.
      let bestStart = -1;
      let bestEnd = Number.POSITIVE_INFINITY;
      let best: string | undefined;
      for (const s of list) {
        const at = buf.indexOf(s);
        if (at < 0) continue;
        const end = at + s.length;
        if (end < bestEnd || (end === bestEnd && at < bestStart)) {
          bestStart = at;
          bestEnd = end;
          best = s;
        }
      }
      if (best !== undefined) {
        matched = best;
        held = "";
        return { emit: buf.slice(0, bestStart), stopped: true };
      }

      const keep = longestPendingSuffix(buf, list);
      held = buf.slice(buf.length - keep);
      return { emit: buf.slice(0, buf.length - keep), stopped: false };
    },
    flush(): string {
      const out = held;
      held = "";
      return out;
    },
  };
}

/** The length of the longest suffix of `buf` that is a proper prefix of one of `stops`. */
function longestPendingSuffix(buf: string, stops: readonly string[]): number {
  let best = 0;
  for (const s of stops) {
    for (let len = Math.min(s.length - 1, buf.length); len > best; len--) {
      if (endsWithPrefix(buf, s, len)) {
        best = len;
        break;
      }
    }
  }
  return best;
}

/** Whether `buf` ends with the first `len` characters of `s`. */
function endsWithPrefix(buf: string, s: string, len: number): boolean {
  const offset = buf.length - len;
  for (let i = 0; i < len; i++) if (buf.charCodeAt(offset + i) !== s.charCodeAt(i)) return false;
  return true;
}
