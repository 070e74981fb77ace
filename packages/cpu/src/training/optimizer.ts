/**
 * AdamW as torch.optim.AdamW computes it (decoupled weight decay `p -= lr * wd * p` before the moment update, bias
 * correction, eps added outside the square root), over plain `{ value, grad }` parameter lists, with its state
 * (step count, first and second moments) saved and restored for resumed runs; and global-norm gradient clipping as
 * torch.nn.utils.clip_grad_norm_ computes it.
 *
 * Moments are stored as Float32Array like torch's float32 state; each element's update is computed in double
 * precision and rounded once, so results agree with torch to float32 rounding, not bit for bit.
 * This file does not compute gradients, schedule the learning rate (`schedule.ts`) or name parameters.
 */
import { InferenceError } from "@dappcore/inference";

/** One trainable tensor: its values and the gradient accumulated for them, of the same length. */
export interface Parameter {
  readonly name?: string;
  readonly value: Float32Array;
  readonly grad: Float32Array;
}

/** Options of `AdamW`; the defaults are torch.optim.AdamW's. */
export interface AdamWOptions {
  /** Learning rate (>= 0); change it between steps with `optimizer.lr = ...`. Default 1e-3. @example { lr: 2e-4 } */
  readonly lr?: number;
  /** Decay rates of the first and second moments, each in [0, 1). Default [0.9, 0.999]. @example { betas: [0.9, 0.95] } */
  readonly betas?: readonly [number, number];
  /** Added to the denominator outside the square root (>= 0). Default 1e-8. @example { eps: 1e-6 } */
  readonly eps?: number;
  /** Decoupled weight decay (>= 0): each step multiplies values by 1 - lr * weightDecay. Default 0.01. @example { weightDecay: 0 } */
  readonly weightDecay?: number;
}

/** What `AdamW.state()` saves and `AdamW.loadState()` restores: the step count and one m and v per parameter. */
export interface AdamWState {
  readonly step: number;
  readonly m: readonly Float32Array[];
  readonly v: readonly Float32Array[];
}

const OP = "cpu.adamw";

function invalid(op: string, message: string, details?: Record<string, unknown>): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message, ...(details === undefined ? {} : { details }) });
}

function label(p: Parameter, i: number): string {
  return p.name === undefined ? `parameter ${i}` : `parameter ${i} (${p.name})`;
}

function checkRate(name: string, value: number, upper?: number): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (upper !== undefined && value >= upper)) {
    throw invalid(OP, `${name} must be a finite number >= 0${upper === undefined ? "" : ` and < ${upper}`}, got ${String(value)}`);
  }
}

/**
 * The AdamW optimiser over a fixed list of parameters.
 *
 * @example
 * const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0 });
 * clipGradNorm(params, 1.0); opt.step(); opt.zeroGrad();
 */
export class AdamW {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  #lr: number;
  #step = 0;
  readonly #params: readonly Parameter[];
  readonly #m: Float32Array[];
  readonly #v: Float32Array[];

  constructor(params: readonly Parameter[], opts: AdamWOptions = {}) {
    const lr = opts.lr ?? 1e-3;
    const betas = opts.betas ?? [0.9, 0.999];
    const eps = opts.eps ?? 1e-8;
    const weightDecay = opts.weightDecay ?? 0.01;
    checkRate("lr", lr);
    if (!Array.isArray(betas) || betas.length !== 2) throw invalid(OP, `betas must be a pair of numbers, got ${String(betas)}`);
    checkRate("betas[0]", betas[0], 1);
    checkRate("betas[1]", betas[1], 1);
    checkRate("eps", eps);
    checkRate("weightDecay", weightDecay);
    params.forEach((p, i) => {
      if (!(p.value instanceof Float32Array) || !(p.grad instanceof Float32Array)) {
        throw invalid(OP, `${label(p, i)} must have Float32Array value and grad`);
      }
      if (p.value.length !== p.grad.length) {
        throw invalid(OP, `${label(p, i)} has ${p.value.length} values but ${p.grad.length} gradients`);
      }
    });
    this.#lr = lr;
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
    this.#params = [...params];
    this.#m = params.map((p) => new Float32Array(p.value.length));
    this.#v = params.map((p) => new Float32Array(p.value.length));
  }

  /** The learning rate of the next step. */
  get lr(): number {
    return this.#lr;
  }

  set lr(value: number) {
    checkRate("lr", value);
    this.#lr = value;
  }

  /** Steps taken so far (torch's `state["step"]`). */
  get stepCount(): number {
    return this.#step;
  }

  /** Applies one AdamW update to every parameter from its current gradient. */
  step(): void {
    const t = ++this.#step;
    const [beta1, beta2] = this.betas;
    const lr = this.#lr;
    const decay = 1 - lr * this.weightDecay;
    const stepSize = lr / (1 - beta1 ** t);
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    const eps = this.eps;
    for (let i = 0; i < this.#params.length; i++) {
      const { value, grad } = this.#params[i] as Parameter;
      const m = this.#m[i] as Float32Array;
      const v = this.#v[i] as Float32Array;
      for (let j = 0; j < value.length; j++) {
        const g = grad[j] as number;
        const p = Math.fround((value[j] as number) * decay);
        m[j] = (m[j] as number) * beta1 + (1 - beta1) * g;
        v[j] = (v[j] as number) * beta2 + (1 - beta2) * g * g;
        // Read back the stored float32 moments, as torch's update reads its float32 state.
        value[j] = p - (stepSize * (m[j] as number)) / (Math.sqrt(v[j] as number) / bc2Sqrt + eps);
      }
    }
  }

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    for (const p of this.#params) p.grad.fill(0);
  }

  /** A copy of the optimiser state, for checkpoints. */
  state(): AdamWState {
    return { step: this.#step, m: this.#m.map((a) => a.slice()), v: this.#v.map((a) => a.slice()) };
  }

  /**
   * Restores a state saved by `state()` for the same parameter list. Throws `invalid_argument` when the step count
   * is not a non-negative integer or the moments do not match the parameters in number and length.
   */
  loadState(state: AdamWState): void {
    const op = `${OP}.loadState`;
    if (!Number.isSafeInteger(state.step) || state.step < 0) throw invalid(op, `step must be an integer >= 0, got ${String(state.step)}`);
    for (const [key, list] of [["m", state.m], ["v", state.v]] as const) {
      if (!Array.isArray(list) || list.length !== this.#params.length) {
        throw invalid(op, `state.${key} must hold ${this.#params.length} arrays, got ${Array.isArray(list) ? list.length : String(list)}`);
      }
      list.forEach((a, i) => {
        const p = this.#params[i] as Parameter;
        if (!(a instanceof Float32Array) || a.length !== p.value.length) {
          throw invalid(op, `state.${key}[${i}] must be a Float32Array of ${p.value.length} values for ${label(p, i)}`);
        }
      });
    }
    this.#step = state.step;
    state.m.forEach((a, i) => (this.#m[i] as Float32Array).set(a));
    state.v.forEach((a, i) => (this.#v[i] as Float32Array).set(a));
  }
}

/** Options of `clipGradNorm`. */
export interface ClipGradNormOptions {
  /** The p of the p-norm (> 0, or Infinity for the largest magnitude). Default 2. @example { normType: Infinity } */
  readonly normType?: number;
  /** Throw `invalid_argument` when the total norm is NaN or infinite (gradients untouched). Default false, as torch. @example { errorIfNonfinite: true } */
  readonly errorIfNonfinite?: boolean;
}

/**
 * Scales all gradients together so that their global norm is at most `maxNorm`, and returns the norm before
 * clipping, as torch.nn.utils.clip_grad_norm_: coefficient = min(1, maxNorm / (norm + 1e-6)), applied to every
 * gradient. `maxNorm` must be a finite number > 0 (`invalid_argument`).
 *
 * @example const norm = clipGradNorm(params, 1.0);
 */
export function clipGradNorm(params: readonly Pick<Parameter, "grad">[], maxNorm: number, opts: ClipGradNormOptions = {}): number {
  const op = "cpu.clipGradNorm";
  const p = opts.normType ?? 2;
  if (typeof maxNorm !== "number" || !Number.isFinite(maxNorm) || maxNorm <= 0) {
    throw invalid(op, `maxNorm must be a finite number > 0, got ${String(maxNorm)}`);
  }
  if (typeof p !== "number" || !(p > 0)) throw invalid(op, `normType must be > 0 or Infinity, got ${String(p)}`);
  let total = 0;
  if (p === Infinity) {
    for (const { grad } of params) for (let j = 0; j < grad.length; j++) total = Math.max(total, Math.abs(grad[j] as number));
    for (const { grad } of params) for (let j = 0; j < grad.length; j++) if (Number.isNaN(grad[j])) total = NaN;
  } else {
    for (const { grad } of params) for (let j = 0; j < grad.length; j++) total += Math.abs(grad[j] as number) ** p;
    total = total ** (1 / p);
  }
  if (!Number.isFinite(total) && opts.errorIfNonfinite === true) {
    throw invalid(op, `the total norm of order ${p} of the gradients is non-finite (${total}), so it cannot be clipped`, { norm: total });
  }
  const coef = Math.min(1, maxNorm / (total + 1e-6));
  if (coef !== 1 || Number.isNaN(coef)) for (const { grad } of params) for (let j = 0; j < grad.length; j++) grad[j] = (grad[j] as number) * coef;
  return total;
}
