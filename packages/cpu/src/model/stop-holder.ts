/**
 * Holds generated tokens back while their text could still be the start of a stop string, so a stop string is never
 * emitted, even when it spans several tokens. The text matching is `createStopMatcher`'s; this file maps its released
 * text back onto whole tokens: a token is emitted once all of its text is released, and when a stop string completes,
 * the token in which it begins is emitted with the text before it. Not a detokenizer: it receives token texts.
 */
import { createStopMatcher, type StopMatcher } from "../sampling/stop-strings.js";

export interface HeldToken {
  readonly id: number;
  readonly text: string;
  readonly logits?: Float32Array;
}

export class StopHolder {
  private readonly matcher: StopMatcher | undefined;
  private pending: HeldToken[] = [];
  /** Characters of the pending tokens' text that the matcher has already released. */
  private released = 0;

  constructor(stops: readonly string[]) {
    this.matcher = stops.length > 0 ? createStopMatcher(stops) : undefined;
  }

  /** Adds a token; returns the tokens that can be emitted now and whether a stop string completed. */
  push(token: HeldToken): { emit: HeldToken[]; stopped: boolean } {
    if (!this.matcher) return { emit: [token], stopped: false };
    this.pending.push(token);
    const { emit, stopped } = this.matcher.push(token.text);
    this.released += emit.length;
    if (stopped) return { emit: this.take(true), stopped: true };
    return { emit: this.take(false), stopped: false };
  }

  /** Everything still held, at the end of the stream. */
  flush(): HeldToken[] {
    if (!this.matcher) return [];
    this.released += this.matcher.flush().length;
    return this.take(true);
  }

  /** Takes the pending tokens covered by released text; with `partial`, also the one it ends inside, cut. */
  private take(partial: boolean): HeldToken[] {
    const out: HeldToken[] = [];
    let i = 0;
    while (i < this.pending.length && this.pending[i].text.length <= this.released) {
      this.released -= this.pending[i].text.length;
      out.push(this.pending[i++]);
    }
    if (partial) {
      if (i < this.pending.length && this.released > 0) out.push({ ...this.pending[i], text: this.pending[i].text.slice(0, this.released) });
      this.pending = [];
      this.released = 0;
    } else {
      this.pending = this.pending.slice(i);
    }
    return out;
  }
}
