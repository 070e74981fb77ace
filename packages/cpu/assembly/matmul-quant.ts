/**
 * Matrix products with weights in llama.cpp's quantised block layouts, and the quantisation of activations they
 * consume. Output rows o0 .. o1 only; not responsible for quantising weights (a load-time job) or for biases.
 *
 * Weight blocks cover 32 consecutive channels of one row:
 *   Q8_0: 34 bytes = f16 scale d, then 32 int8 q; value = q·d.
 *   Q4_0: 18 bytes = f16 scale d, then 16 bytes; byte j holds element j (low nibble) and j + 16 (high nibble);
 *         value = (nibble − 8)·d.
 * Activations are quantised first, as llama.cpp does for these types (its vec_dot_q8_0_q8_0 / q4_0_q8_0), so the
 * inner loop is an exact integer dot product (i32x4.dot_i16x8_s) and results track llama.cpp's: per block of 32,
 * dx = max|x|/127, q = round-to-nearest-even(x/dx) in [−127, 127], and dx is rounded to f16 as llama.cpp stores it.
 * The quantised activations are kept widened to int16 so each weight block is widened once and meets them directly:
 *   xq (T, C/32, 32) int16, followed at xq + T·C/32·64 by the scales (T, C/32) float32.
 * Per output element: acc (f32x4) += float(int32x4 partial dot of the block)·(dw·dx), block by block, then the
 * fixed-order horizontal sum; the same in every tile, so any row split gives identical bits. C must be a multiple
 * of 32 (the TypeScript side checks).
 * Tiles: 4 weight rows × 2 tokens, 4 × 1 for a last odd token, 1 × 1 for the last O mod 4 rows. Q8_0 decode
 * (T = 1) takes the 1 × 1 tile for every row: the weights then stream through memory as one sequential run
 * (test/kernels-wasm/measure-matmul.ts: about 2.5× the bandwidth of 4 rows side by side from DRAM). Q4_0 decode
 * keeps 4 rows: its nibble unpacking makes it compute-bound, and there 4 rows measured faster.
 *
 * The prefill kernels (matmulQ8_0Prefill / matmulQ4_0Prefill, at the end) widen each group of 4 weight rows to
 * int16 once into a per-thread scratch and sum differently: per output element, Σ over blocks in order of
 * float(exact integer block dot)·(dw·dx) in float32, llama.cpp's reference vec_dot arithmetic, with the group's
 * 4 rows in the 4 lanes (about 1.8× the products above at 128 tokens). The decode kernels keep per-lane sums: the
 * prefill form one row at a time measured 15% slower there (its lane sums and scalar adds). The two differ in the
 * last bits of float32 rounding, as llama.cpp's own SIMD and reference paths do.
 */
import { f16ToF32, hsum, roundToF16 } from "./common";

/**
 * xq (T, C/32, 32) int16 and its scales (T, C/32) float32 = Q8 blocks of x (T, C), rows t0 .. t1 only.
 */
export function quantizeQ8Activations(xq: usize, x: usize, T: i32, C: i32, t0: i32, t1: i32): void {
  const nb = C >> 5;
  const scales = xq + <usize>T * <usize>nb * 64;
  for (let t = t0; t < t1; t++) {
    for (let b = 0; b < nb; b++) {
      const i = <usize>t * <usize>nb + <usize>b;
      const p = x + (i << 7);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      const v4 = v128.load(p, 64), v5 = v128.load(p, 80), v6 = v128.load(p, 96), v7 = v128.load(p, 112);
      let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
      m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
      m = f32x4.max(m, v128.shuffle<f32>(m, m, 2, 3, 0, 1));
      const amax = max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
      const d: f32 = amax / 127;
      const id = f32x4.splat(d != 0 ? <f32>1 / d : <f32>0);
      const q = xq + (i << 6);
      v128.store(q, i16x8.narrow_i32x4_s(quant(v0, id), quant(v1, id)));
      v128.store(q, i16x8.narrow_i32x4_s(quant(v2, id), quant(v3, id)), 16);
      v128.store(q, i16x8.narrow_i32x4_s(quant(v4, id), quant(v5, id)), 32);
      v128.store(q, i16x8.narrow_i32x4_s(quant(v6, id), quant(v7, id)), 48);
      store<f32>(scales + (i << 2), roundToF16(d));
    }
  }
}

// @ts-ignore: decorator
@inline function quant(v: v128, id: v128): v128 {
  return i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v, id)));
}

/** Block bytes of a quantised type. */
// @ts-ignore: decorator
@inline function blockBytes(q4: bool): usize {
  return q4 ? 18 : 34;
}

/** Integer dot (i32x4 partial sums) of one weight block, widened to four i16x8, with one activation block. */
// @ts-ignore: decorator
@inline function dotBlock(e0: v128, e1: v128, e2: v128, e3: v128, xb: usize): v128 {
  const s01 = i32x4.add(i32x4.dot_i16x8_s(e0, v128.load(xb)), i32x4.dot_i16x8_s(e1, v128.load(xb, 16)));
  const s23 = i32x4.add(i32x4.dot_i16x8_s(e2, v128.load(xb, 32)), i32x4.dot_i16x8_s(e3, v128.load(xb, 48)));
  return i32x4.add(s01, s23);
}

/** Channels 0..15 of a weight block as int8 (Q8_0: q; Q4_0: low nibbles − 8). */
// @ts-ignore: decorator
@inline function lowHalf(wb: usize, q4: bool): v128 {
  if (q4) return i8x16.sub(v128.and(v128.load(wb, 2), i8x16.splat(0x0f)), i8x16.splat(8));
  return v128.load(wb, 2);
}

/** Channels 16..31 of a weight block as int8 (Q8_0: q; Q4_0: high nibbles − 8). */
// @ts-ignore: decorator
@inline function highHalf(wb: usize, q4: bool): v128 {
  if (q4) return i8x16.sub(i8x16.shr_u(v128.load(wb, 2), 4), i8x16.splat(8));
  return v128.load(wb, 18);
}

// @ts-ignore: decorator
@inline function matmulQuant(out: usize, xq: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32, q4: bool): void {
  const nb = C >> 5;
  const bs = blockBytes(q4);
  const wRow = <usize>nb * bs;
  const xRow = <usize>nb << 6;
  const scales = xq + <usize>T * xRow;
  const outRow = <usize>O << 2;
  let o = o0;
  // Decode (T = 1) takes one weight row at a time (the 1 × 1 tile below): the weights then stream through memory
  // as one sequential run, measured about twice as fast as 4 rows side by side once they come from DRAM.
  if (T > 1 || q4) for (; o + 4 <= o1; o += 4) {
    const w0 = w + <usize>o * wRow;
    const w1 = w0 + wRow;
    const w2 = w1 + wRow;
    const w3 = w2 + wRow;
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      const xa = xq + <usize>t * xRow;
      const xb = xa + xRow;
      const sa = scales + ((<usize>t * <usize>nb) << 2);
      const sb = sa + (<usize>nb << 2);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const xba = xa + (<usize>b << 6);
        const xbb = xb + (<usize>b << 6);
        const da = load<f32>(sa + (<usize>b << 2));
        const db = load<f32>(sb + (<usize>b << 2));
        let wb = w0 + <usize>b * bs;
        let lo = lowHalf(wb, q4);
        let hi = highHalf(wb, q4);
        let e0 = i16x8.extend_low_i8x16_s(lo), e1 = i16x8.extend_high_i8x16_s(lo);
        let e2 = i16x8.extend_low_i8x16_s(hi), e3 = i16x8.extend_high_i8x16_s(hi);
        let dw = f16ToF32(load<u16>(wb));
        a0 = f32x4.add(a0, f32x4.mul(f32x4.convert_i32x4_s(dotBlock(e0, e1, e2, e3, xba)), f32x4.splat(dw * da)));
        b0 = f32x4.add(b0, f32x4.mul(f32x4.convert_i32x4_s(dotBlock(e0, e1, e2, e3, xbb)), f32x4.splat(dw * db)));
        wb = w1 + <usize>b * bs;
        lo = lowHalf(wb, q4);
        hi = highHalf(wb, q4);
        e0 = i16x8.extend_low_i8x16_s(lo); e1 = i16x8.extend_high_i8x16_s(lo);
        e2 = i16x8.extend_low_i8x16_s(hi); e3 = i16x8.extend_high_i8x16_s(hi);
        dw = f16ToF32(load<u16>(wb));
        a1 = f32x4.add(a1, f32x4.mul(f32x4.convert_i32x4_s(dotBlock(e0, e1, e2, e3, xba)), f32x4.splat(dw * da)));
        b1 = f32x4.add(b1, f32x4.mul(f32x4.convert_i32x4_s(dotBlock(e0, e1, e2, e3, xbb)), f32x4.splat(dw * db)));
        wb = w2 + <usize>b * bs;
        lo = lowHalf(wb, q4);
        hi = highHalf(wb, q4);
        e0 = i16x8.extend_low_i8x16_s(lo); e1 = i16x8.extend_high_i8x16_s(lo);
        e2 = i16x8.extend_low_i8x16_s(hi); e3 = i16x8.extend_high_i8x16_s(hi);
        dw = f16ToF32(load<u16>(wb));
        a2 = f32x4.add(a2, f32x4.mul(f32x4.convert_i32x4_s(dotBlock(e0, e1, e2, e3, xba)), f32x4.splat(dw * da)));
        b2 = f32x4.add(b2, f32x4.mul(f32x4.convert_i32x4_s(dotBlock(e0, e1, e2, e3, xbb)), f32x4.splat(dw * db)));
        wb = w3 + <usize>b * bs;
        lo = lowHalf(wb, q4);
        hi = highHalf(wb, q4);
        e0 = i16x8.extend_low_i8x16_s(lo); e1 = i16x8.extend_high_i8x16_s(lo);
        e2 = i16x8.extend_low_i8x16_s(hi); e3 = i16x8.extend_high_i8x16_s(hi);
        dw = f16ToF32(load<u16>(wb));
        a3 = f32x4.add(a3, f32x4.mul(f32x4.convert_i32x4_s(dotBlock(e0, e1, e2, e3, xba)), f32x4.splat(dw * da)));
        b3 = f32x4.add(b3, f32x4.mul(f32x4.convert_i32x4_s(dotBlock(e0, e1, e2, e3, xbb)), f32x4.splat(dw * db)));
      }
      const oa = out + <usize>t * outRow + (<usize>o << 2);
      const ob = oa + outRow;
      store<f32>(oa, hsum(a0));
      store<f32>(oa, hsum(a1), 4);
      store<f32>(oa, hsum(a2), 8);
      store<f32>(oa, hsum(a3), 12);
      store<f32>(ob, hsum(b0));
      store<f32>(ob, hsum(b1), 4);
      store<f32>(ob, hsum(b2), 8);
      store<f32>(ob, hsum(b3), 12);
    }
    if (t < T) {
      const xa = xq + <usize>t * xRow;
      const sa = scales + ((<usize>t * <usize>nb) << 2);
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const xba = xa + (<usize>b << 6);
        const da = load<f32>(sa + (<usize>b << 2));
        a0 = f32x4.add(a0, blockTerm(w0 + <usize>b * bs, xba, da, q4));
        a1 = f32x4.add(a1, blockTerm(w1 + <usize>b * bs, xba, da, q4));
        a2 = f32x4.add(a2, blockTerm(w2 + <usize>b * bs, xba, da, q4));
        a3 = f32x4.add(a3, blockTerm(w3 + <usize>b * bs, xba, da, q4));
      }
      const oa = out + <usize>t * outRow + (<usize>o << 2);
      store<f32>(oa, hsum(a0));
      store<f32>(oa, hsum(a1), 4);
      store<f32>(oa, hsum(a2), 8);
      store<f32>(oa, hsum(a3), 12);
    }
  }
  for (; o < o1; o++) {
    const w0 = w + <usize>o * wRow;
    for (let t = 0; t < T; t++) {
      const xa = xq + <usize>t * xRow;
      const sa = scales + ((<usize>t * <usize>nb) << 2);
      let a0 = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        a0 = f32x4.add(a0, blockTerm(w0 + <usize>b * bs, xa + (<usize>b << 6), load<f32>(sa + (<usize>b << 2)), q4));
      }
      store<f32>(out + <usize>t * outRow + (<usize>o << 2), hsum(a0));
    }
  }
}

/** float(integer block dot)·(dw·dx) for one weight block at wb and one activation block at xb with scale dx. */
// @ts-ignore: decorator
@inline function blockTerm(wb: usize, xb: usize, dx: f32, q4: bool): v128 {
  const lo = lowHalf(wb, q4);
  const hi = highHalf(wb, q4);
  const s = dotBlock(
    i16x8.extend_low_i8x16_s(lo),
    i16x8.extend_high_i8x16_s(lo),
    i16x8.extend_low_i8x16_s(hi),
    i16x8.extend_high_i8x16_s(hi),
    xb,
  );
  return f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(f16ToF32(load<u16>(wb)) * dx));
}

/** out (T, O) rows o0 .. o1 = xq (T, C) · w (O, C)ᵀ, w Q8_0 blocks (O, C/32), xq from quantizeQ8Activations. */
export function matmulQ8_0(out: usize, xq: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulQuant(out, xq, w, T, C, O, o0, o1, false);
}

/** out (T, O) rows o0 .. o1 = xq (T, C) · w (O, C)ᵀ, w Q4_0 blocks (O, C/32), xq from quantizeQ8Activations. */
export function matmulQ4_0(out: usize, xq: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulQuant(out, xq, w, T, C, O, o0, o1, true);
}

/**
 * Weight rows the quantised prefill kernels widen at a time: one group of 4 rows, laid out in the scratch block by
 * block, each block = 4 rows × 32 int16 (256 bytes) then the 4 rows' scales as float32 (16 bytes), so the tile
 * reads the group front to back. Scratch per thread: (C/32) × 272 bytes (quantPrefillScratchBytes in
 * src/engine/kernels/wasm/quant-layout.ts).
 */
export const QUANT_PREFILL_ROWS: i32 = 4;
const GROUP_BLOCK: usize = 272;

/** Widens rows w .. w + n (n ≤ 4) of quantised blocks into the scratch group s; rows n .. 3 become zeros. */
// @ts-ignore: decorator
@inline function widenQuantGroup(s: usize, w: usize, nb: i32, n: i32, q4: bool): void {
  const bs = blockBytes(q4);
  const wRow = <usize>nb * bs;
  for (let r = 0; r < 4; r++) {
    const wr = w + <usize>r * wRow;
    const sr = s + (<usize>r << 6);
    for (let b = 0; b < nb; b++) {
      const g = sr + <usize>b * GROUP_BLOCK;
      const sc = s + <usize>b * GROUP_BLOCK + 256 + (<usize>r << 2);
      if (r < n) {
        const wb = wr + <usize>b * bs;
        const lo = lowHalf(wb, q4);
        const hi = highHalf(wb, q4);
        v128.store(g, i16x8.extend_low_i8x16_s(lo));
        v128.store(g, i16x8.extend_high_i8x16_s(lo), 16);
        v128.store(g, i16x8.extend_low_i8x16_s(hi), 32);
        v128.store(g, i16x8.extend_high_i8x16_s(hi), 48);
        store<f32>(sc, f16ToF32(load<u16>(wb)));
      } else {
        const z = i32x4.splat(0);
        v128.store(g, z);
        v128.store(g, z, 16);
        v128.store(g, z, 32);
        v128.store(g, z, 48);
        store<f32>(sc, 0);
      }
    }
  }
}

/** Integer dot of one activation block (4 × i16x8 at xb) with one widened weight row block (4 × i16x8 at g). */
// @ts-ignore: decorator
@inline function dotWide(g: usize, xb: usize): v128 {
  const s01 = i32x4.add(i32x4.dot_i16x8_s(v128.load(g), v128.load(xb)), i32x4.dot_i16x8_s(v128.load(g, 16), v128.load(xb, 16)));
  const s23 = i32x4.add(i32x4.dot_i16x8_s(v128.load(g, 32), v128.load(xb, 32)), i32x4.dot_i16x8_s(v128.load(g, 48), v128.load(xb, 48)));
  return i32x4.add(s01, s23);
}

/** [Σ p0, Σ p1, Σ p2, Σ p3]: the four lanes of each of four i32x4 summed (exact integer arithmetic). */
// @ts-ignore: decorator
@inline function sum4(p0: v128, p1: v128, p2: v128, p3: v128): v128 {
  const a = i32x4.add(v128.shuffle<i32>(p0, p1, 0, 4, 1, 5), v128.shuffle<i32>(p0, p1, 2, 6, 3, 7));
  const b = i32x4.add(v128.shuffle<i32>(p2, p3, 0, 4, 1, 5), v128.shuffle<i32>(p2, p3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(a, b, 0, 1, 4, 5), v128.shuffle<i32>(a, b, 2, 3, 6, 7));
}

/** One block's term for the group's 4 rows and one token: float(exact block sums)·(dw·dx), lane r for row r. */
// @ts-ignore: decorator
@inline function groupTerm(g: usize, xb: usize, dx: f32): v128 {
  const s = sum4(dotWide(g, xb), dotWide(g + 64, xb), dotWide(g + 128, xb), dotWide(g + 192, xb));
  return f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(v128.load(g, 256), f32x4.splat(dx)));
}

/** Stores lanes 0 .. n − 1 of v at p (n ≤ 4). */
// @ts-ignore: decorator
@inline function storeLanes(p: usize, v: v128, n: i32): void {
  if (n == 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// @ts-ignore: decorator
@inline function prefillQuant(out: usize, xq: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32, q4: bool): void {
  const nb = C >> 5;
  const wRow = <usize>nb * blockBytes(q4);
  const xRow = <usize>nb << 6;
  const scales = xq + <usize>T * xRow;
  const outRow = <usize>O << 2;
  for (let o = o0; o < o1; o += 4) {
    const n = min(4, o1 - o);
    widenQuantGroup(scratch, w + <usize>o * wRow, nb, n, q4);
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      const xa = xq + <usize>t * xRow;
      const xb = xa + xRow;
      const sa = scales + ((<usize>t * <usize>nb) << 2);
      const sb = sa + (<usize>nb << 2);
      let a = f32x4.splat(0), c = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        const g = scratch + <usize>b * GROUP_BLOCK;
        const xba = xa + (<usize>b << 6);
        const xbb = xb + (<usize>b << 6);
        // Each weight chunk is loaded once for both tokens; chunk 0 starts the sums, chunks 1 .. 3 add to them.
        let va = v128.load(xba), vb = v128.load(xbb);
        let wv = v128.load(g);
        let pa0 = i32x4.dot_i16x8_s(wv, va), pb0 = i32x4.dot_i16x8_s(wv, vb);
        wv = v128.load(g, 64);
        let pa1 = i32x4.dot_i16x8_s(wv, va), pb1 = i32x4.dot_i16x8_s(wv, vb);
        wv = v128.load(g, 128);
        let pa2 = i32x4.dot_i16x8_s(wv, va), pb2 = i32x4.dot_i16x8_s(wv, vb);
        wv = v128.load(g, 192);
        let pa3 = i32x4.dot_i16x8_s(wv, va), pb3 = i32x4.dot_i16x8_s(wv, vb);
        for (let j: usize = 16; j < 64; j += 16) {
          va = v128.load(xba + j);
          vb = v128.load(xbb + j);
          wv = v128.load(g + j);
          pa0 = i32x4.add(pa0, i32x4.dot_i16x8_s(wv, va));
          pb0 = i32x4.add(pb0, i32x4.dot_i16x8_s(wv, vb));
          wv = v128.load(g + 64 + j);
          pa1 = i32x4.add(pa1, i32x4.dot_i16x8_s(wv, va));
          pb1 = i32x4.add(pb1, i32x4.dot_i16x8_s(wv, vb));
          wv = v128.load(g + 128 + j);
          pa2 = i32x4.add(pa2, i32x4.dot_i16x8_s(wv, va));
          pb2 = i32x4.add(pb2, i32x4.dot_i16x8_s(wv, vb));
          wv = v128.load(g + 192 + j);
          pa3 = i32x4.add(pa3, i32x4.dot_i16x8_s(wv, va));
          pb3 = i32x4.add(pb3, i32x4.dot_i16x8_s(wv, vb));
        }
        const dw = v128.load(g, 256);
        const da = load<f32>(sa + (<usize>b << 2));
        const db = load<f32>(sb + (<usize>b << 2));
        a = f32x4.add(a, f32x4.mul(f32x4.convert_i32x4_s(sum4(pa0, pa1, pa2, pa3)), f32x4.mul(dw, f32x4.splat(da))));
        c = f32x4.add(c, f32x4.mul(f32x4.convert_i32x4_s(sum4(pb0, pb1, pb2, pb3)), f32x4.mul(dw, f32x4.splat(db))));
      }
      const oa = out + <usize>t * outRow + (<usize>o << 2);
      storeLanes(oa, a, n);
      storeLanes(oa + outRow, c, n);
    }
    if (t < T) {
      const xa = xq + <usize>t * xRow;
      const sa = scales + ((<usize>t * <usize>nb) << 2);
      let a = f32x4.splat(0);
      for (let b = 0; b < nb; b++) {
        a = f32x4.add(a, groupTerm(scratch + <usize>b * GROUP_BLOCK, xa + (<usize>b << 6), load<f32>(sa + (<usize>b << 2))));
      }
      storeLanes(out + <usize>t * outRow + (<usize>o << 2), a, n);
    }
  }
}

/**
 * Prefill form of matmulQ8_0: out (T, O) rows o0 .. o1 = xq (T, C) · w (O, C)ᵀ, w Q8_0 blocks, xq from
 * quantizeQ8Activations, each group of 4 weight rows widened to int16 once into scratch ((C/32) × 272 bytes) and
 * met by every token. Per output element: Σ over blocks, in order, of float(exact integer block dot)·(dw·dx), in
 * float32, as llama.cpp's reference vec_dot_q8_0_q8_0; lanes are rows, so any row split gives identical bits.
 */
export function matmulQ8_0Prefill(out: usize, xq: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  prefillQuant(out, xq, w, scratch, T, C, O, o0, o1, false);
}

/** Prefill form of matmulQ4_0 (as matmulQ8_0Prefill, w Q4_0 blocks). */
export function matmulQ4_0Prefill(out: usize, xq: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  prefillQuant(out, xq, w, scratch, T, C, O, o0, o1, true);
}
