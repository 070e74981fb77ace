/**
 * The float32 forward and backward of a TrainableTransformer on the WebAssembly SIMD kernels: the same computation,
 * in the same order, as the plain passes in ../trainable-transformer.ts (which stay the float64 reference), with
 * every parameter, gradient, activation and scratch buffer in one arena and each hot operation one kernel call,
 * split over the worker threads when it is big enough. Rarely-hot pieces (soft-capping the final logits, the
 * embedding's scatter-add backward) run the plain kernels on the arena views. Not the weights' layout
 * (../trainable-weights.ts), the saved activations (../activation-arena.ts) or the runtime (fast-runtime.ts).
 */
import type { ModelConfig } from "../../model-config.js";
import { ropeTable } from "../../engine/kernels/reference/index.js";
import type { ActivationArena } from "../activation-arena.js";
import { embeddingBackward, softcapBackward, softcapForward } from "../kernels/index.js";
import type { TrainMatrix, TrainNorm, TrainWeights } from "../trainable-weights.js";
import { FastLinear, type LinearScratch } from "./fast-linear.js";
import type { FastRuntime } from "./fast-runtime.js";

/** Frozen 16-bit weights are widened to float32 when all of them take at most this many bytes widened. */
const WIDEN_LIMIT_BYTES = 2 ** 30;

/** Rope tables in the arena: cos, sin and −sin (P, D/2) for global and (Gemma) local layers. */
interface RopeTables {
  cos: number;
  sin: number;
  negSin: number;
}

export class FastPass {
  private rows = 0;
  private positions = 0;
  private mark: number;
  private linear!: FastLinear;
  private scratch!: LinearScratch;
  private attnScratch = 0; // (threads, 2·T) float32
  private global!: RopeTables;
  private readonly widened = new Map<Uint16Array, number>();
  private local!: RopeTables;

  constructor(
    private readonly rt: FastRuntime,
    private readonly config: ModelConfig,
    private readonly w: TrainWeights,
    private readonly a: ActivationArena,
    private readonly invFreqGlobal: Float32Array,
    private readonly invFreqLocal: Float32Array,
    private readonly localRope: boolean,
  ) {
    // Copy every frozen tensor in now, below the mark, so releasing the activations never frees them. Frozen
    // 16-bit matrices are widened to float32 when that fits (the float32 kernels are as fast, and a LoRA model
    // then computes exactly what a full model of the same weights does); otherwise the 16-bit kernels read them.
    const halves = new Set<TrainMatrix>();
    const frozenMatrix = (m: TrainMatrix) => {
      if (m.w !== undefined) rt.frozen(m.w);
      if (m.half !== undefined) halves.add(m);
      if (m.bias !== undefined) rt.frozen(m.bias);
    };
    const frozenNorm = (n: TrainNorm | undefined) => {
      if (n !== undefined) rt.frozen(n.w);
    };
    frozenMatrix(w.embed);
    frozenMatrix(w.lmHead);
    frozenNorm(w.norm);
    for (const l of w.layers) {
      for (const m of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) frozenMatrix(m);
      for (const n of [l.inputNorm, l.qNorm, l.kNorm, l.postAttnNorm, l.preFfNorm, l.postFfNorm]) frozenNorm(n);
    }
    let halfBytes = 0;
    for (const m of halves) halfBytes += m.O * m.C * 4;
    for (const m of halves) {
      if (halfBytes <= WIDEN_LIMIT_BYTES) {
        const wide = rt.f32(m.O * m.C);
        const lut = m.lut!;
        const half = m.half!;
        for (let i = 0; i < wide.length; i++) wide[i] = lut[half[i]];
        this.widened.set(half, rt.ptr(wide));
      } else {
        rt.frozen(m.half!);
      }
    }
    this.mark = rt.mark();
  }

  /** Makes room for R rows and sequences of T: when either grows, frees every activation and allocates afresh. */
  ensure(R: number, T: number): void {
    if (R <= this.rows && T <= this.positions) return;
    const rt = this.rt;
    const cfg = this.config;
    R = Math.max(R, this.rows);
    T = Math.max(T, this.positions);
    rt.release(this.mark);
    this.a.reset();
    this.a.ensure(R, T);
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, vocabSize: V } = cfg;
    const maxIn = Math.max(C, F, H * D);
    const maxOut = Math.max(V, C, F, H * D, G * D);
    const r = Math.max(1, this.w.maxRank);
    this.scratch = {
      wT: rt.bytes(4 * Math.max(V * C, C * F, C * H * D)),
      dOutT: rt.bytes(4 * maxOut * R),
      xT: rt.bytes(4 * maxIn * R),
      xTOf: 0,
      tmp: rt.bytes(4 * maxIn * R),
      xk: rt.bytes(4 * maxIn * R),
      xs: rt.bytes(4 * r * R),
      small: rt.bytes(4 * r * R),
      smallW: rt.bytes(4 * r * Math.max(maxIn, maxOut)),
    };
    this.linear = new FastLinear(rt, this.scratch, this.widened);
    this.attnScratch = rt.bytes(rt.threads * 2 * T * 4);
    const half = D / 2;
    const table = (invFreq: Float32Array): RopeTables => {
      const cos = rt.f32(T * half);
      const sin = rt.f32(T * half);
      const negSin = rt.f32(T * half);
      ropeTable(cos, sin, invFreq, 0, T, D);
      for (let i = 0; i < T * half; i++) negSin[i] = -sin[i];
      return { cos: rt.ptr(cos), sin: rt.ptr(sin), negSin: rt.ptr(negSin) };
    };
    this.global = table(this.invFreqGlobal);
    this.local = this.localRope ? table(this.invFreqLocal) : this.global;
    this.rows = R;
    this.positions = T;
  }

  private norm(out: number, inv: number, x: number, n: TrainNorm, N: number, C: number): void {
    const cfg = this.config;
    this.rt.run("rmsNormSave", [out, inv, x, this.rt.frozen(n.w), C, cfg.rmsNormEps, cfg.normPlusOne ? 1 : 0], N, 1, N * C);
  }

  private normBackward(dX: number, dOut: number, x: number, inv: number, n: TrainNorm, N: number, C: number): void {
    const rt = this.rt;
    rt.run("rmsNormBackward", [dX, dOut, x, inv, rt.frozen(n.w), C, this.config.normPlusOne ? 1 : 0], N, 1, N * C);
    if (n.dW !== undefined) rt.run("rmsNormGradW", [rt.ptr(n.dW), dOut, x, inv, N, C], C, 4, N * C);
  }

  /** The forward over the prepared rows (B sequences of T), saving activations; leaves the pre-cap logits. */
  forward(B: number, T: number, dropout: number): void {
    const cfg = this.config;
    const rt = this.rt;
    const p = (v: ArrayBufferView) => rt.ptr(v);
    const R = B * T;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D } = cfg;
    const a = this.a;
    const w = this.w;
    const lin = this.linear;
    const rng = w.rng;

    const x0 = p(a.layers[0]?.x ?? a.xF);
    const e = w.embed;
    const wide = e.half === undefined ? undefined : this.widened.get(e.half);
    if (e.w !== undefined || wide !== undefined) {
      rt.run("embeddingF32", [x0, p(a.ids), wide ?? rt.frozen(e.w!), cfg.embeddingScale, C, cfg.vocabSize], R, 1, 0);
    } else {
      rt.run(e.halfDtype === "F16" ? "embeddingF16" : "embeddingBF16", [x0, p(a.ids), rt.frozen(e.half!), cfg.embeddingScale, C, cfg.vocabSize], R, 1, 0);
    }

    for (let l = 0; l < cfg.numLayers; l++) {
      const lw = w.layers[l];
      const s = a.layers[l];
      const next = p(l + 1 < cfg.numLayers ? a.layers[l + 1].x : a.xF);
      const sliding = cfg.layerTypes[l] === "sliding";
      const window = sliding ? cfg.slidingWindow : 0;
      const rope = sliding && this.localRope ? this.local : this.global;
      const [x, xn1, q, k, v, att, h, xn2] = [s.x, s.xn1, s.q, s.k, s.v, s.att, s.h, s.xn2].map(p);

      this.norm(xn1, p(s.inv1), x, lw.inputNorm, R, C);
      if (lw.qNorm !== undefined && lw.kNorm !== undefined) {
        lin.forward(lw.q, p(s.qRaw!), xn1, R, dropout, rng);
        lin.forward(lw.k, p(s.kRaw!), xn1, R, dropout, rng);
        this.norm(q, p(s.qInv!), p(s.qRaw!), lw.qNorm, R * H, D);
        this.norm(k, p(s.kInv!), p(s.kRaw!), lw.kNorm, R * G, D);
      } else {
        lin.forward(lw.q, q, xn1, R, dropout, rng);
        lin.forward(lw.k, k, xn1, R, dropout, rng);
      }
      lin.forward(lw.v, v, xn1, R, dropout, rng);
      const positions = p(a.positions);
      rt.run("rope", [q, rope.cos, rope.sin, positions, H, D], R * H, 4, R * H * D);
      rt.run("rope", [k, rope.cos, rope.sin, positions, G, D], R * G, 4, R * G * D);
      rt.run(
        "attentionTrain",
        [att, p(s.lse), q, k, v, this.attnScratch, T, H, G, D, window, cfg.attentionScale, cfg.attnLogitSoftcap],
        B * H, 1, B * H * T * T * D, 5, 2 * T * 4,
      );
      const proj = p(a.proj);
      if (lw.preFfNorm !== undefined) {
        lin.forward(lw.o, p(s.oOut!), att, R, dropout, rng);
        this.norm(proj, p(s.invPostAttn!), p(s.oOut!), lw.postAttnNorm, R, C);
        rt.run("add", [h, x, proj], R * C, 4, R * C);
        this.norm(xn2, p(s.inv2), h, lw.preFfNorm, R, C);
      } else {
        lin.forward(lw.o, proj, att, R, dropout, rng);
        rt.run("add", [h, x, proj], R * C, 4, R * C);
        this.norm(xn2, p(s.inv2), h, lw.postAttnNorm, R, C);
      }
      const [gate, up, act] = [s.gate, s.up, s.act].map(p);
      lin.forward(lw.gate, gate, xn2, R, dropout, rng);
      lin.forward(lw.up, up, xn2, R, dropout, rng);
      rt.run(cfg.activation === "silu" ? "swiglu" : "geglu", [act, gate, up], R * F, 4, R * F);
      if (lw.postFfNorm !== undefined) {
        lin.forward(lw.down, p(s.down!), act, R, dropout, rng);
        this.norm(proj, p(s.invPostFf!), p(s.down!), lw.postFfNorm, R, C);
      } else {
        lin.forward(lw.down, proj, act, R, dropout, rng);
      }
      rt.run("add", [next, h, proj], R * C, 4, R * C);
    }

    this.norm(p(a.xnF), p(a.invF), p(a.xF), w.norm, R, C);
    lin.forward(w.lmHead, p(a.logits), p(a.xnF), R, 0, rng);
    const cap = cfg.finalLogitSoftcap;
    if (cap > 0) softcapForward(a.capped, a.logits, cap, R * cfg.vocabSize);
  }

  /**
   * The loss of the last forward over R rows whose targets and rowMask are set, counting `count` rows; leaves in
   * arena.logits the gradient with respect to the pre-cap logits.
   */
  loss(R: number, count: number): number {
    const rt = this.rt;
    const a = this.a;
    const V = this.config.vocabSize;
    const cap = this.config.finalLogitSoftcap;
    for (let r = 0; r < R; r++) a.maskF[r] = a.rowMask[r];
    const y = cap > 0 ? a.capped : a.logits;
    rt.run("crossEntropy", [rt.ptr(a.logits), rt.ptr(a.rowLoss), rt.ptr(y), rt.ptr(a.targets), rt.ptr(a.maskF), 1 / count, V], R, 1, R * V);
    let sum = 0;
    for (let r = 0; r < R; r++) sum += a.rowLoss[r];
    if (cap > 0) softcapBackward(a.logits, a.logits, a.capped, cap, R * V);
    return sum / count;
  }

  /** Accumulates every trainable gradient of the last forward and loss (B sequences of T), times `scale`. */
  backward(B: number, T: number, dropout: number, scale: number): void {
    const cfg = this.config;
    const rt = this.rt;
    const p = (v: ArrayBufferView) => rt.ptr(v);
    const R = B * T;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, vocabSize: V } = cfg;
    const a = this.a;
    const w = this.w;
    const lin = this.linear;
    this.scratch.xTOf = 0;
    const [dx, dBranch, dXn, dAtt, dq, dk, dv, dAct, dGate, dUp] =
      [a.dx, a.dBranch, a.dXn, a.dAtt, a.dq, a.dk, a.dv, a.dAct, a.dGate, a.dUp].map(p);

    const dLogits = p(a.logits);
    if (scale !== 1) rt.run("scaleF32", [dLogits, dLogits, scale], R * V, 4, R * V);
    a.dXn.fill(0, 0, R * C);
    lin.backward(w.lmHead, dXn, dLogits, p(a.xnF), R, 0);
    a.dx.fill(0, 0, R * C);
    this.normBackward(dx, dXn, p(a.xF), p(a.invF), w.norm, R, C);

    for (let l = cfg.numLayers - 1; l >= 0; l--) {
      const lw = w.layers[l];
      const s = a.layers[l];
      const sliding = cfg.layerTypes[l] === "sliding";
      const window = sliding ? cfg.slidingWindow : 0;
      const rope = sliding && this.localRope ? this.local : this.global;

      let dDown = dx;
      if (lw.postFfNorm !== undefined) {
        a.dBranch.fill(0, 0, R * C);
        this.normBackward(dBranch, dx, p(s.down!), p(s.invPostFf!), lw.postFfNorm, R, C);
        dDown = dBranch;
      }
      a.dAct.fill(0, 0, R * F);
      lin.backward(lw.down, dAct, dDown, p(s.act), R, dropout);
      rt.run(cfg.activation === "silu" ? "swigluBackward" : "gegluBackward", [dGate, dUp, dAct, p(s.gate), p(s.up)], R * F, 4, R * F);
      a.dXn.fill(0, 0, R * C);
      const xn2 = p(s.xn2);
      lin.backward(lw.gate, dXn, dGate, xn2, R, dropout);
      lin.backward(lw.up, dXn, dUp, xn2, R, dropout);
      this.normBackward(dx, dXn, p(s.h), p(s.inv2), lw.preFfNorm ?? lw.postAttnNorm, R, C);

      let dO = dx;
      if (lw.preFfNorm !== undefined) {
        a.dBranch.fill(0, 0, R * C);
        this.normBackward(dBranch, dx, p(s.oOut!), p(s.invPostAttn!), lw.postAttnNorm, R, C);
        dO = dBranch;
      }
      a.dAtt.fill(0, 0, R * H * D);
      const att = p(s.att);
      lin.backward(lw.o, dAtt, dO, att, R, dropout);
      a.dq.fill(0, 0, R * H * D);
      a.dk.fill(0, 0, R * G * D);
      a.dv.fill(0, 0, R * G * D);
      const stats = p(s.lse);
      rt.run("attentionDelta", [stats, dAtt, att, D], R * H, 1, R * H * D);
      rt.run(
        "attentionBackward",
        [dq, dk, dv, dAtt, p(s.q), p(s.k), p(s.v), stats, this.attnScratch, T, H, G, D, window, cfg.attentionScale, cfg.attnLogitSoftcap],
        B * G, 1, B * H * T * T * D, 8, 2 * T * 4,
      );
      const positions = p(a.positions);
      rt.run("rope", [dq, rope.cos, rope.negSin, positions, H, D], R * H, 4, R * H * D);
      rt.run("rope", [dk, rope.cos, rope.negSin, positions, G, D], R * G, 4, R * G * D);
      let dQLin = dq;
      let dKLin = dk;
      if (lw.qNorm !== undefined && lw.kNorm !== undefined) {
        a.dqRaw.fill(0, 0, R * H * D);
        a.dkRaw.fill(0, 0, R * G * D);
        dQLin = p(a.dqRaw);
        dKLin = p(a.dkRaw);
        this.normBackward(dQLin, dq, p(s.qRaw!), p(s.qInv!), lw.qNorm, R * H, D);
        this.normBackward(dKLin, dk, p(s.kRaw!), p(s.kInv!), lw.kNorm, R * G, D);
      }
      a.dXn.fill(0, 0, R * C);
      const xn1 = p(s.xn1);
      lin.backward(lw.q, dXn, dQLin, xn1, R, dropout);
      lin.backward(lw.k, dXn, dKLin, xn1, R, dropout);
      lin.backward(lw.v, dXn, dv, xn1, R, dropout);
      this.normBackward(dx, dXn, p(s.x), p(s.inv1), lw.inputNorm, R, C);
    }
    if (w.embed.dW !== undefined) embeddingBackward(w.embed.dW, a.dx, a.ids, cfg.embeddingScale, R, C);
  }
}
