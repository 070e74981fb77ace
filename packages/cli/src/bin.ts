#!/usr/bin/env node
/**
 * The `inference` executable: wires the real process (stdio, environment, SIGINT, exit code) to `runCli`. Ctrl-C
 * goes to whatever the running command registered (the first one aborts the generation cleanly); with nothing
 * registered, or when the handler has nothing left to stop, the process exits with 130 at once.
 * This file is not importable library code; everything testable is in main.ts and the commands.
 */
import type { CliIO } from "./cli-io.js";
import { defaultRuntime, importBundledBackends } from "./default-runtime.js";
import { runCli } from "./main.js";

const handlers = new Set<() => boolean>();

process.on("SIGINT", () => {
  const current = [...handlers];
  if (current.length === 0) process.exit(130);
  let handled = false;
  for (const handler of current) handled = handler() || handled;
  if (!handled) process.exit(130);
});

// A reader that closed the pipe early (`inference generate ... | head`) is not an error.
process.stdout.on("error", (e: NodeJS.ErrnoException) => {
  if (e.code === "EPIPE") process.exit(0);
  throw e;
});

const io: CliIO = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  cwd: process.cwd(),
  onInterrupt(handler) {
    handlers.add(handler);
    return () => handlers.delete(handler);
  },
};

process.exitCode = await runCli(process.argv.slice(2), io, defaultRuntime(await importBundledBackends()));
