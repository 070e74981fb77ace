/**
 * `inference generate "prompt"`: loads the model, streams the continuation of the prompt to stdout as it is
 * produced, and with --metrics reports speed and counts to stderr. This file is not the chat REPL (`chat.ts`).
 */
import { ExitCode, UsageError } from "../cli-failure.js";
import type { CliIO } from "../cli-io.js";
import type { CliRuntime } from "../cli-runtime.js";
import { abortedError, Interrupt, interruptedError } from "../interrupt.js";
import { loadRequestedModel } from "../load-model.js";
import { generateOptionsFrom, loadFlags, modelFlagsHelp, modelRequestFrom, samplingFlags } from "../model-flags.js";
import { boolFlag, parseFlags } from "../parse-flags.js";
import { endLine, streamTokens, writeMetrics, type Transcript } from "../stream-tokens.js";

export const generateHelp = `Usage: inference generate [flags] "prompt"

Continues the prompt and streams the text to stdout as it is generated. Ctrl-C stops the generation (exit code 130).

${modelFlagsHelp}

  -h, --help               show this help

Example:
  inference generate --max-tokens 64 --temperature 0.7 --seed 1 "Once upon a time"`;

export async function runGenerate(args: readonly string[], io: CliIO, runtime: CliRuntime): Promise<number> {
  const flags = { ...loadFlags, ...samplingFlags, help: { type: "boolean", short: "h" } } as const;
  const { values, positionals } = parseFlags("generate", args, flags, Number.MAX_SAFE_INTEGER);
  if (boolFlag(values, "help")) {
    io.stdout.write(`${generateHelp}\n`);
    return ExitCode.ok;
  }
  const request = modelRequestFrom("generate", values);
  const options = generateOptionsFrom("generate", values);
  const prompt = positionals.join(" ");
  if (prompt.length === 0) throw new UsageError("generate", 'missing the prompt, e.g. inference generate "Once upon a time"');

  const interrupt = new Interrupt(io);
  try {
    const { model } = await loadRequestedModel(io, runtime, request, interrupt.signal);
    try {
      const transcript: Transcript = { text: "" };
      try {
        await streamTokens(model.generate(prompt, { ...options, signal: interrupt.signal }), io.stdout, transcript);
      } finally {
        endLine(io.stdout, transcript);
      }
      if (interrupt.interrupted) throw abortedError();
      if (boolFlag(values, "metrics")) writeMetrics(io.stderr, model.metrics());
      return ExitCode.ok;
    } finally {
      await model.close();
    }
  } catch (e) {
    throw interruptedError(interrupt, e);
  } finally {
    interrupt.dispose();
  }
}
