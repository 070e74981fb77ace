/**
 * The matrix kernels of training's backward pass: an accumulating matmul with row strides (so the inner dimension
 * can be walked in chunks), float32 and 16-bit transposes, the bias gradient and the bias add. The backward of
 * out = x · wᵀ is built from them: dX += dOut · (wᵀ)ᵀ runs on a transposed weight, dW += dOutᵀ · x on transposed
 * activations, so every product is the cache-friendly dot-product form of matmul-f32.ts. Not the forward matmuls
 * (matmul-f32.ts, matmul-half.ts) nor the choice of chunks (src/training/fast/).
 *
 * Split-invariant as every kernel here: each output element is computed by the same instruction sequence whatever
 * range computes it (one f32x4 accumulator over chunks of 4, the fixed-order horizontal sum, the scalar tail, then
 * one add into the output).
 */
import { f32Tiles } from "./matmul-f32";

// @ts-ignore: decorator
@inline function addTo(p: usize, v: f32): void {
  store<f32>(p, load<f32>(p) + v);
}

/**
 * out (T, O) rows o0 .. o1 += x (T, C) · w (O, C)ᵀ, where row t of x starts ldx floats after row t − 1 and row o
 * of w ldw floats after row o − 1 (ldx = ldw = C for dense matrices; larger to take C columns of wider ones).
 * matmul-f32.ts's tiles (4 weight rows × 2 rows of x, 4 × 1 for the last odd row, 1 × 1 for the last O mod 4),
 * accumulating, with 4-row tiles at T = 1 too.
 */
export function matmulAccF32(
  out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, ldx: i32, ldw: i32, o0: i32, o1: i32,
): void {
  f32Tiles(out, x, w + <usize>o0 * (<usize>ldw << 2), T, C, O, o0, o1, ldx, ldw, true, false);
}

/** out (C, R) = x (R, C)ᵀ for input rows r0 .. r1 (output columns r0 .. r1); float32, 4 × 4 blocks. */
export function transposeF32(out: usize, x: usize, R: i32, C: i32, r0: i32, r1: i32): void {
  const inRow = <usize>C << 2;
  const outRow = <usize>R << 2;
  const C4 = C & ~3;
  let r = r0;
  for (; r + 4 <= r1; r += 4) {
    const xa = x + <usize>r * inRow;
    const xb = xa + inRow;
    const xc = xb + inRow;
    const xd = xc + inRow;
    let c = 0;
    for (; c < C4; c += 4) {
      const off = <usize>c << 2;
      const a = v128.load(xa + off);
      const b = v128.load(xb + off);
      const cc = v128.load(xc + off);
      const d = v128.load(xd + off);
      const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(cc, d, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(cc, d, 2, 6, 3, 7);
      const o = out + <usize>c * outRow + (<usize>r << 2);
      v128.store(o, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(o + outRow, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(o + 2 * outRow, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(o + 3 * outRow, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
    }
    for (; c < C; c++) {
      const o = out + <usize>c * outRow + (<usize>r << 2);
      const off = <usize>c << 2;
      store<f32>(o, load<f32>(xa + off));
      store<f32>(o + 4, load<f32>(xb + off));
      store<f32>(o + 8, load<f32>(xc + off));
      store<f32>(o + 12, load<f32>(xd + off));
    }
  }
  for (; r < r1; r++) {
    const xa = x + <usize>r * inRow;
    for (let c = 0; c < C; c++) store<f32>(out + <usize>c * outRow + (<usize>r << 2), load<f32>(xa + (<usize>c << 2)));
  }
}

/** out (C, R) = x (R, C)ᵀ for input rows r0 .. r1, 16-bit elements (F16/BF16 bits, copied as they are). */
export function transpose16(out: usize, x: usize, R: i32, C: i32, r0: i32, r1: i32): void {
  const inRow = <usize>C << 1;
  const outRow = <usize>R << 1;
  for (let rb = r0; rb < r1; rb += 8) {
    const re = min(rb + 8, r1);
    for (let c = 0; c < C; c++) {
      const o = out + <usize>c * outRow;
      const xc = x + (<usize>c << 1);
      for (let r = rb; r < re; r++) store<u16>(o + (<usize>r << 1), load<u16>(xc + <usize>r * inRow));
    }
  }
}

/** dB (O) columns o0 .. o1 += Σ_t dY (T, O)[t]: the bias gradient, four columns at a time. */
export function biasGrad(dB: usize, dY: usize, T: i32, O: i32, o0: i32, o1: i32): void {
  const row = <usize>O << 2;
  let o = o0;
  for (; o + 4 <= o1; o += 4) {
    const col = dY + (<usize>o << 2);
    let acc = f32x4.splat(0);
    for (let t = 0; t < T; t++) acc = f32x4.add(acc, v128.load(col + <usize>t * row));
    const p = dB + (<usize>o << 2);
    v128.store(p, f32x4.add(v128.load(p), acc));
  }
  for (; o < o1; o++) {
    const col = dY + (<usize>o << 2);
    let s: f32 = 0;
    for (let t = 0; t < T; t++) s += load<f32>(col + <usize>t * row);
    addTo(dB + (<usize>o << 2), s);
  }
}

/** out (T, O) rows t0 .. t1 += bias (O). */
export function addBias(out: usize, bias: usize, O: i32, t0: i32, t1: i32): void {
  const O4 = O & ~3;
  for (let t = t0; t < t1; t++) {
    const row = out + ((<usize>t * <usize>O) << 2);
    let o = 0;
    for (; o < O4; o += 4) {
      const off = <usize>o << 2;
      v128.store(row + off, f32x4.add(v128.load(row + off), v128.load(bias + off)));
    }
    for (; o < O; o++) addTo(row + (<usize>o << 2), load<f32>(bias + (<usize>o << 2)));
  }
}
