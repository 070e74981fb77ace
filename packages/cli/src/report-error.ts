/**
 * Turns any failure into what the user sees and the exit code: `inference: <message>` on stderr, a `hint:` line
 * with the remedy when there is one, never a stack trace (unless INFERENCE_DEBUG is set). Usage errors exit 2,
 * aborts 130, everything else 1. This file is not where errors are raised.
 */
import { isInferenceError, type ErrorCode, type InferenceError } from "@dappcore/inference";
import { CliFailure, ExitCode, UsageError } from "./cli-failure.js";
import { writeLine, type CliIO } from "./cli-io.js";

/**
 * Remedies that replace the library's own: its advice for these codes speaks to programmers ("import the package
 * that registers ..."), while a user of the command picks a backend by flag.
 */
const commandRemedies: Partial<Record<ErrorCode, string>> = {
  no_backends_registered: "no backend is installed; reinstall @dappcore/inference-cli, which bundles the cpu backend",
  backend_not_registered: "run `inference backends` for the registered names, or leave out --backend",
  context_length_exceeded: "shorten the prompt, or raise --context-len up to the model's context length",
};

/** What to tell the user for each library error code when the error carries no remedy of its own. */
const remedies: Partial<Record<ErrorCode, string>> = {
  no_backends_available: "run `inference backends` to see which backends are registered and why none can run here",
  backend_unavailable: "run `inference backends` to see which backends can run here, or leave out --backend",
  model_load_failed: "check that the path is a Hugging Face model directory (config.json, *.safetensors, tokenizer.json)",
  invalid_model: "the model directory is damaged or incomplete; download or convert it again",
  unsupported: "run `inference info DIR` and `inference backends` to see what is supported",
  out_of_memory: "lower --context-len, or use a smaller or quantised model",
  closed: "this is a bug in the command; please report it",
  busy: "the model is serving another request; try again",
};

/** Prints `error` to stderr and returns the exit code it maps to. */
export function reportError(io: CliIO, error: unknown): number {
  if (error instanceof UsageError) {
    const where = error.command === "" ? "inference" : `inference ${error.command}`;
    writeLine(io.stderr, `${where}: ${error.message}`);
    writeLine(io.stderr, `Run "${where} --help" for usage.`);
    return ExitCode.usage;
  }
  if (error instanceof CliFailure) {
    writeLine(io.stderr, `inference: ${error.message}`);
    if (error.remedy !== undefined) writeLine(io.stderr, `hint: ${error.remedy}`);
    return ExitCode.failure;
  }
  if (isInferenceError(error)) return reportInferenceError(io, error);
  const message = error instanceof Error ? error.message : String(error);
  writeLine(io.stderr, `inference: unexpected failure: ${message}`);
  if (io.env.INFERENCE_DEBUG && error instanceof Error && error.stack) writeLine(io.stderr, error.stack);
  else writeLine(io.stderr, "hint: set INFERENCE_DEBUG=1 for the stack trace, and please report it");
  return ExitCode.failure;
}

function reportInferenceError(io: CliIO, error: InferenceError): number {
  if (error.code === "aborted") {
    writeLine(io.stderr, "inference: interrupted");
    return ExitCode.interrupted;
  }
  writeLine(io.stderr, `inference: ${error.message}`);
  const remedy = commandRemedies[error.code] ?? error.remedy ?? remedies[error.code];
  if (remedy !== undefined) writeLine(io.stderr, `hint: ${remedy}`);
  if (io.env.INFERENCE_DEBUG && error.stack) writeLine(io.stderr, error.stack);
  // An option the library rejected is still a mistake in the command line.
  return error.code === "invalid_argument" ? ExitCode.usage : ExitCode.failure;
}
