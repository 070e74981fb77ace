/**
 * The `cpu` backend's TrainableModel: the whole generation surface of a `CpuTextModel` plus training over a
 * `TrainableTransformer` — LoRA (`applyLoRA`, PEFT adapters) or full fine-tuning, `loss` / `backward` / `step` with
 * AdamW, gradient clipping and token-weighted gradient accumulation, a resumable training state, and full weights
 * saved as a Hugging Face directory. Generation after training uses the trained weights: before the next
 * generate/chat/classify/batchGenerate after a step, LoRA A/B are copied into the engine (O(adapter parameters)), or
 * in full mode the engine is rebuilt from the trained float32 weights (one O(parameters) copy and, on the
 * WebAssembly kernels, a new arena and thread pool). Not the training loop (trainer.ts), not the passes.
 */
import {
  fail,
  InferenceError,
  ok,
  toInferenceError,
  type Adapter,
  type BatchResult,
  type Capability,
  type ClassifyResult,
  type GenerateMetrics,
  type GenerateOption,
  type LoRAConfig,
  type Loss,
  type Message,
  type ModelInfo,
  type Result,
  type Token,
  type TrainableModel,
  type TrainingBatch,
} from "@dappcore/inference";
import type { CpuTextModel } from "../model/cpu-text-model.js";
import type { ActiveAdapterInfo } from "../model/adapter-loading.js";
import type { EngineAdapter, EngineLoraModule } from "../engine/lora-slots.js";
import { modelCapabilities } from "../capabilities.js";
import { normalizeLoRAConfig, type NormalizedLoRAConfig } from "./lora-config.js";
import { AdamW, clipGradNorm } from "./optimizer.js";
import { saveAdapter } from "./peft.js";
import { TrainableTransformer } from "./trainable-transformer.js";
import type { ResolvedTrainableOptions } from "./cpu-trainable-options.js";
import { readTrainingState, writeModelDirectory, writeTrainingState } from "./cpu-trainable-state.js";
import { GenerationEngines } from "./cpu-trainable-engine.js";
import { memoryAdapterInfo, mergeInto, rebuiltModel, sameLoRA, syncLoRA } from "./cpu-trainable-sync.js";
import { checkedBatch, evalCrossEntropy } from "./cpu-trainable-batch.js";

/** What `CpuBackend.loadTrainable` hands over. */
export interface CpuTrainableParts {
  /** The loaded model to generate with (closed by this one). */
  readonly model: CpuTextModel;
  readonly options: ResolvedTrainableOptions;
  /** An adapter from withAdapterPath: LoRA mode trains on from it; full mode merges it into the weights. */
  readonly adapter?: { readonly adapter: EngineAdapter; readonly info: ActiveAdapterInfo };
}

/** Options of `saveWeights`. */
export interface SaveWeightsOptions {
  /** Storage type of model.safetensors. Default "F32". @example model.saveWeights(dir, { dtype: "BF16" }) */
  readonly dtype?: "F32" | "BF16";
}

function invalid(op: string, message: string): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message });
}

/**
 * A model that trains. Make one with `CpuBackend.loadTrainable` (or `loadTrainable` of the registry).
 *
 * @example
 * const m = (await loadTrainable(dir, { trainingMode: "lora", learningRate: 2e-4 })).value as CpuTrainableModel;
 * const adapter = m.applyLoRA({ rank: 8 }).value;
 * const loss = (await m.loss({ tokens: [ids] })).value; await m.backward(loss); await m.step();
 * await adapter.save("out/adapter");
 */
export class CpuTrainableModel implements TrainableModel {
  readonly mode: "lora" | "full";
  private readonly engines: GenerationEngines;
  private readonly options: ResolvedTrainableOptions;
  private net: TrainableTransformer | undefined;
  private opt: AdamW | undefined;
  private lora: NormalizedLoRAConfig | undefined;
  private lr: number;
  private epoch = 0;
  private lastLoss: Loss | undefined;
  private accTokens = 0; // targets of the micro-batches since the last step (weights of their gradients)
  private accLoss = 0; // Σ loss · tokens since the last step
  private accBackwards = 0;
  private explicitScale: boolean | undefined; // whether this step's backwards gave their own scale
  private stepStart = 0;
  private dirty = false; // trained values not yet in the engine
  private closed = false;

  private constructor(parts: CpuTrainableParts) {
    this.engines = new GenerationEngines(parts.model);
    this.options = parts.options;
    this.mode = parts.options.trainingMode;
    this.lr = parts.options.learningRate;
  }

  /** Builds the model; in full mode copies the weights to float32 (and merges an adapter from withAdapterPath). */
  static create(parts: CpuTrainableParts): CpuTrainableModel {
    const m = new CpuTrainableModel(parts);
    const a = parts.adapter;
    if (m.mode === "full") {
      m.attach(undefined);
      if (a !== undefined) {
        const byName = new Map(m.net!.parameters().map((p) => [p.name, p.value]));
        for (const [module, lm] of a.adapter.modules) mergeInto(byName.get(`${module}.weight`)!, lm);
        m.dirty = true;
      }
    } else if (a !== undefined) {
      // Train on from the adapter: the same update (scale folded into alpha), targets named module by module.
      const first = a.adapter.modules.values().next().value as EngineLoraModule;
      m.attach(normalizeLoRAConfig({ rank: first.rank, alpha: first.scale * first.rank, targetKeys: [...a.adapter.modules.keys()] }));
      const byName = new Map(m.net!.parameters().map((p) => [p.name, p.value]));
      for (const [module, lm] of a.adapter.modules) {
        byName.get(`${module}.lora_A.weight`)!.set(lm.a);
        byName.get(`${module}.lora_B.weight`)!.set(lm.b);
      }
    }
    return m;
  }

  // ---- generation: the CpuTextModel's surface, on synced weights ----

  generate(prompt: string, ...opts: GenerateOption[]): AsyncIterable<Token> {
    return this.engines.stream(() => this.sync(), (m) => m.generate(prompt, ...opts));
  }

  chat(messages: readonly Message[], ...opts: GenerateOption[]): AsyncIterable<Token> {
    return this.engines.stream(() => this.sync(), (m) => m.chat(messages, ...opts));
  }

  async classify(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<ClassifyResult[]>> {
    return this.synced("cpu.classify", () => this.engines.run((m) => m.classify(prompts, ...opts)));
  }

  async batchGenerate(prompts: readonly string[], ...opts: GenerateOption[]): Promise<Result<BatchResult[]>> {
    return this.synced("cpu.batchGenerate", () => this.engines.run((m) => m.batchGenerate(prompts, ...opts)));
  }

  modelType(): string {
    return this.engines.current.modelType();
  }

  info(): ModelInfo {
    return this.engines.current.info();
  }

  metrics(): GenerateMetrics {
    return this.engines.last.metrics();
  }

  err(): Result<void> {
    return this.engines.last.err();
  }

  capabilities(): readonly Capability[] {
    const m = this.engines.current;
    const caps = m.capabilities();
    const adapter = m.activeAdapter() ?? (this.lora === undefined ? undefined : this.memoryAdapterInfo(this.lora));
    const hasChatTemplate = caps.some((c) => c.id === "chat.template");
    return modelCapabilities({ hasChatTemplate, adapter, trainable: true, kernels: undefined }).concat(caps.filter((c) => c.id === "quantization"));
  }

  async close(): Promise<Result<void>> {
    if (this.closed) return ok();
    this.closed = true;
    this.lastLoss = undefined;
    await this.net?.close();
    await this.engines.closeAll();
    return ok();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- tokens ----

  /** The token ids of `text`, with the tokenizer's special tokens (as generate encodes a prompt). Throws `closed`. */
  encode(text: string): number[] {
    this.checkOpen("cpu.encode");
    return this.engines.current.loaded.tokenizer.encode(text, { addSpecialTokens: true });
  }

  /** The text of `ids`, special tokens included. Throws `closed`. */
  decode(ids: readonly number[]): string {
    this.checkOpen("cpu.decode");
    return this.engines.current.loaded.tokenizer.decode(ids);
  }

  numLayers(): number {
    return this.engines.current.loaded.checkpoint.config.numLayers;
  }

  // ---- training ----

  /**
   * Attaches a trainable LoRA adapter (LoRA mode, once): defaults rank 8, alpha 16, q_proj and v_proj, no dropout;
   * A initialised as PEFT does (seeded by the load option `seed`), B zero. Fails with `invalid_argument` in full mode,
   * when an adapter is already attached (by applyLoRA, withAdapterPath or loadTrainingState), for a bad config, or
   * targets that match no module; `closed` after close.
   */
  applyLoRA(config?: Partial<LoRAConfig>): Result<Adapter> {
    const op = "cpu.applyLoRA";
    try {
      this.checkOpen(op);
      if (this.mode === "full") throw invalid(op, 'applyLoRA needs trainingMode "lora"; this model trains every weight (trainingMode "full")');
      if (this.net !== undefined) throw invalid(op, "a LoRA adapter is already attached to this model (applyLoRA runs once)");
      this.attach(normalizeLoRAConfig(config ?? {}));
      return ok(this.adapterHandle());
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  /**
   * The causal-LM cross-entropy of `batch` (equal-length sequences; `lossMask[b][i] = 1` makes token i a target, as
   * Hugging Face labels; default every token after the first), averaged over its targets, keeping the activations
   * for one `backward`. Fails with `invalid_argument` for a malformed batch or mask, before `applyLoRA` in LoRA
   * mode; `closed` after close.
   */
  async loss(batch: TrainingBatch): Promise<Result<Loss>> {
    const op = "cpu.loss";
    try {
      const net = this.trainable(op);
      const { tokens, mask, B, T } = checkedBatch(batch, op);
      this.lastLoss = undefined;
      if (this.accBackwards === 0 && this.stepStart === 0) this.stepStart = performance.now();
      const value = net.forwardLoss(tokens, mask, B, T);
      const loss: Loss = Object.freeze({ value, tokens: net.lastTokenCount });
      this.lastLoss = loss;
      return ok(loss);
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  /** As `loss` without dropout and without keeping activations (a pending loss can no longer be backpropagated). */
  async evalLoss(batch: TrainingBatch): Promise<Result<Loss>> {
    const op = "cpu.evalLoss";
    try {
      const net = this.trainable(op);
      const { tokens, mask, B, T } = checkedBatch(batch, op);
      this.lastLoss = undefined;
      if ((this.lora?.dropout ?? 0) === 0) {
        const value = net.forwardLoss(tokens, mask, B, T);
        return ok(Object.freeze({ value, tokens: net.lastTokenCount }));
      }
      return ok(Object.freeze(evalCrossEntropy(net.logits(tokens, B, T), tokens, mask, B, T, net.config.vocabSize, op)));
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  /**
   * Accumulates the gradient of `loss`, which must be the most recent result of `loss()` and not yet used. Without
   * `scale`, micro-batches are weighted by their targets and `step` divides by the total, so several loss+backward
   * before one step equal one big batch. With `scale` (e.g. a micro-batch's share of the step's targets, as the
   * training loop passes) the gradient is taken times `scale` and `step` does not rescale; one step's backwards
   * must all give a scale or none. Errors: `invalid_argument` (stale loss, bad scale, mixing), `closed`.
   */
  async backward(loss: Loss, scale?: number): Promise<Result<void>> {
    const op = "cpu.backward";
    try {
      const net = this.trainable(op);
      if (loss === undefined || loss !== this.lastLoss) {
        throw invalid(op, "backward takes the most recent loss returned by loss(), once; this one is stale or was not made by this model");
      }
      const explicit = scale !== undefined;
      if (explicit && (typeof scale !== "number" || !Number.isFinite(scale))) throw invalid(op, `scale must be a finite number, got ${String(scale)}`);
      if (this.explicitScale !== undefined && this.explicitScale !== explicit) {
        throw invalid(op, "the backwards of one step must all pass a scale or all leave it out");
      }
      net.backward(explicit ? scale : loss.tokens);
      this.lastLoss = undefined;
      this.explicitScale = explicit;
      this.accTokens += loss.tokens;
      this.accLoss += loss.value * loss.tokens;
      this.accBackwards++;
      return ok();
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  /**
   * One optimiser step from the accumulated gradients: token-weighted mean (without explicit scales), global-norm
   * clipping to `maxGradNorm`, AdamW, then zeroGrad. Emits a `training` probe event. The engine picks the new
   * weights up before the next generation. Errors: `invalid_argument` without a backward since the last step or
   * zeroGrad, `closed`.
   */
  async step(): Promise<Result<void>> {
    const op = "cpu.step";
    try {
      const net = this.trainable(op);
      if (this.accBackwards === 0) throw invalid(op, "step needs at least one backward since the last step or zeroGrad");
      const params = net.parameters();
      if (this.explicitScale === false && this.accTokens !== 1) {
        const k = 1 / this.accTokens;
        for (const p of params) for (let i = 0; i < p.grad.length; i++) p.grad[i] = p.grad[i]! * k;
      }
      if (this.options.maxGradNorm > 0) clipGradNorm(params, this.options.maxGradNorm);
      const opt = this.opt!;
      opt.lr = this.lr;
      opt.step();
      const seconds = (performance.now() - this.stepStart) / 1000;
      const loss = this.accLoss / this.accTokens;
      const tokens = this.accTokens;
      this.zeroGrad();
      this.dirty = true;
      const bus = this.engines.current.loaded.load.probeBus;
      bus?.emitProbe({
        kind: "training",
        phase: "training",
        step: opt.stepCount,
        training: { epoch: this.epoch, step: opt.stepCount, loss, learningRate: opt.lr, ...(seconds > 0 ? { tokensPerSec: tokens / seconds } : {}) },
      });
      return ok();
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  /** Sets every gradient to zero and forgets the micro-batches accumulated since the last step. */
  zeroGrad(): void {
    this.net?.zeroGrad();
    this.accTokens = 0;
    this.accLoss = 0;
    this.accBackwards = 0;
    this.explicitScale = undefined;
    this.stepStart = 0;
  }

  /** The learning rate of the next steps (finite, >= 0; `invalid_argument` otherwise). */
  setLearningRate(lr: number): void {
    if (typeof lr !== "number" || !Number.isFinite(lr) || lr < 0) throw invalid("cpu.setLearningRate", `learning rate must be a finite number >= 0, got ${String(lr)}`);
    this.lr = lr;
  }

  /** The learning rate of the next step. */
  learningRate(): number {
    return this.lr;
  }

  /** Optimiser steps taken. */
  stepCount(): number {
    return this.opt?.stepCount ?? 0;
  }

  /** The epoch reported in `training` probe events (0-based). Default 0. */
  setEpoch(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw invalid("cpu.setEpoch", `epoch must be an integer >= 0, got ${String(epoch)}`);
    this.epoch = epoch;
  }

  /**
   * Writes what a resumed run needs into `dir`: trainable values, AdamW moments and step, learning rate, epoch and
   * the LoRA settings and the position of the LoRA dropout stream, so a resumed run draws the same masks. Gradients not
   * yet stepped are not saved (save at a step boundary).
   */
  async saveTrainingState(dir: string): Promise<Result<void>> {
    const op = "cpu.saveTrainingState";
    try {
      const net = this.trainable(op);
      const state = this.opt!.state();
      const params = net.parameters().map((p, i) => ({ name: p.name, shape: p.shape, value: p.value, m: state.m[i]!, v: state.v[i]! }));
      await writeTrainingState(dir, {
        mode: this.mode, step: state.step, learningRate: this.lr, epoch: this.epoch, lora: this.lora, params, dropoutRng: net.dropoutState(),
      });
      return ok();
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  /**
   * Restores a state written by `saveTrainingState`. In LoRA mode without an adapter yet, attaches one with the saved
   * settings; with one, the settings must match. Everything is read and checked before anything changes. Errors:
   * `invalid_model` for a missing or malformed state, `invalid_argument` when it was saved in the other mode, with
   * other LoRA settings or for other parameters; `closed`.
   */
  async loadTrainingState(dir: string): Promise<Result<void>> {
    const op = "cpu.loadTrainingState";
    try {
      this.checkOpen(op);
      const state = await readTrainingState(dir);
      if (state.mode !== this.mode) throw invalid(op, `the state in ${dir} was saved in ${state.mode} mode; this model trains in ${this.mode} mode`);
      let lora = this.lora;
      if (this.mode === "lora") {
        const saved = normalizeLoRAConfig(state.lora);
        if (lora !== undefined && !sameLoRA(lora, saved)) {
          throw invalid(op, `the state in ${dir} is for LoRA rank ${saved.rank}, alpha ${saved.alpha}, targets ${saved.targetKeys.join(",")}; this model's adapter has rank ${lora.rank}, alpha ${lora.alpha}, targets ${lora.targetKeys.join(",")}`);
        }
        lora = saved;
      }
      const fresh = this.net === undefined;
      const net = fresh ? this.attach(lora) : this.net!;
      const params = net.parameters();
      const mismatch = params.length !== state.params.length || params.some((p, i) => p.name !== state.params[i]!.name || p.value.length !== state.params[i]!.value.length);
      if (mismatch) {
        if (fresh) this.detach();
        throw invalid(op, `the state in ${dir} holds other parameters than this model (${state.params.length} saved, ${params.length} here)`);
      }
      params.forEach((p, i) => p.value.set(state.params[i]!.value));
      if (state.dropoutRng !== undefined) net.setDropoutState(state.dropoutRng);
      this.opt!.loadState({ step: state.step, m: state.params.map((p) => p.m), v: state.params.map((p) => p.v) });
      this.lr = state.learningRate;
      this.epoch = state.epoch;
      this.lastLoss = undefined;
      this.zeroGrad();
      this.dirty = true;
      return ok();
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  /**
   * Full mode: writes the trained weights as a complete Hugging Face directory (config.json, the tokenizer and
   * generation files, model.safetensors in F32 or BF16) that `loadModel` reads. `invalid_argument` in LoRA mode (save
   * the adapter instead), `closed` after close.
   */
  async saveWeights(dir: string, opts: SaveWeightsOptions = {}): Promise<Result<void>> {
    const op = "cpu.saveWeights";
    try {
      const net = this.trainable(op);
      if (this.mode !== "full") throw invalid(op, 'saveWeights needs trainingMode "full"; in LoRA mode save the adapter (applyLoRA(...).value.save(dir))');
      const dtype = opts.dtype ?? "F32";
      if (dtype !== "F32" && dtype !== "BF16") throw invalid(op, `dtype must be "F32" or "BF16", got ${JSON.stringify(dtype)}`);
      await writeModelDirectory(dir, this.engines.current.loaded.checkpoint, net.exportWeights(), dtype);
      return ok();
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
  }

  // ---- internals ----

  private checkOpen(op: string): void {
    if (this.closed) throw new InferenceError({ code: "closed", op, message: "model is closed" });
  }

  private trainable(op: string): TrainableTransformer {
    this.checkOpen(op);
    if (this.net === undefined) throw invalid(op, `${op.slice(4)} needs a LoRA adapter: call applyLoRA first (trainingMode "lora")`);
    return this.net;
  }

  /** Makes the trainable transformer and its optimiser (full mode: lora undefined). */
  private attach(lora: NormalizedLoRAConfig | undefined): TrainableTransformer {
    const { loaded } = this.engines.current;
    const o = this.options;
    const net = new TrainableTransformer(loaded.checkpoint.config, loaded.checkpoint.weights, {
      mode: lora === undefined ? "full" : "lora",
      ...(lora === undefined ? {} : { lora }),
      seed: o.seed,
      kernels: loaded.engine?.kernels === "reference" ? "plain" : "auto",
      ...(loaded.engine?.threads === undefined ? {} : { threads: loaded.engine.threads }),
    });
    this.net = net;
    this.lora = lora;
    this.opt = new AdamW(net.parameters(), { lr: this.lr, betas: [o.betas[0], o.betas[1]], weightDecay: o.weightDecay });
    this.dirty = true;
    return net;
  }

  private detach(): void {
    void this.net?.close();
    this.net = undefined;
    this.opt = undefined;
    this.lora = undefined;
  }

  private adapterHandle(): Adapter {
    const net = this.net!;
    const lora = this.lora!;
    return {
      totalParams: () => net.parameters().reduce((n, p) => n + p.value.length, 0),
      save: async (dir: string) => {
        const op = "cpu.adapter.save";
        try {
          this.checkOpen(op);
          const tensors = net.parameters().map((p) => ({ name: p.name, value: p.value, shape: p.shape }));
          await saveAdapter(dir, { config: lora, tensors });
          return ok();
        } catch (e) {
          return fail(toInferenceError(e, op));
        }
      },
    };
  }

  private memoryAdapterInfo(lora: NormalizedLoRAConfig): ActiveAdapterInfo {
    return memoryAdapterInfo(lora, this.net!.parameters().length / 2);
  }


  private async synced<T>(op: string, fn: () => Promise<Result<T>>): Promise<Result<T>> {
    try {
      await this.sync();
    } catch (e) {
      return fail(toInferenceError(e, op));
    }
    return fn();
  }

  /** Puts trained values into the engine when they changed since the last sync (see the file comment for the cost). */
  private async sync(): Promise<void> {
    if (!this.dirty || this.closed || this.net === undefined) return;
    if (this.mode === "lora") syncLoRA(this.engines.current, this.net, this.lora!);
    else await this.engines.replace(rebuiltModel(this.engines.current, this.net));
    this.dirty = false;
  }

}
