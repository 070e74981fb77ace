/**
 * Probe events of the decode loop, sent to the bus given at load time: a scheduler `started` event before prefill;
 * for each generated token a token event, a logits summary (top-k, min, max, mean) and the entropy of the next-token
 * distribution; at the end a cache-pressure event, a memory-pressure event and the scheduler's `finished`,
 * `cancelled` or `failed`. Scratch is allocated once per request. Not the bus (that is the contract's) and not a sink.
 */
import { isInferenceError, type ProbeBus } from "@dappcore/inference";
import { readMemory } from "./metrics.js";
import type { Tokenizer } from "../text/tokenizer.js";
import { logitsEntropy, logitsStats, topK, type LogitsStats } from "../sampling/entropy.js";

const TOP = 5;

export class TokenProbes {
  private readonly topIds = new Int32Array(TOP);
  private readonly stats: LogitsStats = { min: 0, max: 0, mean: 0 };

  private readonly startedAt = performance.now();
  private firstTokenAt = 0;

  constructor(
    private readonly bus: ProbeBus,
    private readonly tokenizer: Tokenizer,
    private readonly vocab: number,
    private readonly requestId: string,
  ) {}

  started(): void {
    this.bus.emitProbe({
      kind: "scheduler",
      phase: "prefill",
      step: 0,
      scheduler: { requestId: this.requestId, event: "started", queueDepth: 0 },
    });
  }

  /** The end of the request: cache and memory figures, then how it ended (`error` undefined = finished). */
  ended(promptTokens: number, generated: number, cachedTokens: number, capacityTokens: number, error?: unknown): void {
    const step = generated;
    this.bus.emitProbe({
      kind: "cache_pressure",
      phase: "decode",
      step,
      cache: { promptTokens, generatedTokens: generated, cachedTokens, capacityTokens },
    });
    const memory = readMemory();
    this.bus.emitProbe({
      kind: "memory_pressure",
      phase: "decode",
      step,
      memory: { activeBytes: memory.active, peakBytes: memory.peak, limitBytes: 0 },
    });
    const cancelled = isInferenceError(error) && error.code === "aborted";
    const now = performance.now();
    this.bus.emitProbe({
      kind: "scheduler",
      phase: "decode",
      step,
      scheduler: {
        requestId: this.requestId,
        event: error === undefined ? "finished" : cancelled ? "cancelled" : "failed",
        queueDepth: 0,
        totalLatencyMs: now - this.startedAt,
        ...(this.firstTokenAt ? { firstTokenLatencyMs: this.firstTokenAt - this.startedAt } : {}),
        ...(cancelled ? { cancelled: true } : {}),
      },
    });
  }

  emit(id: number, text: string, logits: Float32Array, promptTokens: number, generated: number): void {
    const step = generated;
    if (!this.firstTokenAt) this.firstTokenAt = performance.now();
    this.bus.emitProbe({ kind: "token", phase: "decode", step, token: { id, text, promptTokens, generatedTokens: generated } });
    const count = topK(logits, TOP, this.topIds);
    const top = [];
    for (let k = 0; k < count; k++) {
      const tid = this.topIds[k];
      top.push({ id: tid, text: this.tokenizer.idToToken(tid), value: logits[tid] });
    }
    const { min, max, mean } = logitsStats(logits, this.stats);
    this.bus.emitProbe({ kind: "logits", phase: "decode", step, logits: { vocabularySize: this.vocab, top, min, max, mean } });
    this.bus.emitProbe({ kind: "entropy", phase: "decode", step, entropy: { value: logitsEntropy(logits), unit: "nats" } });
  }
}
