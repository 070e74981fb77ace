/**
 * The gated MLP activations for training and their backward: SwiGLU, silu(gate) · up (Llama, Qwen, Mistral), and
 * GeGLU with the tanh approximation of GELU, gelu_tanh(gate) · up (Gemma). The forward keeps gate and up as its
 * inputs (the caller saves them); the backward recomputes the activation from gate. Not the projections around them.
 */
import type { Floats } from "./floats.js";

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** out (N) = silu(gate (N)) · up (N). `out` may alias an input. */
export function swigluForward(out: Floats, gate: Floats, up: Floats, N: number): void {
  for (let i = 0; i < N; i++) {
    const g = gate[i];
    out[i] = (g / (1 + Math.exp(-g))) * up[i];
  }
}

/**
 * The backward of `swigluForward`: dGate (N) += dOut · up · silu'(gate), dUp (N) += dOut · silu(gate), where
 * silu'(g) = σ(g) · (1 + g · (1 − σ(g))).
 */
export function swigluBackward(dGate: Floats, dUp: Floats, dOut: Floats, gate: Floats, up: Floats, N: number): void {
  for (let i = 0; i < N; i++) {
    const g = gate[i];
    const sig = 1 / (1 + Math.exp(-g));
    dGate[i] += dOut[i] * up[i] * sig * (1 + g * (1 - sig));
    dUp[i] += dOut[i] * g * sig;
  }
}

/** out (N) = gelu_tanh(gate (N)) · up (N), gelu_tanh(g) = ½·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))). */
export function gegluForward(out: Floats, gate: Floats, up: Floats, N: number): void {
  for (let i = 0; i < N; i++) {
    const g = gate[i];
    out[i] = 0.5 * g * (1 + Math.tanh(SQRT_2_OVER_PI * (g + 0.044715 * g * g * g))) * up[i];
  }
}

/**
 * The backward of `gegluForward`: dGate (N) += dOut · up · gelu_tanh'(gate), dUp (N) += dOut · gelu_tanh(gate),
 * where gelu_tanh'(g) = ½(1 + tanh u) + ½·g·(1 − tanh² u)·√(2/π)·(1 + 3·0.044715·g²), u = √(2/π)(g + 0.044715 g³).
 */
export function gegluBackward(dGate: Floats, dUp: Floats, dOut: Floats, gate: Floats, up: Floats, N: number): void {
  for (let i = 0; i < N; i++) {
    const g = gate[i];
    const th = Math.tanh(SQRT_2_OVER_PI * (g + 0.044715 * g * g * g));
    const gelu = 0.5 * g * (1 + th);
    const dgelu = 0.5 * (1 + th) + 0.5 * g * (1 - th * th) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * g * g);
    dGate[i] += dOut[i] * up[i] * dgelu;
    dUp[i] += dOut[i] * gelu;
  }
}
