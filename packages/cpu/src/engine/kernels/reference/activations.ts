/**
 * Reference activation functions and the gated forms the MLPs use: SwiGLU (silu(gate)·up, Llama/Qwen/Mistral) and
 * GeGLU with the tanh approximation of GELU (gelu_pytorch_tanh(gate)·up, Gemma). `out` may alias an input.
 */

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** silu(v) = v · sigmoid(v). */
function siluOf(v: number): number {
  return v / (1 + Math.exp(-v));
}

/** gelu_pytorch_tanh(v) = 0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³))). */
function geluTanhOf(v: number): number {
  return 0.5 * v * (1 + Math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)));
}

/** out (N) = silu(x (N)). */
export function silu(out: Float32Array, x: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) out[i] = siluOf(x[i]);
}

/** out (N) = gelu_tanh(x (N)). */
export function geluTanh(out: Float32Array, x: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) out[i] = geluTanhOf(x[i]);
}

/** out (N) = silu(gate (N)) · up (N). */
export function swiglu(out: Float32Array, gate: Float32Array, up: Float32Array, N: number): void {
  // HF rounds silu(gate) to the activation dtype before the product.
  for (let i = 0; i < N; i++) out[i] = Math.fround(siluOf(gate[i])) * up[i];
}

/** out (N) = gelu_tanh(gate (N)) · up (N). */
export function geglu(out: Float32Array, gate: Float32Array, up: Float32Array, N: number): void {
  for (let i = 0; i < N; i++) out[i] = Math.fround(geluTanhOf(gate[i])) * up[i];
}
