/**
 * The two failure kinds the command reports itself, besides the library's `InferenceError`: a usage error (bad flag,
 * missing argument; exit code 2) and a runtime failure found by the command (model directory missing; exit code 1).
 * This file is not where failures are printed; see `report-error.ts`.
 */

/** A mistake in the command line. Exit code 2; the message names the flag and what it accepts. */
export class UsageError extends Error {
  /** The subcommand whose usage was wrong ("" for the top level), so the hint can point at its --help. */
  readonly command: string;

  constructor(command: string, message: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** A failure the command detects before the library is involved. Exit code 1; `remedy` says what to do. */
export class CliFailure extends Error {
  readonly remedy: string | undefined;

  constructor(message: string, remedy?: string) {
    super(message);
    this.name = "CliFailure";
    this.remedy = remedy;
  }
}

/** Exit codes of the `inference` command. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  interrupted: 130,
} as const;
