/**
 * out (T, O) = x (T, C) · w (O, C)ᵀ with float32 weights, for output rows o0 .. o1 only (threads split by rows).
 * Not responsible for biases, dtype choice or row splitting: the TypeScript side does those.
 *
 * Every output element is accumulated the same way whichever tile computes it: one f32x4 accumulator over chunks
 * of 4 channels, its fixed-order horizontal sum, then the C mod 4 tail in order. So results are bitwise identical
 * for any split of [0, O) and for T = 1 (matrix-vector) and T > 1 (matrix-matrix) alike.
 * Tiles: 4 weight rows x 2 tokens (each weight chunk loaded once for two tokens, x rows re-read from cache),
 * 4 x 1 for a last odd token, 1 x 1 for the last O mod 4 rows and for decode (T = 1): one row at a time, front to
 * back, streams the weights through memory as one sequential run (test/kernels-wasm/measure-matmul.ts: about twice
 * the bandwidth of 4 rows side by side once the matrix comes from DRAM; slower while it fits in cache).
 */
import { hsum } from "./common";

// @ts-ignore: decorator
@inline function tailF32(acc: v128, x: usize, w: usize, c0: i32, C: i32): f32 {
  let s = hsum(acc);
  for (let c = c0; c < C; c++) s += load<f32>(x + (<usize>c << 2)) * load<f32>(w + (<usize>c << 2));
  return s;
}

export function matmulF32(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  f32Rows(out, x, w + <usize>o0 * (<usize>C << 2), T, C, O, o0, o1);
}

/**
 * matmulF32's body with the weights given from row o0 on: row o at wRows + (o − o0)·C·4. The prefill kernels of
 * the other weight types widen a block of rows into a float32 scratch and run this over it.
 */
// @ts-ignore: decorator
@inline export function f32Rows(out: usize, x: usize, wRows: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  f32Tiles(out, x, wRows, T, C, O, o0, o1, C, C, false, true);
}

/**
 * The F32 tiles every float32 product runs: out (T, O) rows o0 .. o1 = (or +=, when `accumulate`) x (T, C) ·
 * w (O, C)ᵀ, row t of x ldx floats after row t − 1, row o of w at wRows + (o − o0)·ldw floats. `streamDecode`: at
 * T = 1 every row takes the 1 × 1 tile (the weights stream front to back; inference), else 4 rows at a time
 * (training's products, whose "T = 1" is a chunk of a larger product). Also train-matmul.ts's matmulAccF32.
 */
// @ts-ignore: decorator
@inline export function f32Tiles(
  out: usize, x: usize, wRows: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32,
  ldx: i32, ldw: i32, accumulate: bool, streamDecode: bool,
): void {
  const C4 = C & ~3;
  const xRowBytes = <usize>ldx << 2;
  const row = <usize>ldw << 2;
  const outRow = <usize>O << 2;
  const w = wRows - <usize>o0 * row; // row o at w + o·row (wrapping arithmetic; only rows o0 .. o1 are read)
  let o = o0;
  // Decode (T = 1) takes one weight row at a time (the 1 × 1 tile below): the weights then stream through memory
  // as one sequential run, measured about twice as fast as 4 rows side by side once they come from DRAM.
  if (T > 1 || !streamDecode) for (; o + 4 <= o1; o += 4) {
    const w0 = w + <usize>o * row;
    const w1 = w0 + row;
    const w2 = w1 + row;
    const w3 = w2 + row;
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      const xa = x + <usize>t * xRowBytes;
      const xb = xa + xRowBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
      for (let c = 0; c < C4; c += 4) {
        const off = <usize>c << 2;
        const va = v128.load(xa + off);
        const vb = v128.load(xb + off);
        const v0 = v128.load(w0 + off);
        a0 = f32x4.add(a0, f32x4.mul(va, v0));
        b0 = f32x4.add(b0, f32x4.mul(vb, v0));
        const v1 = v128.load(w1 + off);
        a1 = f32x4.add(a1, f32x4.mul(va, v1));
        b1 = f32x4.add(b1, f32x4.mul(vb, v1));
        const v2 = v128.load(w2 + off);
        a2 = f32x4.add(a2, f32x4.mul(va, v2));
        b2 = f32x4.add(b2, f32x4.mul(vb, v2));
        const v3 = v128.load(w3 + off);
        a3 = f32x4.add(a3, f32x4.mul(va, v3));
        b3 = f32x4.add(b3, f32x4.mul(vb, v3));
      }
      const oa = out + <usize>t * outRow + (<usize>o << 2);
      const ob = oa + outRow;
      put(oa, tailF32(a0, xa, w0, C4, C), accumulate);
      put(oa + 4, tailF32(a1, xa, w1, C4, C), accumulate);
      put(oa + 8, tailF32(a2, xa, w2, C4, C), accumulate);
      put(oa + 12, tailF32(a3, xa, w3, C4, C), accumulate);
      put(ob, tailF32(b0, xb, w0, C4, C), accumulate);
      put(ob + 4, tailF32(b1, xb, w1, C4, C), accumulate);
      put(ob + 8, tailF32(b2, xb, w2, C4, C), accumulate);
      put(ob + 12, tailF32(b3, xb, w3, C4, C), accumulate);
    }
    if (t < T) {
      const xa = x + <usize>t * xRowBytes;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let c = 0; c < C4; c += 4) {
        const off = <usize>c << 2;
        const va = v128.load(xa + off);
        a0 = f32x4.add(a0, f32x4.mul(va, v128.load(w0 + off)));
        a1 = f32x4.add(a1, f32x4.mul(va, v128.load(w1 + off)));
        a2 = f32x4.add(a2, f32x4.mul(va, v128.load(w2 + off)));
        a3 = f32x4.add(a3, f32x4.mul(va, v128.load(w3 + off)));
      }
      const oa = out + <usize>t * outRow + (<usize>o << 2);
      put(oa, tailF32(a0, xa, w0, C4, C), accumulate);
      put(oa + 4, tailF32(a1, xa, w1, C4, C), accumulate);
      put(oa + 8, tailF32(a2, xa, w2, C4, C), accumulate);
      put(oa + 12, tailF32(a3, xa, w3, C4, C), accumulate);
    }
  }
  for (; o < o1; o++) {
    const w0 = w + <usize>o * row;
    for (let t = 0; t < T; t++) {
      const xa = x + <usize>t * xRowBytes;
      let a0 = f32x4.splat(0);
      for (let c = 0; c < C4; c += 4) {
        const off = <usize>c << 2;
        a0 = f32x4.add(a0, f32x4.mul(v128.load(xa + off), v128.load(w0 + off)));
      }
      put(out + <usize>t * outRow + (<usize>o << 2), tailF32(a0, xa, w0, C4, C), accumulate);
    }
  }
}

/** Stores v at p, or adds it to what p holds. */
// @ts-ignore: decorator
@inline function put(p: usize, v: f32, accumulate: bool): void {
  store<f32>(p, accumulate ? load<f32>(p) + v : v);
}
