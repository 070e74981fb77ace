/**
 * `inference convert DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]`: writes a Hugging Face model directory as a GGUF file
 * (for llama.cpp tools), with a progress bar on a terminal. This file is not the converter; it parses the command
 * and reports.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { CliFailure, ExitCode, UsageError } from "../cli-failure.js";
import { writeLine, type CliIO } from "../cli-io.js";
import { convertTypes, type CliRuntime, type ConvertType } from "../cli-runtime.js";
import { Interrupt, interruptedError } from "../interrupt.js";
import { boolFlag, parseFlags, stringFlag } from "../parse-flags.js";
import { formatBytes, ProgressBar } from "../progress-bar.js";

/** The storage type when --type is not given. */
export const defaultConvertType: ConvertType = "bf16";

export const convertHelp = `Usage: inference convert [flags] DIR OUT.gguf

Converts the Hugging Face model directory DIR into the GGUF file OUT.gguf, tokenizer included, for llama.cpp tools.

      --type TYPE          weight storage: ${convertTypes.join(", ")} (default: ${defaultConvertType})
  -f, --force              overwrite OUT.gguf if it exists
  -h, --help               show this help

Example:
  inference convert ./models/qwen3-0.6b qwen3-0.6b-q8_0.gguf --type q8_0`;

export async function runConvert(args: readonly string[], io: CliIO, runtime: CliRuntime): Promise<number> {
  const flags = { type: { type: "string" }, force: { type: "boolean", short: "f" }, help: { type: "boolean", short: "h" } } as const;
  const { values, positionals } = parseFlags("convert", args, flags, 2);
  if (boolFlag(values, "help")) {
    io.stdout.write(`${convertHelp}\n`);
    return ExitCode.ok;
  }
  const rawType = stringFlag(values, "type") ?? defaultConvertType;
  const type = convertTypes.find((t) => t === rawType.toLowerCase());
  if (type === undefined) {
    throw new UsageError("convert", `--type must be one of ${convertTypes.join(", ")}, got ${JSON.stringify(rawType)}`);
  }
  if (positionals.length < 2) {
    throw new UsageError("convert", `missing ${positionals.length === 0 ? "the model directory and " : ""}the output file, e.g. inference convert DIR OUT.gguf`);
  }
  const [dirArg, outArg] = positionals as [string, string];
  if (!outArg.toLowerCase().endsWith(".gguf")) {
    throw new UsageError("convert", `the output file must end in .gguf, got ${JSON.stringify(outArg)}`);
  }
  const dir = resolve(io.cwd, dirArg);
  const out = resolve(io.cwd, outArg);
  const dirStat = await stat(dir).catch(() => undefined);
  if (dirStat === undefined || !dirStat.isDirectory()) {
    throw new CliFailure(`model directory not found: ${dir}`, "convert takes a Hugging Face model directory (config.json, *.safetensors, tokenizer.json)");
  }
  if (!boolFlag(values, "force") && (await stat(out).catch(() => undefined)) !== undefined) {
    throw new CliFailure(`${out} already exists`, "pass --force to overwrite it, or choose another name");
  }

  const bar = new ProgressBar(io.stderr, { label: `converting (${type})` });
  const interrupt = new Interrupt(io);
  let bytes: number;
  try {
    bytes = await runtime.convert(dir, out, { type, signal: interrupt.signal, onProgress: (p) => bar.update(p.done, p.total) });
  } catch (e) {
    throw interruptedError(interrupt, e);
  } finally {
    bar.finish();
    interrupt.dispose();
  }
  writeLine(io.stdout, `wrote ${out} (${type}, ${formatBytes(bytes)})`);
  return ExitCode.ok;
}
