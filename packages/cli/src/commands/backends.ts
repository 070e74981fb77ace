/**
 * `inference backends`: every registered backend, whether it can run on this machine, and its capabilities, as text
 * or with --json. This file only reports; the registry lives in @dappcore/inference.
 */
import { ExitCode } from "../cli-failure.js";
import { writeLine, type CliIO } from "../cli-io.js";
import type { CliRuntime } from "../cli-runtime.js";
import { boolFlag, parseFlags } from "../parse-flags.js";
import { formatCapabilities } from "./info.js";

export const backendsHelp = `Usage: inference backends [--json]

Lists the registered backends, whether each is available on this machine, and its capabilities.

      --json               print a JSON array instead of text
  -h, --help               show this help`;

export async function runBackends(args: readonly string[], io: CliIO, runtime: CliRuntime): Promise<number> {
  const flags = { json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;
  const { values } = parseFlags("backends", args, flags, 0);
  if (boolFlag(values, "help")) {
    io.stdout.write(`${backendsHelp}\n`);
    return ExitCode.ok;
  }
  const backends = runtime.backends();
  if (boolFlag(values, "json")) {
    writeLine(io.stdout, JSON.stringify(backends, null, 2));
    return ExitCode.ok;
  }
  if (backends.length === 0) {
    writeLine(io.stdout, "no backends registered");
    return ExitCode.ok;
  }
  backends.forEach((b, i) => {
    if (i > 0) writeLine(io.stdout);
    writeLine(io.stdout, `${b.name} (${b.available ? "available" : "not available on this machine"})`);
    for (const line of formatCapabilities(b.capabilities)) writeLine(io.stdout, line);
  });
  return ExitCode.ok;
}
