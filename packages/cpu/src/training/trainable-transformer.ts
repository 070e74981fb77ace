/**
 * A transformer that trains: the forward pass of every supported architecture (the same computation as
 * engine/transformer.ts, checked against it) over a batch of B sequences of T tokens, the causal-LM cross-entropy,
 * and the backward pass accumulating gradients into the trainable parameters, full (every tensor, float32 copies)
 * or LoRA (frozen base in its stored dtype, float32 A/B pairs). Memory is one ActivationArena proportional to B·T.
 * This class checks batches, options and owns the parameters; the passes run on the WebAssembly SIMD kernels
 * (fast/fast-pass.ts, everything in one arena) for float32 models unless told otherwise, or on plain loops
 * (plain-pass.ts: float64 gradient checks, and the fallback). Not an optimizer (optimizer.ts), not adapter files
 * (peft.ts), not a tokenizer or data pipeline.
 */
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig, WeightStore } from "../model-config.js";
import { ropeInverseFrequencies } from "../engine/rope-frequencies.js";
import type { TensorToWrite } from "../loader/safetensors-writer.js";
import { ActivationArena } from "./activation-arena.js";
import type { Floats } from "./kernels/floats.js";
import { FastPass } from "./fast/fast-pass.js";
import { FastRuntime, fastKernelsUnavailable, resolveThreads } from "./fast/fast-runtime.js";
import { PlainPass } from "./plain-pass.js";
import {
  buildTrainWeights,
  type TrainableOptions,
  type TrainableParameter,
  type TrainWeights,
} from "./trainable-weights.js";

const op = "cpu.trainable";

function invalid(message: string, details?: Record<string, unknown>): never {
  throw new InferenceError({ code: "invalid_argument", op, message, details });
}

/**
 * A trainable model over a checkpoint's weights.
 *
 * @example
 * const model = new TrainableTransformer(config, weights, { mode: "lora", lora: { rank: 8, alpha: 16, targetKeys: ["q_proj", "v_proj"] } });
 * const loss = model.forwardLoss(tokens, mask, 2, 64); // tokens (2, 64)
 * model.backward();
 * for (const p of model.parameters()) optimizer.update(p.value, p.grad);
 * model.zeroGrad();
 */
export class TrainableTransformer<A extends Floats = Float32Array> {
  readonly config: ModelConfig;
  readonly mode: "lora" | "full";
  /** The kernels this model runs on: "wasm" (float32, fast) or "plain" (float64, or where wasm is unavailable). */
  readonly kernels: "wasm" | "plain";
  /** Threads a big WebAssembly kernel call is split across (1 on the plain kernels). */
  readonly threads: number;
  private counted = 0;
  private readonly runtime: FastRuntime | undefined;
  private readonly fast: FastPass | undefined;
  private readonly plain: PlainPass | undefined;
  private readonly pass: FastPass | PlainPass;
  private readonly w: TrainWeights;
  private readonly arena: ActivationArena;
  private readonly make: (n: number) => Floats;
  /** Batch size of the saved forward that `backward` may consume, 0 when none; its T and dropout. */
  private pendingB = 0;
  private pendingT = 0;
  private pendingDropout = 0;

  /**
   * @param precision "float64" runs every activation, parameter and gradient in float64 (for gradient checks);
   * prefer `TrainableTransformer.float64(...)`, which types the arrays accordingly. Default "float32".
   */
  constructor(config: ModelConfig, weights: WeightStore, opts: TrainableOptions, precision: "float32" | "float64" = "float32") {
    checkConfig(config);
    this.config = config;
    const choice = opts?.kernels ?? "auto";
    if (choice !== "auto" && choice !== "wasm" && choice !== "plain") invalid(`kernels must be "auto", "wasm" or "plain", got ${String(choice)}`);
    const threads = resolveThreads(opts?.threads);
    if (choice === "wasm" && precision === "float64") invalid('kernels "wasm" runs float32 models only; float64 runs the plain kernels');
    const useWasm = precision === "float32" && (choice === "wasm" || (choice === "auto" && fastKernelsUnavailable() === undefined));
    this.runtime = useWasm ? new FastRuntime(threads) : undefined;
    const rt = this.runtime;
    this.kernels = rt === undefined ? "plain" : "wasm";
    this.threads = rt === undefined ? 1 : threads;
    this.make = precision === "float64" ? (n) => new Float64Array(n) : rt !== undefined ? rt.f32 : (n) => new Float32Array(n);
    this.w = buildTrainWeights(config, weights, opts, this.make);
    this.mode = opts.mode;
    this.arena = new ActivationArena(config, this.w, this.make, rt?.i32);
    const D = config.headDim;
    const invFreqGlobal = ropeInverseFrequencies(D, config.ropeTheta, config.ropeScaling);
    const localRope = config.architecture === "gemma3_text";
    const invFreqLocal = localRope ? ropeInverseFrequencies(D, config.ropeLocalTheta, { type: "none" }) : invFreqGlobal;
    const ropeArgs = [invFreqGlobal, invFreqLocal, localRope] as const;
    this.fast = rt === undefined ? undefined : new FastPass(rt, config, this.w, this.arena, ...ropeArgs);
    this.plain = rt === undefined ? new PlainPass(config, this.w, this.arena, ...ropeArgs) : undefined;
    this.pass = this.fast ?? this.plain!;
  }

  /**
   * Ends the worker threads of the WebAssembly kernels (if any started); the model stays usable on the calling
   * thread. Idempotent.
   */
  async close(): Promise<void> {
    await this.runtime?.close();
  }

  /** Targets that counted in the last `forwardLoss` (its loss is their mean); 0 before any. */
  get lastTokenCount(): number {
    return this.counted;
  }

  /** The same model with every array in float64: for finite-difference gradient checks. */
  static float64(config: ModelConfig, weights: WeightStore, opts: TrainableOptions): TrainableTransformer<Float64Array> {
    return new TrainableTransformer<Float64Array>(config, weights, opts, "float64");
  }

  /**
   * The trainable tensors with their gradients, in a fixed order. Full mode: every checkpoint tensor by its
   * Hugging Face name (tied embeddings appear once, as `model.embed_tokens.weight`). LoRA mode: PEFT names,
   * `model.layers.0.self_attn.q_proj.lora_A.weight` (r, in) and `.lora_B.weight` (out, r). Values may be updated
   * in place; the next forward reads them.
   */
  parameters(): TrainableParameter<A>[] {
    return this.w.params as unknown as TrainableParameter<A>[];
  }

  /**
   * The position of the LoRA dropout stream (four 32-bit words): saved with a training state so a resumed run draws
   * the masks the uninterrupted one would have.
   */
  dropoutState(): number[] {
    return this.w.rng.getState();
  }

  /** Moves the LoRA dropout stream to a position `dropoutState` returned; `invalid_argument` for a malformed one. */
  setDropoutState(state: ArrayLike<number>): void {
    this.w.rng.setState(state);
  }

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    for (const p of this.w.params) p.grad.fill(0);
  }

  /**
   * Runs the causal LM over tokens (B, T): position t predicts token t + 1 of its sequence. Returns the mean
   * cross-entropy over the positions whose `mask` (B, T) entry is 1 (all positions when undefined; the last position
   * of each sequence never has a target), saves the activations `backward` needs, and applies LoRA dropout.
   *
   * Throws `invalid_argument` for non-positive or inconsistent sizes, T < 2, a token outside [0, V), a mask entry
   * other than 0 or 1, or a mask that counts no target.
   */
  forwardLoss(tokens: Int32Array, mask: Float32Array | undefined, B: number, T: number): number {
    this.pendingB = 0;
    this.checkBatch(tokens, B, T, 2);
    const R = B * T;
    if (mask !== undefined && mask.length !== R) {
      invalid(`mask has ${mask.length} entries for B·T = ${R} tokens`, { length: mask.length, needed: R });
    }
    const a = this.arena;
    this.prepare(tokens, B, T);
    let count = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        const m = mask === undefined ? 1 : mask[r];
        if (m !== 0 && m !== 1) invalid(`mask entries must be 0 or 1, got ${m} at index ${r}`, { index: r, value: m });
        const counts = t < T - 1 ? m : 0;
        a.rowMask[r] = counts;
        a.targets[r] = t < T - 1 ? tokens[r + 1] : 0;
        count += counts;
      }
    }
    if (count === 0) invalid("the mask counts no next-token target: the loss would be undefined");
    const dropout = this.w.dropout;
    this.pass.forward(B, T, dropout);
    const loss = this.fast !== undefined ? this.fast.loss(R, count) : this.plain!.loss(R);
    this.counted = count;
    this.pendingB = B;
    this.pendingT = T;
    this.pendingDropout = dropout;
    return loss;
  }

  /**
   * Accumulates into every parameter's `grad` the gradient of the last `forwardLoss`, times `scale` (default 1;
   * for gradient accumulation over micro-batches, e.g. each batch's lastTokenCount / total tokens). Consumes the
   * saved activations: throws `invalid_argument` without a `forwardLoss` since the last backward or `logits` call.
   */
  backward(scale = 1): void {
    if (this.pendingB === 0) invalid("backward needs a forwardLoss first (each forwardLoss allows one backward)");
    if (!Number.isFinite(scale)) invalid(`backward scale must be finite, got ${scale}`);
    const B = this.pendingB;
    const T = this.pendingT;
    const dropout = this.pendingDropout;
    this.pendingB = 0;
    this.pass.backward(B, T, dropout, scale);
  }

  /**
   * The logits (B, T, V) of every position, without dropout: the forward alone, for tests and evaluation. Returns
   * a fresh array. Discards the activations a pending `backward` would have used.
   */
  logits(tokens: Int32Array, B: number, T: number): A {
    this.pendingB = 0;
    this.checkBatch(tokens, B, T, 1);
    this.prepare(tokens, B, T);
    this.pass.forward(B, T, 0);
    const n = B * T * this.config.vocabSize;
    const src = this.config.finalLogitSoftcap > 0 ? this.arena.capped : this.arena.logits;
    return src.slice(0, n) as A;
  }

  /**
   * Full mode: every parameter as a float32 tensor by its Hugging Face name, ready for `writeSafetensors`.
   * Throws `invalid_argument` in LoRA mode (whose parameters are the adapter, see parameters()).
   */
  exportWeights(): TensorToWrite[] {
    if (this.mode !== "full") invalid('exportWeights needs mode "full"; in LoRA mode the trained tensors are the adapter');
    return this.w.params.map((p) => ({
      name: p.name,
      dtype: "F32" as const,
      shape: [...p.shape],
      data: new Uint8Array(Float32Array.from(p.value).buffer),
    }));
  }

  private checkBatch(tokens: Int32Array, B: number, T: number, minT: number): void {
    if (!Number.isInteger(B) || B < 1) invalid(`B must be a positive integer, got ${B}`);
    if (!Number.isInteger(T) || T < minT) {
      invalid(minT > 1 ? `T must be an integer of at least ${minT} (a target needs a next token), got ${T}` : `T must be a positive integer, got ${T}`);
    }
    if (tokens.length !== B * T) invalid(`tokens has ${tokens.length} entries for B·T = ${B * T}`, { length: tokens.length, needed: B * T });
    const V = this.config.vocabSize;
    for (let i = 0; i < tokens.length; i++) {
      const id = tokens[i];
      if (id < 0 || id >= V) invalid(`token id ${id} at index ${i} is outside the vocabulary [0, ${V})`, { tokenId: id, index: i, vocabSize: V });
    }
  }

  /** Sizes the arena and rope tables for (B, T) and writes ids and positions. */
  private prepare(tokens: Int32Array, B: number, T: number): void {
    const a = this.arena;
    this.pass.ensure(B * T, T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        a.ids[b * T + t] = tokens[b * T + t];
        a.positions[b * T + t] = t;
      }
    }
  }

}

/** Rejects configs the kernels cannot run, naming the field (as the engine does). */
function checkConfig(c: ModelConfig): void {
  const fail = (message: string): never => {
    throw new InferenceError({ code: "invalid_model", op, message });
  };
  for (const key of ["vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKVHeads", "headDim"] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) fail(`${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.headDim % 2 !== 0) fail(`headDim must be even for rope, got ${c.headDim}`);
  if (c.numHeads % c.numKVHeads !== 0) fail(`numHeads (${c.numHeads}) must be a multiple of numKVHeads (${c.numKVHeads})`);
  if (c.layerTypes.length !== c.numLayers) fail(`layerTypes has ${c.layerTypes.length} entries for ${c.numLayers} layers`);
  if (c.layerTypes.includes("sliding") && !(c.slidingWindow >= 1)) {
    fail(`sliding layers need a positive slidingWindow, got ${c.slidingWindow}`);
  }
}
