/**
 * `inference info [DIR]`: loads a model and prints what it is (architecture, vocabulary, layers, hidden size,
 * context length, quantisation, stored dtype) and what it can do (its capability list), as text or with --json.
 * This file does not inspect weights itself; everything but the dtype comes from the loaded model.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { capabilitiesOf, type Capability, type ModelInfo } from "@dappcore/inference";
import { ExitCode } from "../cli-failure.js";
import { writeLine, type CliIO } from "../cli-io.js";
import type { CliRuntime } from "../cli-runtime.js";
import { Interrupt, interruptedError } from "../interrupt.js";
import { loadRequestedModel } from "../load-model.js";
import { modelRequestFrom } from "../model-flags.js";
import { boolFlag, parseFlags } from "../parse-flags.js";
import { UsageError } from "../cli-failure.js";

export const infoHelp = `Usage: inference info [flags] [DIR]

Loads the model in DIR (default: $INFERENCE_MODEL, else the bundled model) and prints its architecture, vocabulary
size, layers, hidden size, context length, quantisation and stored dtype, then its capabilities.

      --json               print one JSON object instead of text
      --backend NAME       pin a backend (default: automatic)
  -h, --help               show this help

Example:
  inference info --json ./models/qwen3-0.6b`;

/** What `info --json` prints. */
export interface InfoReport {
  readonly path: string;
  readonly modelType: string;
  readonly info: ModelInfo;
  /** config.json's `torch_dtype` (or `dtype`); null when the model does not say. */
  readonly dtype: string | null;
  readonly capabilities: readonly Capability[];
}

export async function runInfo(args: readonly string[], io: CliIO, runtime: CliRuntime): Promise<number> {
  const flags = { json: { type: "boolean" }, backend: { type: "string" }, help: { type: "boolean", short: "h" } } as const;
  const { values, positionals } = parseFlags("info", args, flags, 1);
  if (boolFlag(values, "help")) {
    io.stdout.write(`${infoHelp}\n`);
    return ExitCode.ok;
  }
  const dir = positionals[0];
  if (dir !== undefined && dir.trim() === "") throw new UsageError("info", "the model directory is an empty string");
  const request = { ...modelRequestFrom("info", values), model: dir };
  const interrupt = new Interrupt(io);
  let report: InfoReport;
  try {
    const { model, location } = await loadRequestedModel(io, runtime, request, interrupt.signal);
    try {
      const caps = capabilitiesOf(model);
      if (!caps.ok) throw caps.error;
      report = {
        path: location.path,
        modelType: model.modelType(),
        info: model.info(),
        dtype: await storedDtype(location.path),
        capabilities: caps.value.capabilities,
      };
    } finally {
      await model.close();
    }
  } catch (e) {
    throw interruptedError(interrupt, e);
  } finally {
    interrupt.dispose();
  }
  if (boolFlag(values, "json")) writeLine(io.stdout, JSON.stringify(report, null, 2));
  else for (const line of formatInfo(report)) writeLine(io.stdout, line);
  return ExitCode.ok;
}

/** The text form of the report. */
export function formatInfo(r: InfoReport): string[] {
  const i = r.info;
  const quant = i.quantBits === 0 ? "none" : `${i.quantBits}-bit${i.quantGroup > 0 ? `, groups of ${i.quantGroup}` : ""}`;
  return [
    `path:            ${r.path}`,
    `architecture:    ${i.architecture}`,
    `model type:      ${r.modelType}`,
    `vocab size:      ${i.vocabSize}`,
    `layers:          ${i.numLayers}`,
    `hidden size:     ${i.hiddenSize}`,
    `context length:  ${i.contextLength}`,
    `quantisation:    ${quant}`,
    `dtype:           ${r.dtype ?? "unknown"}`,
    "capabilities:",
    ...formatCapabilities(r.capabilities),
  ];
}

/** One line per capability: `  id  status  (detail)`. */
export function formatCapabilities(caps: readonly Capability[]): string[] {
  if (caps.length === 0) return ["  (none reported)"];
  const width = Math.max(...caps.map((c) => c.id.length));
  return caps.map((c) => `  ${c.id.padEnd(width)}  ${c.status}${c.detail ? `  (${c.detail})` : ""}`);
}

async function storedDtype(path: string): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(join(path, "config.json"), "utf8");
  } catch {
    return null;
  }
  try {
    const config = JSON.parse(text) as Record<string, unknown>;
    const dtype = config.torch_dtype ?? config.dtype;
    return typeof dtype === "string" ? dtype : null;
  } catch {
    return null;
  }
}
