/**
 * `inference chat`: a conversation with the model through its chat template. On a terminal it is a REPL that keeps
 * the conversation (`/reset` starts over, `/exit` or Ctrl-D quits, Ctrl-C stops the current answer); with a message
 * argument, or stdin that is not a terminal, it answers that one message and exits. This file is not the template
 * renderer: the model's `chat()` applies its own template.
 */
import { createInterface } from "node:readline";
import type { GenerateOptions, Message, TextModel } from "@dappcore/inference";
import { isInferenceError } from "@dappcore/inference";
import { ExitCode, UsageError } from "../cli-failure.js";
import { writeLine, type CliIO, type InputStream } from "../cli-io.js";
import type { CliRuntime } from "../cli-runtime.js";
import { abortedError, Interrupt, interruptedError } from "../interrupt.js";
import { loadRequestedModel } from "../load-model.js";
import { generateOptionsFrom, loadFlags, modelFlagsHelp, modelRequestFrom, samplingFlags } from "../model-flags.js";
import { boolFlag, parseFlags, stringFlag } from "../parse-flags.js";
import { reportError } from "../report-error.js";
import { endLine, streamTokens, writeMetrics, type Transcript } from "../stream-tokens.js";

export const chatHelp = `Usage: inference chat [flags] ["message"]

Talks with the model through its chat template. On a terminal: an interactive conversation; type /reset to start
over, /exit (or Ctrl-D) to quit; Ctrl-C stops the answer being written. With a message argument, or with stdin not a
terminal (echo "hi" | inference chat), the message is answered once.

      --system TEXT        system message at the start of the conversation

${modelFlagsHelp}

  -h, --help               show this help

Example:
  echo "What is a tokenizer?" | inference chat --system "Answer in one sentence." --max-tokens 128`;

const replCommands = "/reset starts over, /exit quits";

export async function runChat(args: readonly string[], io: CliIO, runtime: CliRuntime): Promise<number> {
  const flags = { ...loadFlags, ...samplingFlags, system: { type: "string" }, help: { type: "boolean", short: "h" } } as const;
  const { values, positionals } = parseFlags("chat", args, flags, Number.MAX_SAFE_INTEGER);
  if (boolFlag(values, "help")) {
    io.stdout.write(`${chatHelp}\n`);
    return ExitCode.ok;
  }
  const request = modelRequestFrom("chat", values);
  const options = generateOptionsFrom("chat", values);
  const system = stringFlag(values, "system");
  const opening: Message[] = system === undefined || system.length === 0 ? [] : [{ role: "system", content: system }];
  const metrics = boolFlag(values, "metrics");

  const interactive = positionals.length === 0 && io.stdin.isTTY === true;
  let oneShot: string | undefined;
  if (positionals.length > 0) oneShot = positionals.join(" ");
  else if (!interactive) {
    oneShot = (await readAll(io.stdin)).replace(/\s+$/, "");
    if (oneShot.length === 0) {
      throw new UsageError("chat", 'stdin is empty: pipe a message in (echo "hi" | inference chat), or run it in a terminal');
    }
  }

  const loading = new Interrupt(io);
  let model: TextModel;
  try {
    model = (await loadRequestedModel(io, runtime, request, loading.signal)).model;
  } catch (e) {
    throw interruptedError(loading, e);
  } finally {
    loading.dispose();
  }
  try {
    if (oneShot !== undefined) {
      await answerOnce(io, model, [...opening, { role: "user", content: oneShot }], options, metrics);
      return ExitCode.ok;
    }
    return await converse(io, model, opening, options, metrics);
  } finally {
    await model.close();
  }
}

async function answerOnce(io: CliIO, model: TextModel, messages: Message[], options: GenerateOptions, metrics: boolean): Promise<void> {
  const interrupt = new Interrupt(io);
  try {
    await answer(io, model, messages, { ...options, signal: interrupt.signal });
    if (interrupt.interrupted) throw abortedError();
    if (metrics) writeMetrics(io.stderr, model.metrics());
  } catch (e) {
    throw interruptedError(interrupt, e);
  } finally {
    interrupt.dispose();
  }
}

/** Streams one answer to stdout and returns its text. */
async function answer(io: CliIO, model: TextModel, messages: readonly Message[], options: GenerateOptions): Promise<string> {
  const transcript: Transcript = { text: "" };
  try {
    await streamTokens(model.chat(messages, options), io.stdout, transcript);
  } finally {
    endLine(io.stdout, transcript);
  }
  return transcript.text;
}

/** The REPL. Returns 0 after /exit or end of input, 130 after Ctrl-C at the prompt. */
async function converse(io: CliIO, model: TextModel, opening: readonly Message[], options: GenerateOptions, metrics: boolean): Promise<number> {
  const rl = createInterface({ input: io.stdin, output: io.stdout, terminal: io.stdout.isTTY === true, prompt: "> " });
  let history: Message[] = [...opening];
  let turn: AbortController | undefined;
  let quitByInterrupt = false;
  const onInterrupt = (): boolean => {
    if (turn !== undefined) {
      if (turn.signal.aborted) return false;
      turn.abort(new DOMException("interrupted", "AbortError"));
      return true;
    }
    quitByInterrupt = true;
    io.stdout.write("\n");
    rl.close();
    return true;
  };
  const removeInterrupt = io.onInterrupt(onInterrupt);
  rl.on("SIGINT", () => {
    if (!onInterrupt()) {
      rl.close();
    }
  });
  writeLine(io.stderr, `chatting with ${model.modelType()} (${replCommands})`);
  try {
    rl.prompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === "/exit" || line === "/quit") break;
      if (line === "/reset") {
        history = [...opening];
        writeLine(io.stderr, "(conversation cleared)");
      } else if (line === "/help") {
        writeLine(io.stderr, replCommands);
      } else if (line.length > 0) {
        const messages: Message[] = [...history, { role: "user", content: raw }];
        turn = new AbortController();
        try {
          const text = await answer(io, model, messages, { ...options, signal: turn.signal });
          if (turn.signal.aborted) {
            writeLine(io.stderr, "(interrupted)");
          } else {
            history = [...messages, { role: "assistant", content: text }];
            if (metrics) writeMetrics(io.stderr, model.metrics());
          }
        } catch (e) {
          // A failed turn is dropped from the conversation; the REPL goes on.
          if (turn.signal.aborted || (isInferenceError(e) && e.code === "aborted")) writeLine(io.stderr, "(interrupted)");
          else reportError(io, e);
        } finally {
          turn = undefined;
        }
      }
      rl.prompt();
    }
  } finally {
    removeInterrupt();
    rl.close();
  }
  return quitByInterrupt ? ExitCode.interrupted : ExitCode.ok;
}

async function readAll(stream: InputStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}
