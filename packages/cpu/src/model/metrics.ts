/**
 * Collects the timing and memory figures of one operation into a `GenerateMetrics`. Durations in milliseconds from
 * `performance.now()`; memory from the process (resident set), 0 where it cannot be read.
 */
import type { GenerateMetrics } from "@dappcore/inference";

export const emptyMetrics: GenerateMetrics = Object.freeze({
  promptTokens: 0,
  generatedTokens: 0,
  prefillMs: 0,
  decodeMs: 0,
  totalMs: 0,
  timeToFirstTokenMs: 0,
  prefillTokensPerSec: 0,
  decodeTokensPerSec: 0,
  peakMemoryBytes: 0,
  activeMemoryBytes: 0,
});

export class MetricsRecorder {
  private readonly start = performance.now();
  private prefillEnd = 0;
  private firstToken = 0;
  promptTokens = 0;
  generatedTokens = 0;

  prefillDone(promptTokens: number): void {
    this.promptTokens = promptTokens;
    this.prefillEnd = performance.now();
  }

  tokenEmitted(): void {
    if (this.generatedTokens === 0) this.firstToken = performance.now();
    this.generatedTokens++;
  }

  finish(): GenerateMetrics {
    const end = performance.now();
    const prefillEnd = this.prefillEnd || end;
    const prefillMs = prefillEnd - this.start;
    const decodeMs = end - prefillEnd;
    // Tokens after the first one are the decode steps (the first comes from the prefill's logits).
    const decodeSteps = Math.max(0, this.generatedTokens - 1);
    const memory = readMemory();
    return {
      promptTokens: this.promptTokens,
      generatedTokens: this.generatedTokens,
      prefillMs,
      decodeMs,
      totalMs: end - this.start,
      timeToFirstTokenMs: this.firstToken ? this.firstToken - this.start : 0,
      prefillTokensPerSec: prefillMs > 0 ? (this.promptTokens * 1000) / prefillMs : 0,
      decodeTokensPerSec: decodeMs > 0 && decodeSteps > 0 ? (decodeSteps * 1000) / decodeMs : 0,
      peakMemoryBytes: memory.peak,
      activeMemoryBytes: memory.active,
    };
  }
}

/** Resident memory of the process now and at its peak, in bytes. */
export function readMemory(): { active: number; peak: number } {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  if (!proc?.memoryUsage) return { active: 0, peak: 0 };
  const active = proc.memoryUsage.rss();
  const peak = typeof proc.resourceUsage === "function" ? proc.resourceUsage().maxRSS * 1024 : active;
  return { active, peak: Math.max(peak, active) };
}
