/**
 * A tiny scripted backend for the kit's own tests: a deterministic fake `TextModel` that honours every generate
 * option of the contract (greedy and seeded sampling, maxTokens, stop tokens and strings, logits, abort, probe bus),
 * plus switchable faults that each break one promise, so the tests can prove the kit catches them. Not a model:
 * its "logits" are a hash of the context.
 */
import {
  type Backend,
  type BatchResult,
  type Capability,
  type ClassifyResult,
  type GenerateConfig,
  type GenerateMetrics,
  type GenerateOption,
  InferenceError,
  type LoadOption,
  type Message,
  type ModelInfo,
  type ProbeBus,
  type Result,
  type TextModel,
  type Token,
  applyGenerateOpts,
  applyLoadOpts,
  fail,
  ok,
  supportedCapability,
  toInferenceError,
} from "@dappcore/inference";

/** Each fault breaks one promise of the contract. */
export interface ScriptedFaults {
  ignoreMaxTokens: boolean;
  maxTokensOffByOne: boolean;
  tokenIdOutOfRange: boolean;
  emitStopToken: boolean;
  ignoreStopStrings: boolean;
  ignoreAbort: boolean;
  abortSilently: boolean;
  stickyErr: boolean;
  swallowInvalidOptions: boolean;
  throwSynchronously: boolean;
  breakPoisons: boolean;
  wrongMetrics: boolean;
  classifyDropsLast: boolean;
  classifyThrows: boolean;
  classifyUnsupported: boolean;
  logitsUnsupported: boolean;
  batchIgnoresMaxTokens: boolean;
  closeFailsTwice: boolean;
  usableAfterClose: boolean;
  disposeDoesNotClose: boolean;
  logitsMismatch: boolean;
  silentlyIgnoreLogits: boolean;
  seedIgnored: boolean;
  greedyVaries: boolean;
  noProbeEvents: boolean;
  emptyModelType: boolean;
  chatYieldsNothing: boolean;
}

export interface ScriptedSetup {
  faults?: Partial<ScriptedFaults>;
  /** Replaces the model's capability list (default: `DEFAULT_CAPABILITIES`). */
  capabilities?: readonly Capability[];
}

export const VOCAB = [
  "", " the", " quick", " brown", " fox", " jumps", " over", " lazy", " dog", "!", " and", " runs", " far", " away",
  " then", " back", " home", " again", " it", " sleeps", " well", " today", ".", " yes",
];
export const EOS = 0;

export const DEFAULT_CAPABILITIES: readonly Capability[] = [
  supportedCapability("generate", "model"),
  supportedCapability("chat", "model"),
  supportedCapability("classify", "model"),
  supportedCapability("batch.generate", "model"),
  supportedCapability("tokenizer", "model"),
  supportedCapability("chat.template", "model"),
  supportedCapability("request.cancel", "runtime"),
  supportedCapability("probe.logits", "probe"),
  supportedCapability("probe.events", "probe"),
];

const ZERO_METRICS: GenerateMetrics = {
  promptTokens: 0, generatedTokens: 0, prefillMs: 0, decodeMs: 0, totalMs: 0, timeToFirstTokenMs: 0,
  prefillTokensPerSec: 0, decodeTokensPerSec: 0, peakMemoryBytes: 0, activeMemoryBytes: 0,
};

/** A backend named "scripted" whose models carry `setup`. */
export function scriptedBackend(setup: ScriptedSetup = {}): Backend {
  return {
    name: "scripted",
    available: () => true,
    capabilities: () => [supportedCapability("model.load", "runtime")],
    loadModel: async (_path: string, ...opts: LoadOption[]): Promise<Result<TextModel>> => {
      try {
        return ok(new ScriptedModel(setup, applyLoadOpts(opts).probeBus));
      } catch (e) {
        return fail(toInferenceError(e, "scripted.loadModel"));
      }
    },
  };
}

/** A loader for the kit: `(...opts) => load a ScriptedModel`. */
export function scriptedLoader(setup: ScriptedSetup = {}): (...opts: LoadOption[]) => Promise<Result<TextModel>> {
  const backend = scriptedBackend(setup);
  return (...opts) => backend.loadModel("scripted://model", ...opts);
}

export class ScriptedModel implements TextModel {
  readonly #faults: Partial<ScriptedFaults>;
  readonly #capabilities: readonly Capability[];
  readonly #bus: ProbeBus | undefined;
  #closed = false;
  #closeCount = 0;
  #streams = 0;
  #busy = false;
  #err: InferenceError | undefined;
  #metrics: GenerateMetrics = ZERO_METRICS;

  constructor(setup: ScriptedSetup, bus: ProbeBus | undefined) {
    this.#faults = setup.faults ?? {};
    this.#capabilities = setup.capabilities ?? DEFAULT_CAPABILITIES;
    this.#bus = bus;
  }

  generate(prompt: string, ...opts: GenerateOption[]): AsyncIterable<Token> {
    if (this.#faults.throwSynchronously) applyGenerateOpts(opts);
    return this.#stream("scripted.generate", prompt, opts);
  }

  chat(messages: readonly Message[], ...opts: GenerateOption[]): AsyncIterable<Token> {
    const prompt = messages.map((m) => `<|${m.role}|>${m.content}\n`).join("") + "<|assistant|>";
    if (this.#faults.chatYieldsNothing) return this.#stream("scripted.chat", prompt, [...opts, { stopTokens: [...VOCAB.keys()] }]);
    return this.#stream("scripted.chat", prompt, opts);
  }

  async classify(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<ClassifyResult[]>> {
    if (this.#faults.classifyThrows) throw new Error("classify exploded");
    const op = "scripted.classify";
    if (this.#closed && !this.#faults.usableAfterClose) return fail(closedError(op));
    if (this.#faults.classifyUnsupported) return fail(new InferenceError({ code: "unsupported", op, message: "classify is not implemented" }));
    let config: GenerateConfig;
    try {
      config = applyGenerateOpts(opts);
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
    const results = prompts.map((prompt) => {
      const logits = contextLogits(prompt, [], 0);
      const id = argmax(logits);
      const token: Token = config.logits ? { id, text: VOCAB[id], logits } : { id, text: VOCAB[id] };
      return config.logits ? { token, logits } : { token };
    });
    if (this.#faults.classifyDropsLast && results.length > 0) results.pop();
    return ok(results);
  }

  async batchGenerate(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<BatchResult[]>> {
    const op = "scripted.batchGenerate";
    if (this.#closed) return fail(closedError(op));
    try {
      applyGenerateOpts(opts);
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
    const extra = this.#faults.batchIgnoresMaxTokens ? [{ maxTokens: 12 }] : [];
    const results: BatchResult[] = [];
    for (const prompt of prompts) {
      const tokens: Token[] = [];
      try {
        for await (const t of this.#stream(op, prompt, [...opts, ...extra])) tokens.push(t);
        results.push({ tokens });
      } catch (e) {
        results.push({ tokens, error: toInferenceError(e, op) });
      }
    }
    return ok(results);
  }

  modelType(): string {
    return this.#faults.emptyModelType ? "" : "scripted";
  }

  info(): ModelInfo {
    return { architecture: "ScriptedForCausalLM", vocabSize: VOCAB.length, numLayers: 2, hiddenSize: 16, contextLength: 256, quantBits: 0, quantGroup: 0 };
  }

  metrics(): GenerateMetrics {
    return this.#metrics;
  }

  err(): Result<void> {
    return this.#err === undefined ? ok() : fail(this.#err);
  }

  async close(): Promise<Result<void>> {
    this.#closeCount++;
    if (this.#faults.closeFailsTwice && this.#closeCount > 1) return fail(closedError("scripted.close"));
    this.#closed = true;
    return ok();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#faults.disposeDoesNotClose) await this.close();
  }

  capabilities(): readonly Capability[] {
    return this.#capabilities;
  }

  async *#stream(op: string, prompt: string, opts: readonly GenerateOption[]): AsyncGenerator<Token> {
    const f = this.#faults;
    if (this.#closed) throw this.#record(closedError(op));
    let config: GenerateConfig;
    try {
      config = applyGenerateOpts(opts);
    } catch (e) {
      if (!f.swallowInvalidOptions) throw this.#record(toInferenceError(e, op));
      config = applyGenerateOpts([]);
    }
    if (config.logits && f.logitsUnsupported) {
      throw this.#record(new InferenceError({ code: "unsupported", op, message: "withLogits is not supported" }));
    }
    if (this.#busy) throw this.#record(new InferenceError({ code: "busy", op, message: "a generation is in progress" }));
    this.#busy = true;
    let settled = false;
    const started = performance.now();
    let firstAt = started;
    const promptTokens = Math.max(1, Math.ceil(prompt.length / 4));
    const cap = config.maxTokens === 0 ? 64 : f.ignoreMaxTokens ? config.maxTokens * 2 : f.maxTokensOffByOne && config.maxTokens > 1 ? config.maxTokens - 1 : config.maxTokens;
    const stopTokens = config.explicit.has("stopTokens") ? config.stopTokens : [EOS];
    const call = this.#streams++;
    const seed = f.seedIgnored ? call * 7919 + 1 : config.seed ?? Math.floor(Math.random() * 2 ** 31);
    const rng = config.temperature > 0 ? mulberry32(seed) : undefined;
    const history: number[] = [];
    let text = "";
    try {
      for (let step = 0; history.length < cap; step++) {
        if (config.signal?.aborted && !f.ignoreAbort) {
          if (f.abortSilently) break;
          throw new InferenceError({ code: "aborted", op, message: "aborted by the signal" });
        }
        const logits = contextLogits(prompt, history, step);
        let id = rng === undefined ? argmax(logits) : sample(logits, config, history, rng);
        if (f.tokenIdOutOfRange && step === 0) id = VOCAB.length;
        if (f.greedyVaries && rng === undefined && call % 2 === 1) id = (id % (VOCAB.length - 1)) + 1;
        if (stopTokens.includes(id)) {
          if (f.emitStopToken) yield { id, text: VOCAB[id] ?? "" };
          break;
        }
        let tokenText = VOCAB[id] ?? "";
        let stopHere = false;
        if (!f.ignoreStopStrings) {
          const candidate = text + tokenText;
          const at = Math.min(...config.stop.map((s) => candidate.indexOf(s)).filter((i) => i >= 0));
          if (Number.isFinite(at)) {
            tokenText = candidate.slice(text.length, at);
            stopHere = true;
          }
        }
        if (stopHere && tokenText === "") break;
        history.push(id);
        text += tokenText;
        if (history.length === 1) firstAt = performance.now();
        if (!f.noProbeEvents) this.#bus?.emitProbe({ kind: "token", phase: "decode", step, token: { id, text: tokenText, promptTokens, generatedTokens: history.length } });
        const shown = f.logitsMismatch ? rotate(logits) : logits;
        yield config.logits && !f.silentlyIgnoreLogits ? { id, text: tokenText, logits: shown } : { id, text: tokenText };
        if (stopHere) break;
      }
      const done = performance.now();
      const decodeMs = done - firstAt;
      this.#metrics = {
        promptTokens,
        generatedTokens: history.length + (f.wrongMetrics ? 1 : 0),
        prefillMs: firstAt - started,
        decodeMs,
        totalMs: done - started,
        timeToFirstTokenMs: firstAt - started,
        prefillTokensPerSec: 0,
        decodeTokensPerSec: decodeMs > 0 ? history.length / (decodeMs / 1000) : 0,
        peakMemoryBytes: 0,
        activeMemoryBytes: 0,
      };
      settled = true;
      if (!f.stickyErr) this.#err = undefined;
    } catch (e) {
      settled = true;
      throw this.#record(toInferenceError(e, op));
    } finally {
      if (settled || !f.breakPoisons) this.#busy = false;
    }
  }

  #record(error: InferenceError): InferenceError {
    this.#err = error;
    return error;
  }
}

function closedError(op: string): InferenceError {
  return new InferenceError({ code: "closed", op, message: "the model is closed" });
}

/** Deterministic pseudo-logits in [-2, 2] from the prompt, the last token and the step; EOS is kept unlikely. */
function contextLogits(prompt: string, history: readonly number[], step: number): Float32Array {
  const last = history.length === 0 ? -1 : history[history.length - 1];
  const seed = hashString(prompt) ^ Math.imul(last + 7, 0x9e3779b1) ^ Math.imul(step + 1, 0x85ebca6b);
  const logits = new Float32Array(VOCAB.length);
  for (let v = 0; v < logits.length; v++) logits[v] = (hash32(seed ^ Math.imul(v + 1, 0xc2b2ae35)) / 0xffffffff) * 4 - 2;
  logits[EOS] = prompt.includes("<short>") && step >= 1 ? 10 : -10;
  return logits;
}

function sample(logits: Float32Array, config: GenerateConfig, history: readonly number[], rng: () => number): number {
  const scaled = Array.from(logits, (l, v) => {
    let x = l;
    if (config.repeatPenalty !== 1 && history.includes(v)) x = x > 0 ? x / config.repeatPenalty : x * config.repeatPenalty;
    return x / config.temperature;
  });
  const max = Math.max(...scaled);
  let probs = scaled.map((x, v) => ({ v, p: Math.exp(x - max) })).sort((a, b) => b.p - a.p);
  if (config.topK > 0) probs = probs.slice(0, config.topK);
  if (config.minP > 0) probs = probs.filter((e) => e.p >= config.minP * probs[0].p);
  const total = probs.reduce((s, e) => s + e.p, 0);
  if (config.topP > 0 && config.topP < 1) {
    let acc = 0;
    probs = probs.filter((e) => (acc += e.p / total) - e.p / total < config.topP);
  }
  const sum = probs.reduce((s, e) => s + e.p, 0);
  let r = rng() * sum;
  for (const e of probs) if ((r -= e.p) <= 0) return e.v;
  return probs[probs.length - 1].v;
}

function argmax(logits: Float32Array): number {
  let best = 0;
  for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
  return best;
}

/** The same values shifted by one position: the argmax no longer matches the emitted token. */
function rotate(logits: Float32Array): Float32Array {
  const out = new Float32Array(logits.length);
  for (let v = 0; v < logits.length; v++) out[(v + 1) % logits.length] = logits[v];
  return out;
}

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function hash32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
