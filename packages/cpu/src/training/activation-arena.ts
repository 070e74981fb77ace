/**
 * The memory of one training step: what the forward saves for the backward, per layer, and the backward's shared
 * gradient scratch, all sized for R = B·T rows (proportional to the batch, never to T²: attention keeps only a
 * log-sum-exp per row). Allocated when a step needs more rows than the arena holds, then reused, so steps of a fixed
 * size allocate nothing. Not the forward or backward pass itself (trainable-transformer.ts).
 */
import type { ModelConfig } from "../model-config.js";
import type { Floats } from "./kernels/floats.js";
import type { TrainWeights } from "./trainable-weights.js";

/** Saved activations of one layer; R = B·T rows. Optional buffers exist only when the architecture needs them. */
export interface LayerActivations {
  readonly x: Floats; // (R, C) the layer's input (residual stream)
  readonly inv1: Floats; // (R) input norm's 1/rms
  readonly xn1: Floats; // (R, C) normed input of the attention sublayer
  readonly qRaw: Floats | undefined; // (R, H·D) q before its per-head norm (qkNorm)
  readonly qInv: Floats | undefined; // (R·H)
  readonly kRaw: Floats | undefined; // (R, G·D)
  readonly kInv: Floats | undefined; // (R·G)
  readonly q: Floats; // (R, H·D) after norm and rope
  readonly k: Floats; // (R, G·D) after norm and rope
  readonly v: Floats; // (R, G·D)
  readonly lse: Floats; // (R·H, 2) attention log-sum-exp per query row (the plain kernels use the first R·H), then Δ (fast path)
  readonly att: Floats; // (R, H·D) attention output, o_proj's input
  readonly oOut: Floats | undefined; // (R, C) o_proj output before the post-attention norm (sandwich norms)
  readonly invPostAttn: Floats | undefined; // (R)
  readonly h: Floats; // (R, C) residual stream after the attention sublayer
  readonly inv2: Floats; // (R) MLP input norm's 1/rms
  readonly xn2: Floats; // (R, C) normed input of the MLP
  readonly gate: Floats; // (R, F) before the activation
  readonly up: Floats; // (R, F)
  readonly act: Floats; // (R, F) act(gate) · up, down_proj's input
  readonly down: Floats | undefined; // (R, C) down_proj output before the post-feedforward norm (sandwich norms)
  readonly invPostFf: Floats | undefined; // (R)
}

export class ActivationArena {
  /** Rows the arena holds. */
  rows = 0;
  layers: LayerActivations[] = [];
  xF!: Floats; // (R, C) final residual stream
  invF!: Floats; // (R)
  xnF!: Floats; // (R, C) final normed
  logits!: Floats; // (R, V) logits; after forwardLoss, the gradient of the loss with respect to the pre-cap logits
  capped!: Floats; // (R, V) soft-capped logits, only with a final soft-cap
  proj!: Floats; // (R, C) forward scratch: a sublayer's output before the residual add
  ids!: Int32Array; // (R)
  positions!: Int32Array; // (R)
  targets!: Int32Array; // (R)
  rowMask!: Float64Array; // (R) 1 where the row's next-token target counts
  maskF!: Floats; // (R) rowMask as float32 for the WebAssembly loss (fast path)
  rowLoss!: Floats; // (R) each row's cross-entropy (fast path)
  scores!: Float64Array; // (T) attention scratch
  // Backward scratch.
  dx!: Floats; // (R, C) gradient of the residual stream
  dBranch!: Floats; // (R, C) gradient of a sublayer output before its post-norm
  dXn!: Floats; // (R, C) gradient of a normed sublayer input
  dAtt!: Floats; // (R, H·D)
  dq!: Floats; // (R, H·D)
  dk!: Floats; // (R, G·D)
  dv!: Floats; // (R, G·D)
  dqRaw!: Floats; // (R, H·D)
  dkRaw!: Floats; // (R, G·D)
  dAct!: Floats; // (R, F)
  dGate!: Floats; // (R, F)
  dUp!: Floats; // (R, F)
  dXa!: Floats; // (R, rank) LoRA scratch

  constructor(
    private readonly config: ModelConfig,
    private readonly weights: TrainWeights,
    private readonly make: (n: number) => Floats,
    /** Int32 arrays (token ids, positions, targets): plain ones, or views into the fast path's arena. */
    private readonly makeI32: (n: number) => Int32Array = (n) => new Int32Array(n),
  ) {}

  /** Forgets the buffers so the next `ensure` allocates afresh (after the fast path released their memory). */
  reset(): void {
    this.rows = 0;
  }

  /** Makes room for R rows and T positions per sequence; keeps the buffers when they are big enough. */
  ensure(R: number, T: number): void {
    if (this.scores === undefined || this.scores.length < T) this.scores = new Float64Array(T);
    if (R <= this.rows) return;
    const cfg = this.config;
    const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D, vocabSize: V } = cfg;
    const HD = H * D;
    const GD = G * D;
    const m = (n: number) => this.make(R * n);
    const maybe = (on: boolean, n: number) => (on ? m(n) : undefined);
    const qk = cfg.qkNorm;
    const sandwich = cfg.sandwichNorms;
    this.layers = this.weights.layers.map(() => ({
      x: m(C), inv1: m(1), xn1: m(C),
      qRaw: maybe(qk, HD), qInv: maybe(qk, H), kRaw: maybe(qk, GD), kInv: maybe(qk, G),
      q: m(HD), k: m(GD), v: m(GD), lse: m(2 * H), att: m(HD),
      oOut: maybe(sandwich, C), invPostAttn: maybe(sandwich, 1),
      h: m(C), inv2: m(1), xn2: m(C), gate: m(F), up: m(F), act: m(F),
      down: maybe(sandwich, C), invPostFf: maybe(sandwich, 1),
    }));
    for (const layer of this.weights.layers) {
      for (const mat of [layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down]) {
        if (mat.lora === undefined) continue;
        mat.lora.xa = m(mat.lora.r);
        mat.lora.keep = this.weights.dropout > 0 ? m(mat.C) : undefined;
      }
    }
    this.xF = m(C);
    this.invF = m(1);
    this.xnF = m(C);
    this.logits = m(V);
    this.capped = cfg.finalLogitSoftcap > 0 ? m(V) : this.make(0);
    this.proj = m(C);
    this.ids = this.makeI32(R);
    this.positions = this.makeI32(R);
    this.targets = this.makeI32(R);
    this.rowMask = new Float64Array(R);
    this.maskF = m(1);
    this.rowLoss = m(1);
    this.dx = m(C);
    this.dBranch = m(C);
    this.dXn = m(C);
    this.dAtt = m(HD);
    this.dq = m(HD);
    this.dk = m(GD);
    this.dv = m(GD);
    this.dqRaw = qk ? m(HD) : this.make(0);
    this.dkRaw = qk ? m(GD) : this.make(0);
    this.dAct = m(F);
    this.dGate = m(F);
    this.dUp = m(F);
    this.dXa = m(Math.max(1, this.weights.maxRank));
    this.rows = R;
  }
}
