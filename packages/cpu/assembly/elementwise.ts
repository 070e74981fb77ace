/**
 * Element-wise kernels over elements i0 .. i1 of flat float32 vectors: the residual add. `out` may alias an input.
 */

/** out (N) elements i0 .. i1 = a (N) + b (N). */
export function add(out: usize, a: usize, b: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < i1; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) + load<f32>(b + off));
  }
}
