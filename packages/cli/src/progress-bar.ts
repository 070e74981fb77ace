/**
 * A one-line progress bar for a terminal (`label [#####-----]  50%  1.2/2.4 GiB`), redrawn in place with a
 * carriage return and throttled so a fast callback does not flood the terminal. It draws only on a TTY; on anything
 * else it stays silent. This file knows nothing about what is being measured.
 */
import type { OutputStream } from "./cli-io.js";

export interface ProgressBarOptions {
  /** Text before the bar; required. `{ label: "loading" }` */
  readonly label: string;
  /** How `done`/`total` are shown: "bytes" (KiB, MiB, GiB) or "count" (plain numbers). Default "count". `{ unit: "bytes" }` */
  readonly unit?: "bytes" | "count";
  /** Minimum milliseconds between redraws, except the first and the last. Default 80. `{ intervalMs: 200 }` */
  readonly intervalMs?: number;
  /** Clock, for tests. Default `Date.now`. `{ now: () => fakeTime }` */
  readonly now?: () => number;
}

export class ProgressBar {
  readonly #stream: OutputStream;
  readonly #options: ProgressBarOptions;
  readonly #enabled: boolean;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #lastPercent = -1;
  #drawn = false;

  constructor(stream: OutputStream, options: ProgressBarOptions) {
    this.#stream = stream;
    this.#options = options;
    this.#enabled = stream.isTTY === true;
  }

  /** Whether the bar draws at all (the stream is a terminal). */
  get enabled(): boolean {
    return this.#enabled;
  }

  update(done: number, total: number): void {
    if (!this.#enabled) return;
    const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const percent = Math.floor(fraction * 100);
    const now = (this.#options.now ?? Date.now)();
    const finished = total > 0 && done >= total;
    if (!finished && (percent === this.#lastPercent || now - this.#lastDraw < (this.#options.intervalMs ?? 80))) return;
    this.#lastDraw = now;
    this.#lastPercent = percent;
    this.#drawn = true;
    this.#stream.write(`\r${renderProgressLine(this.#options.label, done, total, this.#options.unit ?? "count", this.#width())}\x1b[K`);
  }

  /** Clears the bar's line so later output starts clean. */
  finish(): void {
    if (!this.#enabled || !this.#drawn) return;
    this.#stream.write("\r\x1b[K");
    this.#drawn = false;
  }

  #width(): number {
    const columns = this.#stream.columns ?? 80;
    return Math.max(10, Math.min(40, columns - this.#options.label.length - 30));
  }
}

/** The text of one bar: `label [####------]  40%  4/10`. */
export function renderProgressLine(label: string, done: number, total: number, unit: "bytes" | "count", width: number): string {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(fraction * width);
  const bar = "#".repeat(filled) + "-".repeat(width - filled);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const amounts = unit === "bytes" ? `${formatBytes(done)}/${formatBytes(total)}` : `${done}/${total}`;
  return `${label} [${bar}] ${percent}  ${amounts}`;
}

/** Bytes in binary units with one decimal: `512 B`, `1.5 KiB`, `2.0 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
