/**
 * The gated activations of the MLPs, over elements i0 .. i1 of flat vectors: SwiGLU (silu(gate)·up: Llama, Qwen,
 * Mistral) and GeGLU with the tanh approximation of GELU (gelu_pytorch_tanh(gate)·up: Gemma). `out` may alias an
 * input. gelu_tanh(v) = 0.5·v·(1 + tanh(u)) is computed as v / (1 + e^(−2u)), u = √(2/π)·(v + 0.044715·v³): the same
 * value without the cancellation of 1 + tanh(u) for negative v.
 */
import { expV } from "./common";

// @ts-ignore: decorator
@inline function gateOf(g: v128, gelu: bool): v128 {
  const one = f32x4.splat(1);
  if (gelu) {
    const g3 = f32x4.mul(f32x4.mul(g, g), g);
    const u = f32x4.mul(f32x4.splat(0.7978845608028654), f32x4.add(g, f32x4.mul(f32x4.splat(0.044715), g3)));
    return f32x4.div(g, f32x4.add(one, expV(f32x4.mul(f32x4.splat(-2), u))));
  }
  return f32x4.div(g, f32x4.add(one, expV(f32x4.neg(g))));
}

// @ts-ignore: decorator
@inline function gated(out: usize, gate: usize, up: usize, i0: i32, i1: i32, gelu: bool): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(gateOf(v128.load(gate + off), gelu), v128.load(up + off)));
  }
  for (; i < i1; i++) {
    const off = <usize>i << 2;
    const a = f32x4.extract_lane(gateOf(f32x4.splat(load<f32>(gate + off)), gelu), 0);
    store<f32>(out + off, a * load<f32>(up + off));
  }
}

/** out (N) elements i0 .. i1 = silu(gate (N)) · up (N). */
export function swiglu(out: usize, gate: usize, up: usize, i0: i32, i1: i32): void {
  gated(out, gate, up, i0, i1, false);
}

/** out (N) elements i0 .. i1 = gelu_tanh(gate (N)) · up (N). */
export function geglu(out: usize, gate: usize, up: usize, i0: i32, i1: i32): void {
  gated(out, gate, up, i0, i1, true);
}
