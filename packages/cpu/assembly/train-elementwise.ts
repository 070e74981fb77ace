/**
 * Element-wise helpers of the training pass over elements i0 .. i1 of flat float32 vectors: scaling (the
 * backward's loss scale, LoRA's alpha / rank), products (dropout keep masks) and multiply-accumulate. Not the
 * residual add (elementwise.ts) and not the activations.
 */

/** out (N) elements i0 .. i1 = x (N) · s. `out` may be `x`. */
export function scaleF32(out: usize, x: usize, s: f32, i0: i32, i1: i32): void {
  const sv = f32x4.splat(s);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(v128.load(x + off), sv));
  }
  for (; i < i1; i++) store<f32>(out + (<usize>i << 2), load<f32>(x + (<usize>i << 2)) * s);
}

/** out (N) elements i0 .. i1 = a (N) ⊙ b (N). `out` may alias an input. */
export function mulF32(out: usize, a: usize, b: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < i1; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) * load<f32>(b + off));
  }
}

/** out (N) elements i0 .. i1 += a (N) ⊙ b (N). */
export function mulAddF32(out: usize, a: usize, b: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.add(v128.load(out + off), f32x4.mul(v128.load(a + off), v128.load(b + off))));
  }
  for (; i < i1; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(out + off) + load<f32>(a + off) * load<f32>(b + off));
  }
}
