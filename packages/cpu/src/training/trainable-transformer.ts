/**
 * A transformer that trains: the forward pass of every supported architecture (the same computation as
 * engine/transformer.ts, checked against it) over a batch of B sequences of T tokens, the causal-LM cross-entropy,
 * and the backward pass accumulating gradients into the trainable parameters, full (every tensor, float32 copies)
 * or LoRA (frozen base in its stored dtype, float32 A/B pairs). Memory is one ActivationArena proportional to B·T.
 * Not an optimizer (optimizer.ts), not adapter files (peft.ts), not a tokenizer or data pipeline.
 */
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig, WeightStore } from "../model-config.js";
import { ropeTable } from "../engine/kernels/reference/index.js";
import { ropeInverseFrequencies } from "../engine/rope-frequencies.js";
import type { TensorToWrite } from "../loader/safetensors-writer.js";
import { ActivationArena } from "./activation-arena.js";
import type { Floats } from "./kernels/floats.js";
import {
  addInto,
  attentionBackward,
  attentionForward,
  crossEntropyForwardBackward,
  embeddingBackward,
  embeddingForward,
  embeddingHalfForward,
  gegluBackward,
  gegluForward,
  rmsNormBackward,
  rmsNormForward,
  ropeBackward,
  ropeForward,
  softcapBackward,
  softcapForward,
  swigluBackward,
  swigluForward,
} from "./kernels/index.js";
import { linearBackward, linearForward } from "./train-linear.js";
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
  private counted = 0;
  private readonly w: TrainWeights;
  private readonly arena: ActivationArena;
  private readonly make: (n: number) => Floats;
  private readonly invFreqGlobal: Float32Array; // (D/2)
  private readonly invFreqLocal: Float32Array; // (D/2)
  private readonly localRope: boolean;
  private ropePositions = 0;
  private cosGlobal = new Float32Array(0); // (P, D/2)
  private sinGlobal = new Float32Array(0); // (P, D/2)
  private cosLocal = new Float32Array(0); // (P, D/2)
  private sinLocal = new Float32Array(0); // (P, D/2)
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
    this.make = precision === "float64" ? (n) => new Float64Array(n) : (n) => new Float32Array(n);
    this.w = buildTrainWeights(config, weights, opts, this.make);
    this.mode = opts.mode;
    this.arena = new ActivationArena(config, this.w, this.make);
    const D = config.headDim;
    this.invFreqGlobal = ropeInverseFrequencies(D, config.ropeTheta, config.ropeScaling);
    this.localRope = config.architecture === "gemma3_text";
    this.invFreqLocal = this.localRope ? ropeInverseFrequencies(D, config.ropeLocalTheta, { type: "none" }) : this.invFreqGlobal;
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
    this.run(B, T, dropout);
    const V = this.config.vocabSize;
    const cap = this.config.finalLogitSoftcap;
    const y = cap > 0 ? a.capped : a.logits;
    // The gradient overwrites the logits; under a soft-cap it is then carried back through the cap.
    const loss = crossEntropyForwardBackward(a.logits, y, a.targets, a.rowMask, R, V);
    if (cap > 0) softcapBackward(a.logits, a.logits, a.capped, cap, R * V);
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
    const R = B * T;
    const cfg = this.config;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, vocabSize: V } = cfg;
    const plusOne = cfg.normPlusOne;
    const a = this.arena;
    const w = this.w;
    const { dx, dBranch, dXn, dAtt, dq, dk, dv, dqRaw, dkRaw, dAct, dGate, dUp, dXa } = a;

    const dLogits = a.logits;
    if (scale !== 1) for (let i = 0; i < R * V; i++) dLogits[i] *= scale;
    dXn.fill(0, 0, R * C);
    linearBackward(w.lmHead, dXn, dLogits, a.xnF, dXa, R, 0);
    dx.fill(0, 0, R * C);
    rmsNormBackward(dx, w.norm.dW, dXn, a.xF, a.invF, w.norm.w, R, C, plusOne);

    for (let l = cfg.numLayers - 1; l >= 0; l--) {
      const lw = w.layers[l];
      const s = a.layers[l];
      const sliding = cfg.layerTypes[l] === "sliding";
      const window = sliding ? cfg.slidingWindow : 0;
      const local = sliding && this.localRope;

      // MLP sublayer: x' = h + [postFf](down(act(gate(n2(h))) · up(n2(h)))).
      let dDown = dx;
      if (lw.postFfNorm !== undefined) {
        dBranch.fill(0, 0, R * C);
        rmsNormBackward(dBranch, lw.postFfNorm.dW, dx, s.down!, s.invPostFf!, lw.postFfNorm.w, R, C, plusOne);
        dDown = dBranch;
      }
      dAct.fill(0, 0, R * F);
      linearBackward(lw.down, dAct, dDown, s.act, dXa, R, dropout);
      dGate.fill(0, 0, R * F);
      dUp.fill(0, 0, R * F);
      if (cfg.activation === "silu") swigluBackward(dGate, dUp, dAct, s.gate, s.up, R * F);
      else gegluBackward(dGate, dUp, dAct, s.gate, s.up, R * F);
      dXn.fill(0, 0, R * C);
      linearBackward(lw.gate, dXn, dGate, s.xn2, dXa, R, dropout);
      linearBackward(lw.up, dXn, dUp, s.xn2, dXa, R, dropout);
      const n2 = lw.preFfNorm ?? lw.postAttnNorm;
      rmsNormBackward(dx, n2.dW, dXn, s.h, s.inv2, n2.w, R, C, plusOne); // dx: now the gradient of h

      // Attention sublayer: h = x + [postAttn](o(attn(rope(qk-norm(q/k/v(n1(x))))))).
      let dO = dx;
      if (lw.preFfNorm !== undefined) {
        dBranch.fill(0, 0, R * C);
        rmsNormBackward(dBranch, lw.postAttnNorm.dW, dx, s.oOut!, s.invPostAttn!, lw.postAttnNorm.w, R, C, plusOne);
        dO = dBranch;
      }
      dAtt.fill(0, 0, R * H * D);
      linearBackward(lw.o, dAtt, dO, s.att, dXa, R, dropout);
      dq.fill(0, 0, R * H * D);
      dk.fill(0, 0, R * G * D);
      dv.fill(0, 0, R * G * D);
      attentionBackward(dq, dk, dv, dAtt, s.q, s.k, s.v, s.att, s.lse, B, T, H, G, D, window, cfg.attentionScale, cfg.attnLogitSoftcap);
      const cos = local ? this.cosLocal : this.cosGlobal;
      const sin = local ? this.sinLocal : this.sinGlobal;
      ropeBackward(dq, cos, sin, a.positions, R, H, D);
      ropeBackward(dk, cos, sin, a.positions, R, G, D);
      let dQLin = dq;
      let dKLin = dk;
      if (lw.qNorm !== undefined && lw.kNorm !== undefined) {
        dqRaw.fill(0, 0, R * H * D);
        dkRaw.fill(0, 0, R * G * D);
        rmsNormBackward(dqRaw, lw.qNorm.dW, dq, s.qRaw!, s.qInv!, lw.qNorm.w, R * H, D, plusOne);
        rmsNormBackward(dkRaw, lw.kNorm.dW, dk, s.kRaw!, s.kInv!, lw.kNorm.w, R * G, D, plusOne);
        dQLin = dqRaw;
        dKLin = dkRaw;
      }
      dXn.fill(0, 0, R * C);
      linearBackward(lw.q, dXn, dQLin, s.xn1, dXa, R, dropout);
      linearBackward(lw.k, dXn, dKLin, s.xn1, dXa, R, dropout);
      linearBackward(lw.v, dXn, dv, s.xn1, dXa, R, dropout);
      rmsNormBackward(dx, lw.inputNorm.dW, dXn, s.x, s.inv1, lw.inputNorm.w, R, C, plusOne); // dx: gradient of x
    }
    if (w.embed.dW !== undefined) embeddingBackward(w.embed.dW, dx, a.ids, cfg.embeddingScale, R, C);
  }

  /**
   * The logits (B, T, V) of every position, without dropout: the forward alone, for tests and evaluation. Returns
   * a fresh array. Discards the activations a pending `backward` would have used.
   */
  logits(tokens: Int32Array, B: number, T: number): A {
    this.pendingB = 0;
    this.checkBatch(tokens, B, T, 1);
    this.prepare(tokens, B, T);
    this.run(B, T, 0);
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
    a.ensure(B * T, T);
    if (T > this.ropePositions) this.growRope(T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        a.ids[b * T + t] = tokens[b * T + t];
        a.positions[b * T + t] = t;
      }
    }
  }

  /** The forward over the prepared rows, saving activations; leaves the (pre-cap) logits in arena.logits. */
  private run(B: number, T: number, dropout: number): void {
    const cfg = this.config;
    const R = B * T;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, rmsNormEps: eps } = cfg;
    const plusOne = cfg.normPlusOne;
    const a = this.arena;
    const w = this.w;
    const rng = w.rng;

    const x0 = a.layers[0]?.x ?? a.xF;
    if (w.embed.w !== undefined) embeddingForward(x0, a.ids, w.embed.w, cfg.embeddingScale, R, C);
    else embeddingHalfForward(x0, a.ids, w.embed.half!, w.embed.lut!, cfg.embeddingScale, R, C);

    for (let l = 0; l < cfg.numLayers; l++) {
      const lw = w.layers[l];
      const s = a.layers[l];
      const next = l + 1 < cfg.numLayers ? a.layers[l + 1].x : a.xF;
      const sliding = cfg.layerTypes[l] === "sliding";
      const window = sliding ? cfg.slidingWindow : 0;
      const local = sliding && this.localRope;

      rmsNormForward(s.xn1, s.inv1, s.x, lw.inputNorm.w, R, C, eps, plusOne);
      if (lw.qNorm !== undefined && lw.kNorm !== undefined) {
        linearForward(lw.q, s.qRaw!, s.xn1, R, dropout, rng);
        linearForward(lw.k, s.kRaw!, s.xn1, R, dropout, rng);
        rmsNormForward(s.q, s.qInv!, s.qRaw!, lw.qNorm.w, R * H, D, eps, plusOne);
        rmsNormForward(s.k, s.kInv!, s.kRaw!, lw.kNorm.w, R * G, D, eps, plusOne);
      } else {
        linearForward(lw.q, s.q, s.xn1, R, dropout, rng);
        linearForward(lw.k, s.k, s.xn1, R, dropout, rng);
      }
      linearForward(lw.v, s.v, s.xn1, R, dropout, rng);
      const cos = local ? this.cosLocal : this.cosGlobal;
      const sin = local ? this.sinLocal : this.sinGlobal;
      ropeForward(s.q, cos, sin, a.positions, R, H, D);
      ropeForward(s.k, cos, sin, a.positions, R, G, D);
      attentionForward(s.att, s.lse, s.q, s.k, s.v, a.scores, B, T, H, G, D, window, cfg.attentionScale, cfg.attnLogitSoftcap);
      if (lw.preFfNorm !== undefined) {
        // gemma3: norm the sublayer output before the residual add, then pre-norm the MLP input.
        linearForward(lw.o, s.oOut!, s.att, R, dropout, rng);
        rmsNormForward(a.proj, s.invPostAttn!, s.oOut!, lw.postAttnNorm.w, R, C, eps, plusOne);
        addInto(s.h, s.x, a.proj, R * C);
        rmsNormForward(s.xn2, s.inv2, s.h, lw.preFfNorm.w, R, C, eps, plusOne);
      } else {
        linearForward(lw.o, a.proj, s.att, R, dropout, rng);
        addInto(s.h, s.x, a.proj, R * C);
        rmsNormForward(s.xn2, s.inv2, s.h, lw.postAttnNorm.w, R, C, eps, plusOne);
      }
      linearForward(lw.gate, s.gate, s.xn2, R, dropout, rng);
      linearForward(lw.up, s.up, s.xn2, R, dropout, rng);
      if (cfg.activation === "silu") swigluForward(s.act, s.gate, s.up, R * F);
      else gegluForward(s.act, s.gate, s.up, R * F);
      if (lw.postFfNorm !== undefined) {
        linearForward(lw.down, s.down!, s.act, R, dropout, rng);
        rmsNormForward(a.proj, s.invPostFf!, s.down!, lw.postFfNorm.w, R, C, eps, plusOne);
      } else {
        linearForward(lw.down, a.proj, s.act, R, dropout, rng);
      }
      addInto(next, s.h, a.proj, R * C);
    }

    rmsNormForward(a.xnF, a.invF, a.xF, w.norm.w, R, C, eps, plusOne);
    linearForward(w.lmHead, a.logits, a.xnF, R, 0, rng);
    const cap = cfg.finalLogitSoftcap;
    if (cap > 0) softcapForward(a.capped, a.logits, cap, R * cfg.vocabSize);
  }

  private growRope(P: number): void {
    const D = this.config.headDim;
    const half = D >>> 1;
    this.cosGlobal = new Float32Array(P * half);
    this.sinGlobal = new Float32Array(P * half);
    ropeTable(this.cosGlobal, this.sinGlobal, this.invFreqGlobal, 0, P, D);
    if (this.localRope) {
      this.cosLocal = new Float32Array(P * half);
      this.sinLocal = new Float32Array(P * half);
      ropeTable(this.cosLocal, this.sinLocal, this.invFreqLocal, 0, P, D);
    }
    this.ropePositions = P;
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
