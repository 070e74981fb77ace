/**
 * The plain forward and backward passes of a TrainableTransformer: JavaScript loops over float32 or float64 arrays
 * (the training kernels in kernels/, and the engine's reference kernels for float32 matmuls). The float64 path of
 * gradient checks, the reference the fast WebAssembly path (fast/fast-pass.ts) is tested against, and the fallback
 * where WebAssembly SIMD is unavailable. Not the batch checks, options or parameter list (trainable-transformer.ts).
 */
import type { ModelConfig } from "../model-config.js";
import { ropeTable } from "../engine/kernels/reference/index.js";
import type { ActivationArena } from "./activation-arena.js";
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
import type { TrainWeights } from "./trainable-weights.js";

export class PlainPass {
  private ropePositions = 0;
  private cosGlobal = new Float32Array(0); // (P, D/2)
  private sinGlobal = new Float32Array(0); // (P, D/2)
  private cosLocal = new Float32Array(0); // (P, D/2)
  private sinLocal = new Float32Array(0); // (P, D/2)

  constructor(
    private readonly config: ModelConfig,
    private readonly w: TrainWeights,
    private readonly arena: ActivationArena,
    private readonly invFreqGlobal: Float32Array, // (D/2)
    private readonly invFreqLocal: Float32Array, // (D/2)
    private readonly localRope: boolean,
  ) {}

  /** Makes room for R rows and sequences of T. */
  ensure(R: number, T: number): void {
    this.arena.ensure(R, T);
    if (T > this.ropePositions) this.growRope(T);
  }

  /** The forward over the prepared rows (B sequences of T), saving activations; leaves the pre-cap logits. */
  forward(B: number, T: number, dropout: number): void {
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

  /**
   * The mean loss of the last forward over R rows whose targets and rowMask are set; leaves in arena.logits the
   * gradient with respect to the pre-cap logits.
   */
  loss(R: number): number {
    const a = this.arena;
    const V = this.config.vocabSize;
    const cap = this.config.finalLogitSoftcap;
    const y = cap > 0 ? a.capped : a.logits;
    // The gradient overwrites the logits; under a soft-cap it is then carried back through the cap.
    const loss = crossEntropyForwardBackward(a.logits, y, a.targets, a.rowMask, R, V);
    if (cap > 0) softcapBackward(a.logits, a.logits, a.capped, cap, R * V);
    return loss;
  }

  /** Accumulates every trainable gradient of the last forward and loss (B sequences of T), times `scale`. */
  backward(B: number, T: number, dropout: number, scale: number): void {
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
