/**
 * Writes a token stream to stdout as the tokens arrive, and the metrics report that `--metrics` prints to stderr.
 * Waits for the stream to drain when stdout is slow, so a long answer piped into a pager does not buffer in memory.
 * This file is not where the generation is started or its errors are reported.
 */
import { once } from "node:events";
import type { GenerateMetrics, Token } from "@dappcore/inference";
import { writeLine, type OutputStream } from "./cli-io.js";

/** The text written so far; kept outside the loop so it is known even when the stream throws. */
export interface Transcript {
  text: string;
}

/** Writes every token's text, appending it to `transcript`. Throws what the stream throws (typed errors). */
export async function streamTokens(tokens: AsyncIterable<Token>, out: OutputStream, transcript: Transcript): Promise<void> {
  for await (const token of tokens) {
    if (token.text.length === 0) continue;
    transcript.text += token.text;
    if (!out.write(token.text)) await once(out, "drain");
  }
}

/** Ends a non-empty answer with a newline unless it already ends with one. */
export function endLine(out: OutputStream, transcript: Transcript): void {
  if (transcript.text.length > 0 && !transcript.text.endsWith("\n")) out.write("\n");
}

/** The metrics report, one fact per line. */
export function formatMetrics(m: GenerateMetrics): string[] {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const rate = (v: number) => `${v.toFixed(1)} tok/s`;
  const lines = [
    `prompt tokens:       ${m.promptTokens}`,
    `generated tokens:    ${m.generatedTokens}`,
    `prefill:             ${ms(m.prefillMs)} (${rate(m.prefillTokensPerSec)})`,
    `decode:              ${ms(m.decodeMs)} (${rate(m.decodeTokensPerSec)})`,
    `time to first token: ${ms(m.timeToFirstTokenMs)}`,
    `total:               ${ms(m.totalMs)}`,
  ];
  if (m.peakMemoryBytes > 0) lines.push(`peak memory:         ${(m.peakMemoryBytes / 2 ** 20).toFixed(1)} MiB`);
  return lines;
}

export function writeMetrics(err: OutputStream, m: GenerateMetrics): void {
  writeLine(err, "--- metrics");
  for (const line of formatMetrics(m)) writeLine(err, line);
}
