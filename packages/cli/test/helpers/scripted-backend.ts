/**
 * A test-only backend whose model answers from a script, so the command logic (flags reaching the model, streaming,
 * interrupts, errors, the REPL's history) is tested without a real engine. It records what the command asked for.
 * Not a model of any real backend's timing or sampling.
 */
import {
  applyGenerateOpts,
  applyLoadOpts,
  InferenceError,
  ok,
  fail,
  supportedCapability,
  CapabilityId,
  type Backend,
  type Capability,
  type GenerateConfig,
  type GenerateMetrics,
  type GenerateOption,
  type LoadConfig,
  type LoadOption,
  type Message,
  type ModelInfo,
  type Result,
  type TextModel,
  type Token,
} from "@dappcore/inference";

export const scriptedMetrics: GenerateMetrics = {
  promptTokens: 5,
  generatedTokens: 4,
  prefillMs: 10,
  decodeMs: 20,
  totalMs: 31,
  timeToFirstTokenMs: 11,
  prefillTokensPerSec: 500,
  decodeTokensPerSec: 200,
  peakMemoryBytes: 0,
  activeMemoryBytes: 0,
};

export const scriptedInfo: ModelInfo = {
  architecture: "qwen3",
  vocabSize: 300,
  numLayers: 2,
  hiddenSize: 64,
  contextLength: 256,
  quantBits: 0,
  quantGroup: 0,
};

export class ScriptedBackend implements Backend {
  readonly name: string;
  isAvailable = true;
  /** The pieces `generate` streams, whatever the prompt. */
  pieces: string[] = ["Hello", ",", " world", "!"];
  /** Thrown by the stream after this many tokens, when set. */
  streamError: { afterTokens: number; error: InferenceError } | undefined;
  /** Awaited before each token; a test can hold the stream here. */
  beforeToken: (index: number) => Promise<void> = async () => {};
  /** Ends the stream quietly (no error) when the signal fires, as a lenient backend might. */
  quietAbort = false;
  readonly loads: { path: string; config: LoadConfig }[] = [];
  readonly generateCalls: { prompt: string; config: GenerateConfig }[] = [];
  readonly chatCalls: { messages: Message[]; config: GenerateConfig }[] = [];
  closed = 0;

  constructor(name = "scripted") {
    this.name = name;
  }

  available(): boolean {
    return this.isAvailable;
  }

  capabilities(): readonly Capability[] {
    return [supportedCapability(CapabilityId.generate, "model"), supportedCapability(CapabilityId.chat, "model", "scripted replies")];
  }

  async loadModel(path: string, ...opts: LoadOption[]): Promise<Result<TextModel>> {
    const config = applyLoadOpts(opts);
    this.loads.push({ path, config });
    if (path.includes("broken")) {
      return fail(new InferenceError({ code: "invalid_model", op: "scripted.loadModel", message: `config.json is not valid JSON in ${path}` }));
    }
    config.onProgress?.({ loadedBytes: 0, totalBytes: 2048, file: "model.safetensors" });
    config.onProgress?.({ loadedBytes: 1024, totalBytes: 2048, file: "model.safetensors" });
    config.onProgress?.({ loadedBytes: 2048, totalBytes: 2048, file: "model.safetensors" });
    return ok(new ScriptedModel(this));
  }
}

class ScriptedModel implements TextModel {
  readonly #backend: ScriptedBackend;

  constructor(backend: ScriptedBackend) {
    this.#backend = backend;
  }

  generate(prompt: string, ...opts: GenerateOption[]): AsyncIterable<Token> {
    const config = applyGenerateOpts(opts);
    this.#backend.generateCalls.push({ prompt, config });
    return this.#stream(this.#backend.pieces, config);
  }

  chat(messages: readonly Message[], ...opts: GenerateOption[]): AsyncIterable<Token> {
    const config = applyGenerateOpts(opts);
    this.#backend.chatCalls.push({ messages: messages.map((m) => ({ ...m })), config });
    const last = messages[messages.length - 1]?.content ?? "";
    return this.#stream(["You", " said", ` "${last}"`, ` (turn ${messages.filter((m) => m.role === "user").length})`], config);
  }

  async *#stream(pieces: readonly string[], config: GenerateConfig): AsyncGenerator<Token> {
    let text = "";
    for (let i = 0; i < pieces.length; i++) {
      if (config.maxTokens > 0 && i >= config.maxTokens) return;
      await this.#backend.beforeToken(i);
      if (config.signal?.aborted) {
        if (this.#backend.quietAbort) return;
        throw new InferenceError({ code: "aborted", op: "scripted.generate", message: "aborted" });
      }
      const failure = this.#backend.streamError;
      if (failure !== undefined && i >= failure.afterTokens) throw failure.error;
      text += pieces[i];
      if (config.stop.some((s) => text.includes(s))) return;
      yield { id: i, text: pieces[i] };
    }
  }

  async classify(): Promise<never> {
    throw new Error("not scripted");
  }

  async batchGenerate(): Promise<never> {
    throw new Error("not scripted");
  }

  modelType(): string {
    return "qwen3";
  }

  info(): ModelInfo {
    return scriptedInfo;
  }

  metrics(): GenerateMetrics {
    return scriptedMetrics;
  }

  err(): Result<void> {
    return ok();
  }

  async close(): Promise<Result<void>> {
    this.#backend.closed++;
    return ok();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
