/**
 * Test-only fakes: a scripted TextModel that spells its prompt back one character per token, and a Backend that
 * loads it. They honour maxTokens, stop tokens, abort signals and the probe bus so the registry, service and sink
 * tests have something real to drive. Never imported by package sources.
 */
import {
  applyGenerateOpts,
  applyLoadOpts,
  fail,
  InferenceError,
  ok,
  supportedCapability,
  toInferenceError,
  type Backend,
  type BatchResult,
  type Capability,
  type ClassifyResult,
  type GenerateMetrics,
  type GenerateOption,
  type LoadOption,
  type Message,
  type ModelInfo,
  type ProbeSink,
  type Result,
  type TextModel,
  type Token,
} from "@dappcore/inference";

const ZERO_METRICS: GenerateMetrics = {
  promptTokens: 0, generatedTokens: 0, prefillMs: 0, decodeMs: 0, totalMs: 0, timeToFirstTokenMs: 0,
  prefillTokensPerSec: 0, decodeTokensPerSec: 0, peakMemoryBytes: 0, activeMemoryBytes: 0,
};

export class FakeModel implements TextModel {
  closed = false;
  closeCalls = 0;
  closeResult: Result<void> = ok();
  #err: Result<void> = ok();
  #metrics: GenerateMetrics = ZERO_METRICS;

  constructor(
    readonly path: string,
    readonly probe?: ProbeSink,
    readonly caps?: readonly Capability[],
  ) {
    if (caps !== undefined) this.capabilities = () => caps;
  }

  capabilities?: () => readonly Capability[];

  generate(prompt: string, ...opts: GenerateOption[]): AsyncIterable<Token> {
    return this.#stream(prompt, opts);
  }

  chat(messages: readonly Message[], ...opts: GenerateOption[]): AsyncIterable<Token> {
    return this.#stream(messages.map((m) => m.content).join(" "), opts);
  }

  async *#stream(prompt: string, opts: GenerateOption[]): AsyncGenerator<Token> {
    this.#err = ok();
    try {
      if (this.closed) throw new InferenceError({ code: "closed", op: "fake.generate", message: "model is closed" });
      const cfg = applyGenerateOpts(opts);
      const max = cfg.maxTokens === 0 ? prompt.length : Math.min(cfg.maxTokens, prompt.length);
      let n = 0;
      for (const ch of prompt.slice(0, max)) {
        if (cfg.signal?.aborted) throw new InferenceError({ code: "aborted", op: "fake.generate", message: "aborted" });
        const id = ch.codePointAt(0)!;
        if (cfg.stopTokens.includes(id)) break;
        n++;
        this.probe?.emitProbe({
          kind: "token", phase: "decode", step: n - 1,
          token: { id, text: ch, promptTokens: prompt.length, generatedTokens: n },
        });
        yield cfg.logits ? { id, text: ch, logits: new Float32Array([id]) } : { id, text: ch };
      }
      this.#metrics = { ...ZERO_METRICS, promptTokens: prompt.length, generatedTokens: n };
    } catch (e) {
      const error = toInferenceError(e, "fake.generate");
      this.#err = fail(error);
      throw error;
    }
  }

  async classify(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<ClassifyResult[]>> {
    if (this.closed) return fail(new InferenceError({ code: "closed", op: "fake.classify", message: "model is closed" }));
    applyGenerateOpts(opts);
    return ok(prompts.map((p) => ({ token: { id: p.codePointAt(0) ?? 0, text: p.slice(0, 1) } })));
  }

  async batchGenerate(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<BatchResult[]>> {
    const out: BatchResult[] = [];
    for (const p of prompts) {
      const tokens: Token[] = [];
      for await (const t of this.generate(p, ...opts)) tokens.push(t);
      out.push({ tokens });
    }
    return ok(out);
  }

  modelType(): string {
    return "fake";
  }

  info(): ModelInfo {
    return { architecture: "fake", vocabSize: 0x110000, numLayers: 1, hiddenSize: 8, contextLength: 64, quantBits: 0, quantGroup: 0 };
  }

  metrics(): GenerateMetrics {
    return this.#metrics;
  }

  err(): Result<void> {
    return this.#err;
  }

  async close(): Promise<Result<void>> {
    this.closeCalls++;
    this.closed = true;
    return this.closeResult;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

export interface FakeBackendInit {
  available?: boolean | (() => boolean);
  capabilities?: readonly Capability[];
  /** Replaces the default load behaviour. */
  load?: (path: string, opts: LoadOption[]) => Promise<Result<TextModel>> | Result<TextModel>;
}

export class FakeBackend implements Backend {
  readonly loads: { path: string; opts: LoadOption[] }[] = [];
  readonly models: FakeModel[] = [];
  loadTrainable?: Backend["loadTrainable"];

  constructor(readonly name: string, readonly init: FakeBackendInit = {}) {}

  available(): boolean {
    const a = this.init.available ?? true;
    return typeof a === "function" ? a() : a;
  }

  capabilities(): readonly Capability[] {
    return this.init.capabilities ?? [supportedCapability("model.load", "runtime"), supportedCapability("generate", "model")];
  }

  async loadModel(path: string, ...opts: LoadOption[]): Promise<Result<TextModel>> {
    this.loads.push({ path, opts });
    if (this.init.load) return this.init.load(path, opts);
    const cfg = applyLoadOpts(opts);
    const model = new FakeModel(path, cfg.probeBus);
    this.models.push(model);
    return ok(model);
  }
}
