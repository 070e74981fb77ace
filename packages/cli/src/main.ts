/**
 * The `inference` command's entry point as a function: picks the subcommand, runs it with the given streams and
 * runtime, and turns any failure into its message and exit code. bin.ts calls it with the real process; tests call
 * it in-process. This file holds the top-level help and nothing a subcommand needs.
 */
import { ExitCode, UsageError } from "./cli-failure.js";
import { writeLine, type CliIO } from "./cli-io.js";
import type { CliRuntime } from "./cli-runtime.js";
import { runBackends } from "./commands/backends.js";
import { runChat } from "./commands/chat.js";
import { runConvert } from "./commands/convert.js";
import { runGenerate } from "./commands/generate.js";
import { runInfo } from "./commands/info.js";
import { runTrain } from "./commands/train.js";
import { reportError } from "./report-error.js";

type Command = (args: readonly string[], io: CliIO, runtime: CliRuntime) => Promise<number>;

const commands: Readonly<Record<string, Command>> = {
  generate: runGenerate,
  chat: runChat,
  info: runInfo,
  backends: runBackends,
  convert: runConvert,
  train: runTrain,
};

export const mainHelp = `Usage: inference <command> [flags]

Local text generation from Hugging Face model directories.

Commands:
  generate "prompt"        continue a prompt, streaming the text to stdout
  chat ["message"]         talk with the model through its chat template (interactive on a terminal)
  info [DIR]               model architecture, sizes, quantisation and capabilities
  backends                 registered backends, whether they can run here, and their capabilities
  convert DIR OUT.gguf     write a model directory as a GGUF file for llama.cpp tools
  train --data F --out D   fine-tune on a JSONL dataset (LoRA adapter or full weights)

Flags:
  -h, --help               show help (also: inference <command> --help)
  -v, --version            print the version

The model is --model DIR, else $INFERENCE_MODEL, else the bundled model.

Example:
  inference generate --max-tokens 32 "The capital of France is"`;

/** Runs the command line `args` (without "node" and the script) and answers the exit code. Never throws. */
export async function runCli(args: readonly string[], io: CliIO, runtime: CliRuntime): Promise<number> {
  try {
    const [first, ...rest] = args;
    if (first === undefined) {
      io.stderr.write(`${mainHelp}\n`);
      return ExitCode.usage;
    }
    if (first === "--help" || first === "-h") {
      io.stdout.write(`${mainHelp}\n`);
      return ExitCode.ok;
    }
    if (first === "--version" || first === "-v") {
      writeLine(io.stdout, runtime.version);
      return ExitCode.ok;
    }
    if (first === "help") {
      const topic = rest[0];
      if (topic === undefined) {
        io.stdout.write(`${mainHelp}\n`);
        return ExitCode.ok;
      }
      return await commandNamed(topic)(["--help"], io, runtime);
    }
    return await commandNamed(first)(rest, io, runtime);
  } catch (e) {
    return reportError(io, e);
  }
}

function commandNamed(name: string): Command {
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (command !== undefined) return command;
  const what = name.startsWith("-") ? `unknown flag "${name}"` : `unknown command "${name}"`;
  throw new UsageError("", `${what} (commands: ${Object.keys(commands).join(", ")})`);
}
