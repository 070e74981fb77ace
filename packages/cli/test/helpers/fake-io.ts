/**
 * In-memory stdio for running the commands in-process: collects stdout and stderr, feeds stdin, and lets a test press
 * Ctrl-C. Not a terminal emulator: `isTTY` is only a flag the commands read.
 */
import { PassThrough } from "node:stream";
import type { CliIO } from "../../src/cli-io.js";

export interface FakeIOOptions {
  /** Everything stdin will deliver; it ends after this unless `keepStdinOpen`. */
  readonly stdin?: string;
  readonly keepStdinOpen?: boolean;
  readonly stdinTTY?: boolean;
  readonly stdoutTTY?: boolean;
  readonly stderrTTY?: boolean;
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
}

export interface FakeIO {
  readonly io: CliIO;
  readonly stdin: PassThrough;
  stdout(): string;
  stderr(): string;
  /** Presses Ctrl-C: answers what the registered handlers answered (false when none would handle it). */
  interrupt(): boolean;
  /** How many Ctrl-C handlers are registered now. */
  handlerCount(): number;
}

function output(tty: boolean | undefined): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
  if (tty) Object.assign(stream, { isTTY: true, columns: 100 });
  return { stream, text: () => text };
}

export function fakeIO(options: FakeIOOptions = {}): FakeIO {
  const stdout = output(options.stdoutTTY);
  const stderr = output(options.stderrTTY);
  const stdin = new PassThrough();
  if (options.stdinTTY) Object.assign(stdin, { isTTY: true });
  if (options.stdin !== undefined) stdin.write(options.stdin);
  if (!options.keepStdinOpen) stdin.end();
  const handlers = new Set<() => boolean>();
  const io: CliIO = {
    stdout: stdout.stream,
    stderr: stderr.stream,
    stdin,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    onInterrupt(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
  };
  return {
    io,
    stdin,
    stdout: stdout.text,
    stderr: stderr.text,
    interrupt() {
      let handled = false;
      for (const h of [...handlers]) handled = h() || handled;
      return handled;
    },
    handlerCount: () => handlers.size,
  };
}
