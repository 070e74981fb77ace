/**
 * Probe events of the decode loop: for each generated token, a token event, a logits summary (top-k, min, max, mean)
 * and the entropy of the next-token distribution, sent to the bus given at load time. Scratch is allocated once per
 * request. Not the bus (that is the contract's) and not a sink.
 */
import type { ProbeBus } from "@dappcore/inference";
import type { Tokenizer } from "../text/tokenizer.js";
import { logitsEntropy, logitsStats, topK, type LogitsStats } from "../sampling/entropy.js";

const TOP = 5;

export class TokenProbes {
  private readonly topIds = new Int32Array(TOP);
  private readonly stats: LogitsStats = { min: 0, max: 0, mean: 0 };

  constructor(
    private readonly bus: ProbeBus,
    private readonly tokenizer: Tokenizer,
    private readonly vocab: number,
  ) {}

  emit(id: number, text: string, logits: Float32Array, promptTokens: number, generated: number): void {
    const step = generated;
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
