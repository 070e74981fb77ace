/**
 * Drains a token stream under a hard cap, capturing what it yielded and how it ended, so a check can judge a broken
 * backend (one that never stops, or throws synchronously) without hanging or crashing the suite. It judges nothing.
 */
import type { Token } from "@dappcore/inference";

/** How one stream went. */
export interface StreamRun {
  /** The tokens yielded, at most `limit + 1` (one past the cap marks an overflow). */
  readonly tokens: readonly Token[];
  /** What the iterator threw, or `undefined` when it ended cleanly. */
  readonly error: unknown;
  /** True when the stream yielded more than `limit` tokens (the kit stopped reading). */
  readonly overflow: boolean;
  /** True when calling the stream method itself threw instead of returning an iterable. */
  readonly threwSynchronously: boolean;
}

/**
 * Starts a stream with `start` and reads it until it ends, throws, or passes `limit` tokens. `onToken` sees each
 * token with its 1-based count; returning `"break"` stops reading (the kit's `break` out of a for-await).
 */
export async function drainStream(
  start: () => AsyncIterable<Token>,
  limit: number,
  onToken?: (token: Token, count: number) => void | "break",
): Promise<StreamRun> {
  const tokens: Token[] = [];
  let stream: AsyncIterable<Token>;
  try {
    stream = start();
  } catch (error) {
    return { tokens, error, overflow: false, threwSynchronously: true };
  }
  let error: unknown;
  let overflow = false;
  try {
    for await (const token of stream) {
      tokens.push(token);
      if (tokens.length > limit) {
        overflow = true;
        break;
      }
      if (onToken?.(token, tokens.length) === "break") break;
    }
  } catch (e) {
    error = e;
  }
  return { tokens, error, overflow, threwSynchronously: false };
}

/** How many tokens a run yielded, for messages: "3", or "more than 8" when the kit stopped reading. */
export function countOf(run: StreamRun): string {
  return run.overflow ? `more than ${run.tokens.length - 1}` : String(run.tokens.length);
}

/** The ids of `tokens`, for comparing runs. */
export function idsOf(tokens: readonly Token[]): number[] {
  return tokens.map((t) => t.id);
}

/** The concatenated text of `tokens`. */
export function textOf(tokens: readonly Token[]): string {
  return tokens.map((t) => t.text).join("");
}
