/**
 * The backward of the gated MLP activations over elements i0 .. i1 of flat vectors, recomputing the activation
 * from the saved gate: SwiGLU (silu(gate) · up) and GeGLU with the tanh GELU (gelu_tanh(gate) · up). Outputs are
 * overwritten, not accumulated. The forwards are activations.ts. With σ(z) = 1 / (1 + e^(−z)):
 * silu'(g) = σ(g)(1 + g(1 − σ(g))); gelu_tanh(g) = g · σ(2u), gelu_tanh'(g) = σ(2u) + 2g · σ(2u)(1 − σ(2u)) · u'
 * with u = √(2/π)(g + 0.044715 g³), u' = √(2/π)(1 + 3 · 0.044715 g²): the tanh form's derivative without tanh.
 */
import { expV } from "./common";

/** σ(2u) (GeGLU) or σ(g) (SwiGLU) of four gates; the activation is g times it. */
// @ts-ignore: decorator
@inline function actV(g: v128, gelu: bool): v128 {
  const one = f32x4.splat(1);
  if (gelu) {
    const u = f32x4.mul(f32x4.splat(0.7978845608028654), f32x4.add(g, f32x4.mul(f32x4.splat(0.044715), f32x4.mul(f32x4.mul(g, g), g))));
    return f32x4.div(one, f32x4.add(one, expV(f32x4.mul(f32x4.splat(-2), u)))); // σ(2u)
  }
  return f32x4.div(one, f32x4.add(one, expV(f32x4.neg(g)))); // σ(g)
}

/** The activation's derivative of four gates, given s = actV(g). */
// @ts-ignore: decorator
@inline function derivV(g: v128, s: v128, gelu: bool): v128 {
  const one = f32x4.splat(1);
  if (gelu) {
    const du = f32x4.mul(f32x4.splat(0.7978845608028654), f32x4.add(one, f32x4.mul(f32x4.splat(3 * 0.044715), f32x4.mul(g, g))));
    return f32x4.add(s, f32x4.mul(f32x4.mul(f32x4.add(g, g), f32x4.mul(s, f32x4.sub(one, s))), du));
  }
  return f32x4.mul(s, f32x4.add(one, f32x4.mul(g, f32x4.sub(one, s))));
}

// @ts-ignore: decorator
@inline function gatedBackward(dGate: usize, dUp: usize, dOut: usize, gate: usize, up: usize, i0: i32, i1: i32, gelu: bool): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    const g = v128.load(gate + off);
    const s = actV(g, gelu);
    const dy = v128.load(dOut + off);
    v128.store(dGate + off, f32x4.mul(f32x4.mul(dy, v128.load(up + off)), derivV(g, s, gelu)));
    v128.store(dUp + off, f32x4.mul(dy, f32x4.mul(g, s)));
  }
  // The tail runs the same lane arithmetic on lane 0, so every element rounds alike whatever the range.
  for (; i < i1; i++) {
    const off = <usize>i << 2;
    const g = f32x4.splat(load<f32>(gate + off));
    const s = actV(g, gelu);
    const dy = f32x4.splat(load<f32>(dOut + off));
    store<f32>(dGate + off, f32x4.extract_lane(f32x4.mul(f32x4.mul(dy, f32x4.splat(load<f32>(up + off))), derivV(g, s, gelu)), 0));
    store<f32>(dUp + off, f32x4.extract_lane(f32x4.mul(dy, f32x4.mul(g, s)), 0));
  }
}

/** dGate, dUp (N) elements i0 .. i1 = the gradients of silu(gate) · up given dOut (N). */
export function swigluBackward(dGate: usize, dUp: usize, dOut: usize, gate: usize, up: usize, i0: i32, i1: i32): void {
  gatedBackward(dGate, dUp, dOut, gate, up, i0, i1, false);
}

/** dGate, dUp (N) elements i0 .. i1 = the gradients of gelu_tanh(gate) · up given dOut (N). */
export function gegluBackward(dGate: usize, dUp: usize, dOut: usize, gate: usize, up: usize, i0: i32, i1: i32): void {
  gatedBackward(dGate, dUp, dOut, gate, up, i0, i1, true);
}
