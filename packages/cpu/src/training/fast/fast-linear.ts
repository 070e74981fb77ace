/**
 * Forward and backward of one projection (a `TrainMatrix`) on the WebAssembly kernels, every buffer an arena byte
 * offset: out = x · wᵀ + bias [+ s · B(A · drop(x))] with float32 or frozen F16/BF16 weights, and its backward
 * dX += dOut · w, dW += dOutᵀ · x, dBias += Σ_t dOut, LoRA's dA, dB. Each product runs in the dot-product form of
 * the matmul kernels on transposed operands (assembly/train-matmul.ts); the weight-gradient product walks the
 * token dimension in chunks so both operands stay in cache. Not the model (fast-pass.ts) and not the float64 path
 * (../train-linear.ts).
 */
import type { Rng } from "../../sampling/rng.js";
import type { TrainMatrix } from "../trainable-weights.js";
import type { FastRuntime } from "./fast-runtime.js";

/** Tokens per chunk of a weight-gradient product (keeps a 4-row tile of both operands within L1). */
const TOKEN_CHUNK = 256;

/** The scratch a linear layer's passes share, sized for R rows: byte offsets into the arena. */
export interface LinearScratch {
  wT: number; // (max C·O) float32 or 16-bit: a transposed weight
  dOutT: number; // (max O, R): a transposed output gradient
  xT: number; // (max C, R): a transposed input, reused while the input stays the same
  xTOf: number; // which input xT holds (its byte offset), 0 for none
  tmp: number; // (R, max C) float32
  xk: number; // (R, max C) dropped-out input
  xs: number; // (R, max r) scaled LoRA activations
  small: number; // (max r, R) transposed LoRA rows
  smallW: number; // (max C·r, max O·r) transposed LoRA matrices
}

export class FastLinear {
  constructor(
    private readonly rt: FastRuntime,
    readonly scratch: LinearScratch,
    /** Frozen F16/BF16 weights widened to float32 in the arena (byte offsets), when they fit (fast-pass.ts). */
    private readonly widened: ReadonlyMap<Uint16Array, number> = new Map(),
  ) {}

  /** The float32 weight of `m` (byte offset), or 0 when it is only held as 16-bit values. */
  private f32Weight(m: TrainMatrix): number {
    if (m.w !== undefined) return this.rt.frozen(m.w);
    return this.widened.get(m.half!) ?? 0;
  }

  /** out (R, O) = x (R, C) · wᵀ + bias [+ LoRA]; with dropout > 0 draws the LoRA keep mask from rng first. */
  forward(m: TrainMatrix, out: number, x: number, R: number, dropout: number, rng: Rng): void {
    const rt = this.rt;
    const { O, C } = m;
    const work = R * O * C;
    const w32 = this.f32Weight(m);
    if (w32 !== 0) rt.run("matmulF32", [out, x, w32, R, C, O], O, 4, work);
    else rt.run(m.halfDtype === "F16" ? "matmulF16" : "matmulBF16", [out, x, rt.frozen(m.half!), R, C, O], O, 4, work);
    if (m.bias !== undefined) rt.run("addBias", [out, rt.frozen(m.bias), O], R, 1, R * O);
    const lora = m.lora;
    if (lora === undefined) return;
    const r = lora.r;
    let xin = x;
    if (dropout > 0) {
      const keep = lora.keep!;
      const kept = 1 / (1 - dropout);
      const n = R * C;
      for (let i = 0; i < n; i++) keep[i] = rng.nextFloat() < dropout ? 0 : kept;
      xin = this.scratch.xk;
      rt.run("mulF32", [xin, x, rt.ptr(keep)], n, 4, n);
    }
    const xa = rt.ptr(lora.xa);
    rt.run("matmulF32", [xa, xin, rt.ptr(lora.A), R, C, r], r, 4, R * C * r);
    const xs = this.scratch.xs;
    rt.run("scaleF32", [xs, xa, lora.scale], R * r, 4, R * r);
    rt.run("matmulAccF32", [out, xs, rt.ptr(lora.B), R, r, O, r, r], O, 4, R * O * r);
  }

  /**
   * dX (R, C) += the input gradient (dX 0 to skip), and the gradients this projection trains, given dOut (R, O)
   * and the forward's input x (R, C). `dropout`: the forward's LoRA dropout (its keep mask is reused).
   */
  backward(m: TrainMatrix, dX: number, dOut: number, x: number, R: number, dropout: number): void {
    const rt = this.rt;
    const s = this.scratch;
    const { O, C } = m;
    let dOutT = 0;
    const transposedOut = (): number => {
      if (dOutT === 0) {
        dOutT = s.dOutT;
        rt.run("transposeF32", [dOutT, dOut, R, O], R, 4, R * O);
      }
      return dOutT;
    };
    if (dX !== 0) {
      const w32 = this.f32Weight(m);
      if (w32 !== 0) {
        rt.run("transposeF32", [s.wT, w32, O, C], O, 4, O * C);
        rt.run("matmulAccF32", [dX, dOut, s.wT, R, O, C, O, O], C, 4, R * O * C);
      } else {
        rt.run("transpose16", [s.wT, rt.frozen(m.half!), O, C], O, 8, O * C);
        rt.run(m.halfDtype === "F16" ? "matmulF16" : "matmulBF16", [s.tmp, dOut, s.wT, R, O, C], C, 4, R * O * C);
        rt.run("add", [dX, dX, s.tmp], R * C, 4, R * C);
      }
    }
    if (m.dW !== undefined) {
      const dOT = transposedOut();
      const xT = this.transposedInput(x, R, C);
      const dW = rt.ptr(m.dW);
      for (let t0 = 0; t0 < R; t0 += TOKEN_CHUNK) {
        const n = Math.min(TOKEN_CHUNK, R - t0);
        rt.run("matmulAccF32", [dW, dOT + t0 * 4, xT + t0 * 4, O, n, C, R, R], C, 4, O * n * C);
      }
    }
    if (m.dBias !== undefined) rt.run("biasGrad", [rt.ptr(m.dBias), dOut, R, O], O, 4, R * O);
    const lora = m.lora;
    if (lora === undefined) return;
    const r = lora.r;
    const A = rt.ptr(lora.A);
    const B = rt.ptr(lora.B);
    const keep = dropout > 0 ? rt.ptr(lora.keep!) : 0;
    // dXa (R, r) = s · dOut · B, through Bᵀ (r, O).
    const dXa = s.xs;
    rt.run("transposeF32", [s.smallW, B, O, r], O, 4, O * r);
    rt.run("matmulF32", [dXa, dOut, s.smallW, R, O, r], r, 4, R * O * r);
    // dB (O, r) += dOutᵀ · (s · xa), chunked over tokens: (s · xa)ᵀ (r, R) in `small`.
    const dOT = transposedOut();
    rt.run("transposeF32", [s.small, rt.ptr(lora.xa), R, r], R, 4, R * r);
    rt.run("scaleF32", [s.small, s.small, lora.scale], R * r, 4, R * r);
    const dB = rt.ptr(lora.dB);
    for (let t0 = 0; t0 < R; t0 += TOKEN_CHUNK) {
      const n = Math.min(TOKEN_CHUNK, R - t0);
      rt.run("matmulAccF32", [dB, dOT + t0 * 4, s.small + t0 * 4, O, n, r, R, R], r, 4, O * n * r);
    }
    rt.run("scaleF32", [dXa, dXa, lora.scale], R * r, 4, R * r);
    // dA (r, C) += dXaᵀ · (x ⊙ keep).
    let xkT: number;
    if (keep === 0) {
      xkT = this.transposedInput(x, R, C);
    } else {
      rt.run("mulF32", [s.xk, x, keep], R * C, 4, R * C);
      xkT = s.xT;
      s.xTOf = 0;
      rt.run("transposeF32", [xkT, s.xk, R, C], R, 4, R * C);
    }
    rt.run("transposeF32", [s.small, dXa, R, r], R, 4, R * r);
    const dA = rt.ptr(lora.dA);
    for (let t0 = 0; t0 < R; t0 += TOKEN_CHUNK) {
      const n = Math.min(TOKEN_CHUNK, R - t0);
      rt.run("matmulAccF32", [dA, s.small + t0 * 4, xkT + t0 * 4, r, n, C, R, R], C, 4, r * n * C);
    }
    if (dX === 0) return;
    // dX (R, C) += (dXa · A) ⊙ keep, through Aᵀ (C, r).
    rt.run("transposeF32", [s.smallW, A, r, C], r, 4, r * C);
    if (keep === 0) {
      rt.run("matmulAccF32", [dX, dXa, s.smallW, R, r, C, r, r], C, 4, R * r * C);
    } else {
      rt.run("matmulF32", [s.tmp, dXa, s.smallW, R, r, C], C, 4, R * r * C);
      rt.run("mulAddF32", [dX, s.tmp, keep], R * C, 4, R * C);
    }
  }

  /** xᵀ (C, R) of the input at byte offset x, transposed once for consecutive projections of the same input. */
  transposedInput(x: number, R: number, C: number): number {
    const s = this.scratch;
    if (s.xTOf !== x) {
      this.rt.run("transposeF32", [s.xT, x, R, C], R, 4, R * C);
      s.xTOf = x;
    }
    return s.xT;
  }
}
