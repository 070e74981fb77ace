/**
 * The streams and process facts a command talks through, so every command runs the same in the real process (bin.ts)
 * and in tests (in-memory streams). This file is not where output is formatted; it only names the channels.
 */
import type { Readable, Writable } from "node:stream";

/** A writable stream that may be a terminal (process.stdout, process.stderr, or a test's PassThrough). */
export type OutputStream = Writable & { readonly isTTY?: boolean; readonly columns?: number };

/** A readable stream that may be a terminal (process.stdin, or a test's PassThrough). */
export type InputStream = Readable & { readonly isTTY?: boolean };

export interface CliIO {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly stdin: InputStream;
  /** Environment variables (INFERENCE_MODEL, INFERENCE_DEBUG). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Directory that relative paths are resolved against. */
  readonly cwd: string;
  /**
   * Registers a handler for Ctrl-C (SIGINT) and returns the function that removes it. While a handler is registered,
   * Ctrl-C calls it instead of ending the process; when it returns false (it has nothing left to stop gracefully),
   * the process exits at once with code 130. With no handler, Ctrl-C exits at once.
   */
  onInterrupt(handler: () => boolean): () => void;
}

/** Writes one line (a newline is appended). */
export function writeLine(stream: Writable, text = ""): void {
  stream.write(`${text}\n`);
}
