/**
 * The `cpu` backend's TextModel: a loaded checkpoint (weights, tokenizer, engine) and the streams, classify and batch
 * calls of the contract over it, and its LoRA adapter (loadAdapter / unloadAdapter). The decode loop itself is in
 * `decode-loop.ts`; loading in `../loader`; numeric work in `../engine`.
 */
import {
  applyGenerateOpts,
  fail,
  InferenceError,
  ok,
  toInferenceError,
  type BatchResult,
  type Capability,
  type ClassifyResult,
  type GenerateMetrics,
  type GenerateOption,
  type LoadConfig,
  type Message,
  type ModelInfo,
  type ProbeBus,
  type Result,
  type TextModel,
  type Token,
} from "@dappcore/inference";
import type { LoadedCheckpoint } from "../loader/model-dir.js";
import type { Tokenizer } from "../text/tokenizer.js";
import { encodeChat } from "../text/chat-encoding.js";
import { Transformer } from "../engine/transformer.js";
import type { KVCache } from "../engine/kv-cache.js";
import type { CpuEngineOptions } from "../engine/engine-options.js";
import { checkFits, engineMemory } from "../engine/memory-plan.js";
import { quantBits, weightQuantization, type Quantization } from "../engine/quantization.js";
import type { WasmRuntime } from "../engine/wasm-runtime.js";
import { emptyMetrics } from "./metrics.js";
import { SlotPool } from "./slot-pool.js";
import { runDecode, runBatchDecode, runClassify, type DecodeContext } from "./decode-loop.js";
import { modelCapabilities } from "../capabilities.js";
import type { EngineAdapter } from "../engine/lora-slots.js";
import { readEngineAdapter, type ActiveAdapterInfo } from "./adapter-loading.js";

export interface CpuModelParts {
  readonly checkpoint: LoadedCheckpoint;
  readonly tokenizer: Tokenizer;
  readonly load: LoadConfig;
  /** Kernel set, threads and quantisation; default: the reference kernels, unquantised. */
  readonly engine?: CpuEngineOptions;
  /** The WebAssembly runtime whose arena holds the weights (wasm kernels); the model closes it. */
  readonly runtime?: WasmRuntime;
  /** A LoRA adapter to run over the base weights from the start (read by `readEngineAdapter`). Default: none. */
  readonly adapter?: { readonly adapter: EngineAdapter; readonly info: ActiveAdapterInfo };
  /**
   * Whether only this model reads the checkpoint's weights, so the engine may rewrite wide F16/BF16 matrices in
   * place (TransformerOptions.relayoutFloats). False for a model that will be trained. Default false.
   */
  readonly ownsWeights?: boolean;
}

/** Default KV-cache length when neither the caller nor memory asks otherwise: the checkpoint's, capped. */
export const DEFAULT_CONTEXT_CAP = 4096;

export class CpuTextModel implements TextModel {
  private readonly transformer: Transformer;
  private readonly slots: SlotPool<KVCache>;
  private readonly caches: KVCache[];
  private readonly contextLen: number;
  private readonly probeBus: ProbeBus | undefined;
  private readonly eosIds: readonly number[];
  /** What the weights are stored as: quantised at load time or read as Q8_0/Q4_0 from a GGUF file. */
  private readonly quantization: Quantization | undefined;
  private lastError: InferenceError | undefined;
  private adapterInfo: ActiveAdapterInfo | undefined;
  private lastMetrics: GenerateMetrics = emptyMetrics;
  private closed = false;

  constructor(private readonly parts: CpuModelParts) {
    const { checkpoint, tokenizer, load } = parts;
    const config = checkpoint.config;
    if (tokenizer.vocabSize > config.vocabSize) {
      throw new InferenceError({
        code: "invalid_model",
        op: "cpu.loadModel",
        message: `tokenizer has ${tokenizer.vocabSize} tokens but the model's vocabulary is ${config.vocabSize}`,
        details: { path: checkpoint.dir },
      });
    }
    if (load.contextLen > config.maxPositionEmbeddings) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "inference.withContextLen",
        message: `contextLen ${load.contextLen} exceeds the model's context length ${config.maxPositionEmbeddings}`,
        details: { option: "withContextLen", contextLen: load.contextLen, modelContextLength: config.maxPositionEmbeddings },
      });
    }
    this.contextLen = load.contextLen || Math.min(config.maxPositionEmbeddings, DEFAULT_CONTEXT_CAP);
    const slotCount = Math.max(1, load.parallelSlots);
    const runtime = parts.runtime;
    if (runtime !== undefined) {
      // Fail before allocating the caches when weights + KV caches + activations cannot fit WebAssembly's 4 GiB.
      const need = engineMemory(config, {
        weightBytes: runtime.arena.used,
        contextLen: this.contextLen,
        caches: slotCount,
        threads: runtime.threads,
        kvCacheType: parts.engine?.kvCacheType,
      });
      checkFits(need, runtime.arena.maximumBytes, this.contextLen, slotCount);
    }
    this.transformer = new Transformer(config, checkpoint.weights, {
      kernels: parts.engine?.kernels ?? (runtime !== undefined ? "wasm" : "reference"),
      runtime,
      relayoutFloats: parts.ownsWeights === true,
      kvCacheType: parts.engine?.kvCacheType,
    });
    this.caches = Array.from({ length: slotCount }, () => this.transformer.createCache(this.contextLen));
    this.slots = new SlotPool(this.caches);
    this.quantization = weightQuantization(checkpoint.weights);
    this.probeBus = load.probeBus;
    if (parts.adapter !== undefined) {
      this.transformer.setAdapter(parts.adapter.adapter);
      this.adapterInfo = parts.adapter.info;
    }
    this.eosIds = [...new Set([...checkpoint.generation.eosTokenIds, ...config.eosTokenIds, ...tokenizer.eosTokenIds])];
  }

  generate(prompt: string, ...opts: GenerateOption[]): AsyncIterable<Token> {
    return this.stream("cpu.generate", opts, () => {
      if (typeof prompt !== "string") throw invalidArgument("cpu.generate", "prompt must be a string");
      return this.parts.tokenizer.encode(prompt, { addSpecialTokens: true });
    });
  }

  chat(messages: readonly Message[], ...opts: GenerateOption[]): AsyncIterable<Token> {
    return this.stream("cpu.chat", opts, () => {
      if (!Array.isArray(messages) || messages.length === 0) {
        throw invalidArgument("cpu.chat", "messages must be a non-empty array");
      }
      return encodeChat(this.parts.tokenizer, messages, { addGenerationPrompt: true }).ids;
    });
  }

  async classify(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<ClassifyResult[]>> {
    const op = "cpu.classify";
    try {
      this.checkOpen(op);
      const config = applyGenerateOpts(opts);
      const encoded = prompts.map((p) => this.encodePrompt(op, p));
      const cache = await this.slots.acquire(config.signal, op);
      try {
        const result = runClassify(this.context(), cache, encoded, config);
        this.lastMetrics = result.metrics;
        return ok(result.results);
      } finally {
        this.slots.release(cache);
      }
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  async batchGenerate(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<BatchResult[]>> {
    const op = "cpu.batchGenerate";
    try {
      this.checkOpen(op);
      const config = applyGenerateOpts(opts);
      const encoded = prompts.map((p) => {
        try {
          return { ids: this.encodePrompt(op, p) };
        } catch (e) {
          return { error: toInferenceError(e, op) };
        }
      });
      const result = await runBatchDecode(this.context(), encoded, config);
      this.lastMetrics = result.metrics;
      return ok(result.results);
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  modelType(): string {
    return this.parts.checkpoint.config.modelType;
  }

  info(): ModelInfo {
    const c = this.parts.checkpoint.config;
    return {
      architecture: c.architecture,
      vocabSize: c.vocabSize,
      numLayers: c.numLayers,
      hiddenSize: c.hiddenSize,
      contextLength: this.contextLen,
      quantBits: quantBits(this.quantization).bits,
      quantGroup: quantBits(this.quantization).group,
    };
  }

  metrics(): GenerateMetrics {
    return this.lastMetrics;
  }

  err(): Result<void> {
    return this.lastError ? fail(this.lastError) : ok();
  }

  capabilities(): readonly Capability[] {
    return modelCapabilities({
      hasChatTemplate: this.parts.tokenizer.chatTemplate !== undefined,
      quantization: this.quantization,
      kernels: this.transformer.kernelSet,
      threads: this.transformer.threads,
      adapter: this.adapterInfo,
    });
  }

  /**
   * Layers the PEFT LoRA adapter in `dir` over the base weights (unmerged), replacing the current adapter, without
   * reloading the base. Applies from the next forward step. On failure (the errors of `readEngineAdapter`: a bad or
   * unreadable adapter, `closed`) the current adapter, or its absence, stays exactly as it was.
   * @example const r = await model.loadAdapter("out/adapter"); if (!r.ok) console.error(r.error.message);
   */
  async loadAdapter(dir: string): Promise<Result<void>> {
    const op = "cpu.loadAdapter";
    try {
      this.checkOpen(op);
      const { adapter, info } = await readEngineAdapter(dir, this.parts.checkpoint.config);
      this.checkOpen(op);
      this.transformer.setAdapter(adapter);
      this.adapterInfo = info;
      return ok();
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  /** Removes the adapter (a no-op without one): the base model answers from the next forward step. Fails only with `closed`. */
  unloadAdapter(): Result<void> {
    const op = "cpu.unloadAdapter";
    if (this.closed) return fail(closedError(op));
    this.transformer.setAdapter(undefined);
    this.adapterInfo = undefined;
    return ok();
  }

  /** The adapter in use, or undefined. */
  activeAdapter(): ActiveAdapterInfo | undefined {
    return this.adapterInfo;
  }

  /**
   * Sets (or with `undefined` removes) an in-memory adapter, as `loadAdapter` does for a directory: what the trainable
   * model uses to sync its LoRA weights before generating (one copy of A and B). Throws the engine's `invalid_argument`.
   */
  setEngineAdapter(adapter: EngineAdapter | undefined, info: ActiveAdapterInfo | undefined): void {
    this.checkOpen("cpu.setAdapter");
    this.transformer.setAdapter(adapter);
    this.adapterInfo = adapter === undefined ? undefined : info;
  }

  /** What this model was made from (shared, not copied), and whether it is closed. */
  get loaded(): CpuModelParts & { readonly contextLen: number; readonly closed: boolean } {
    return { ...this.parts, contextLen: this.contextLen, closed: this.closed };
  }

  async close(): Promise<Result<void>> {
    if (this.closed) return ok();
    this.closed = true;
    this.slots.rejectWaiters(closedError("cpu.close"));
    await this.parts.runtime?.close();
    return ok();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private stream(op: string, opts: readonly GenerateOption[], encode: () => number[]): AsyncIterable<Token> {
    const self = this;
    return {
      [Symbol.asyncIterator]: () => self.decode(op, opts, encode),
    };
  }

  private async *decode(op: string, opts: readonly GenerateOption[], encode: () => number[]): AsyncGenerator<Token> {
    let cache: KVCache | undefined;
    try {
      this.checkOpen(op);
      const config = applyGenerateOpts(opts);
      const ids = encode();
      this.checkPromptFits(op, ids.length);
      cache = await this.slots.acquire(config.signal, op);
      this.checkOpen(op);
      this.lastError = undefined;
      const run = runDecode(this.context(), cache, ids, config, op, () => this.closed);
      for (;;) {
        const step = await run.next();
        if (step.done) {
          this.lastMetrics = step.value;
          break;
        }
        yield step.value;
      }
    } catch (e) {
      const error = toInferenceError(e, op);
      this.lastError = error;
      throw error;
    } finally {
      if (cache) {
        cache.reset();
        this.slots.release(cache);
      }
    }
  }

  private context(): DecodeContext {
    return {
      transformer: this.transformer,
      tokenizer: this.parts.tokenizer,
      generation: this.parts.checkpoint.generation,
      eosIds: this.eosIds,
      contextLen: this.contextLen,
      probeBus: this.probeBus,
    };
  }

  private encodePrompt(op: string, prompt: string): number[] {
    if (typeof prompt !== "string") throw invalidArgument(op, "every prompt must be a string");
    const ids = this.parts.tokenizer.encode(prompt, { addSpecialTokens: true });
    this.checkPromptFits(op, ids.length);
    return ids;
  }

  private checkPromptFits(op: string, promptTokens: number): void {
    if (promptTokens === 0) throw invalidArgument(op, "the prompt encodes to no tokens");
    if (promptTokens >= this.contextLen) {
      throw new InferenceError({
        code: "context_length_exceeded",
        op,
        message: `prompt has ${promptTokens} tokens but the context holds ${this.contextLen} (at least one more is needed to generate)`,
        details: { promptTokens, contextLength: this.contextLen },
        remedy: "shorten the prompt or load with a larger withContextLen",
      });
    }
  }

  private checkOpen(op: string): void {
    if (this.closed) throw closedError(op);
  }
}

function closedError(op: string): InferenceError {
  return new InferenceError({ code: "closed", op, message: "model is closed" });
}

function invalidArgument(op: string, message: string): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message });
}
