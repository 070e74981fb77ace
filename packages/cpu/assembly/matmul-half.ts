/**
 * out (T, O) = x (T, C) · w (O, C)ᵀ with 16-bit weights (IEEE half or bfloat16 bits), read in place and widened
 * in registers, for output rows o0 .. o1 only. Not a conversion of the weights; not responsible for biases.
 *
 * Each group of four 16-bit weights is interleaved with zero into the high halves of 32-bit lanes (bfloat16: that
 * is the float32; half: a shift, a mask and a product by 2^112, exact for finite values and subnormals) and meets
 * x's channels in natural order, so x needs no shuffle. Two summation orders, one per kind of call:
 * - Decode (T = 1): four f32x4 accumulators, a_k += x[c+4k .. c+4k+4)·w[c+4k .. c+4k+4) for k = 0..3 over steps
 *   of 16 channels (four independent add chains, so one row streams at memory bandwidth); then
 *   (a0 + a1) + (a2 + a3), the fixed-order horizontal sum and the C mod 16 tail in order. One weight row at a
 *   time, front to back: the weights stream through memory as one sequential run (measured about twice the
 *   bandwidth of 4 or 8 rows side by side, see test/kernels-wasm/measure-matmul.ts).
 * - Prefill (T > 1): one f32x4 accumulator over chunks of 4 channels in order, the fixed-order horizontal sum,
 *   then the C mod 4 tail in order: the order of matmulF32, so the result is bitwise that of matmulF32 over the
 *   widened weights. Tiles of 4 weight rows × 2 tokens (each weight chunk widened once for two tokens, each x
 *   chunk loaded once for four rows; 8 accumulators), 4 × 1 for a last odd token, 1 × 1 for the last rows.
 *   Measured (T = 128, 576 × 1536, one thread) about 2× the 1 row × 2 token tile that shared decode's order.
 * Every tile of one kind computes an element the same way, so any row split gives identical bits. T = 1 and
 * T > 1 differ in the last bits (different summation orders): decode of a token does not reproduce the bits of
 * the same token inside a prefill.
 * matmulF16Prefill / matmulBF16Prefill (the engine's choice from 8 tokens on) widen PREFILL_ROWS weight rows at a
 * time into a caller's float32 scratch and run matmulF32's tile over them: the weights are widened once per call,
 * not once per pair of tokens, and the result is bitwise matmulF32 over the widened weights. When C is a multiple
 * of 4 the scratch holds groups of 4 rows interleaved chunk by chunk, so the tile reads its 4 rows from one address
 * (1.1× on 1536- and 2048-channel rows, measure-matmul.ts).
 */
import { bf16ToF32, f16High, f16ToF32, hsum, widenHigh16, widenLow16 } from "./common";
import { f32Rows } from "./matmul-f32";

/** Channels 0..3 of a chunk of eight 16-bit weights as float32. */
// @ts-ignore: decorator
@inline function lo(v: v128, bf16: bool): v128 {
  return bf16 ? widenLow16(v) : f16High(widenLow16(v));
}

/** Channels 4..7 of a chunk of eight 16-bit weights as float32. */
// @ts-ignore: decorator
@inline function hi(v: v128, bf16: bool): v128 {
  return bf16 ? widenHigh16(v) : f16High(widenHigh16(v));
}

/**
 * Σ of x·w over channels c0 .. c1 (c1 − c0 a multiple of 16; x and w address channel 0): four accumulators over
 * steps of 16 channels (channels 16i + 4k .. + 4 into accumulator k), (a0 + a1) + (a2 + a3), the fixed-order
 * horizontal sum. Four independent add chains keep one row streaming at memory bandwidth.
 */
// @ts-ignore: decorator
@inline function sum16(x: usize, w: usize, c0: i32, c1: i32, bf16: bool): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let c = c0; c < c1; c += 16) {
    const xo = x + (<usize>c << 2);
    const wo = w + (<usize>c << 1);
    const v = v128.load(wo);
    const u = v128.load(wo, 16);
    a0 = f32x4.add(a0, f32x4.mul(v128.load(xo), lo(v, bf16)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(xo, 16), hi(v, bf16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(xo, 32), lo(u, bf16)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(xo, 48), hi(u, bf16)));
  }
  return hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
}

/** s plus x·w over channels c0 .. c1 one at a time, in order (x and w address channel 0). */
// @ts-ignore: decorator
@inline function addTail(s: f32, x: usize, w: usize, c0: i32, c1: i32, bf16: bool): f32 {
  for (let c = c0; c < c1; c++) {
    const bits = <u32>load<u16>(w + (<usize>c << 1));
    s += load<f32>(x + (<usize>c << 2)) * (bf16 ? bf16ToF32(bits) : f16ToF32(bits));
  }
  return s;
}

/** One output element: weight row w0 (C halves) · token x (C float32), 1 × 1 tile. */
// @ts-ignore: decorator
@inline function dot1(x: usize, w0: usize, C: i32, C16: i32, bf16: bool): f32 {
  return addTail(sum16(x, w0, 0, C16, bf16), x, w0, C16, C, bf16);
}

/** Channels 0..3 of a chunk of four 16-bit weights at p as float32 (the prefill tail chunk). */
// @ts-ignore: decorator
@inline function quad(p: usize, bf16: bool): v128 {
  return lo(v128.load64_zero(p), bf16);
}

/** Prefill order: hsum of the one-accumulator sum, then the C mod 4 tail in order (as matmulF32's tailF32). */
// @ts-ignore: decorator
@inline function tailSeq(acc: v128, x: usize, w: usize, c0: i32, C: i32, bf16: bool): f32 {
  let s = hsum(acc);
  for (let c = c0; c < C; c++) {
    const bits = <u32>load<u16>(w + (<usize>c << 1));
    s += load<f32>(x + (<usize>c << 2)) * (bf16 ? bf16ToF32(bits) : f16ToF32(bits));
  }
  return s;
}

/**
 * One output element in prefill order (the 1 × 1 tile): one accumulator; per 8 channels, the even ones then the odd
 * ones; a last chunk of 4 in natural order; the horizontal sum; the C mod 4 tail in order.
 */
// @ts-ignore: decorator
@inline function dotSeq(x: usize, w0: usize, C: i32, C8: i32, C4: i32, bf16: bool): f32 {
  let a = f32x4.splat(0);
  let c = 0;
  for (; c < C8; c += 8) {
    const p = v128.load(x + (<usize>c << 2)), q = v128.load(x + (<usize>c << 2), 16);
    const v = v128.load(w0 + (<usize>c << 1));
    a = f32x4.add(a, f32x4.mul(v128.shuffle<f32>(p, q, 0, 2, 4, 6), even(v, bf16)));
    a = f32x4.add(a, f32x4.mul(v128.shuffle<f32>(p, q, 1, 3, 5, 7), odd(v, bf16)));
  }
  if (c < C4) a = f32x4.add(a, f32x4.mul(v128.load(x + (<usize>c << 2)), quad(w0 + (<usize>c << 1), bf16)));
  return tailSeq(a, x, w0, C4, C, bf16);
}

/** Channels 0, 2, 4, 6 of a chunk of eight 16-bit weights as float32 (moved to the high halves of the lanes). */
// @ts-ignore: decorator
@inline function even(v: v128, bf16: bool): v128 {
  const h = i32x4.shl(v, 16);
  return bf16 ? h : f16High(h);
}

/** Channels 1, 3, 5, 7 of a chunk of eight 16-bit weights as float32 (already in the high halves of the lanes). */
// @ts-ignore: decorator
@inline function odd(v: v128, bf16: bool): v128 {
  return bf16 ? v128.and(v, i32x4.splat(0xffff0000)) : f16High(v);
}

// @ts-ignore: decorator
@inline function matmulHalf(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32, bf16: bool): void {
  const C16 = C & ~15;
  const C8 = C & ~7;
  const C4 = C & ~3;
  const xRow = <usize>C << 2;
  const wRow = <usize>C << 1;
  const outRow = <usize>O << 2;
  let o = o0;
  if (T == 1) {
    for (; o < o1; o++) store<f32>(out + (<usize>o << 2), dot1(x, w + <usize>o * wRow, C, C16, bf16));
    return;
  }
  for (; o + 4 <= o1; o += 4) {
    // Prefill tile: 4 rows × 2 tokens, 8 channels (two chunks of 4, added in order) per step.
    const w0 = w + <usize>o * wRow;
    const w1 = w0 + wRow;
    const w2 = w1 + wRow;
    const w3 = w2 + wRow;
    const oo = out + (<usize>o << 2);
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      const xa = x + <usize>t * xRow;
      const xb = xa + xRow;
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
      let c = 0;
      for (; c < C8; c += 8) {
        // x's channels c .. c + 8 split into even and odd ones, once for four rows; each packed weight chunk then
        // widens with one operation per half (even: shift into the high half; odd: already there). The even
        // halves of the four rows first, then the odd ones (the chunk is loaded twice, from L1), so that at most
        // 12 vectors are live: no spills on x86-64's 16 registers.
        const xo = <usize>c << 2;
        const wo = <usize>c << 1;
        let p = v128.load(xa + xo), q = v128.load(xa + xo, 16);
        let xva = v128.shuffle<f32>(p, q, 0, 2, 4, 6);
        let r = v128.load(xb + xo), u = v128.load(xb + xo, 16);
        let xvb = v128.shuffle<f32>(r, u, 0, 2, 4, 6);
        let l = even(v128.load(w0 + wo), bf16);
        a0 = f32x4.add(a0, f32x4.mul(xva, l));
        b0 = f32x4.add(b0, f32x4.mul(xvb, l));
        l = even(v128.load(w1 + wo), bf16);
        a1 = f32x4.add(a1, f32x4.mul(xva, l));
        b1 = f32x4.add(b1, f32x4.mul(xvb, l));
        l = even(v128.load(w2 + wo), bf16);
        a2 = f32x4.add(a2, f32x4.mul(xva, l));
        b2 = f32x4.add(b2, f32x4.mul(xvb, l));
        l = even(v128.load(w3 + wo), bf16);
        a3 = f32x4.add(a3, f32x4.mul(xva, l));
        b3 = f32x4.add(b3, f32x4.mul(xvb, l));
        xva = v128.shuffle<f32>(p, q, 1, 3, 5, 7);
        xvb = v128.shuffle<f32>(r, u, 1, 3, 5, 7);
        l = odd(v128.load(w0 + wo), bf16);
        a0 = f32x4.add(a0, f32x4.mul(xva, l));
        b0 = f32x4.add(b0, f32x4.mul(xvb, l));
        l = odd(v128.load(w1 + wo), bf16);
        a1 = f32x4.add(a1, f32x4.mul(xva, l));
        b1 = f32x4.add(b1, f32x4.mul(xvb, l));
        l = odd(v128.load(w2 + wo), bf16);
        a2 = f32x4.add(a2, f32x4.mul(xva, l));
        b2 = f32x4.add(b2, f32x4.mul(xvb, l));
        l = odd(v128.load(w3 + wo), bf16);
        a3 = f32x4.add(a3, f32x4.mul(xva, l));
        b3 = f32x4.add(b3, f32x4.mul(xvb, l));
      }
      if (c < C4) {
        const xo = <usize>c << 2;
        const wo = <usize>c << 1;
        const pa = v128.load(xa + xo), pb = v128.load(xb + xo);
        let l = quad(w0 + wo, bf16);
        a0 = f32x4.add(a0, f32x4.mul(pa, l));
        b0 = f32x4.add(b0, f32x4.mul(pb, l));
        l = quad(w1 + wo, bf16);
        a1 = f32x4.add(a1, f32x4.mul(pa, l));
        b1 = f32x4.add(b1, f32x4.mul(pb, l));
        l = quad(w2 + wo, bf16);
        a2 = f32x4.add(a2, f32x4.mul(pa, l));
        b2 = f32x4.add(b2, f32x4.mul(pb, l));
        l = quad(w3 + wo, bf16);
        a3 = f32x4.add(a3, f32x4.mul(pa, l));
        b3 = f32x4.add(b3, f32x4.mul(pb, l));
      }
      const oa = oo + <usize>t * outRow;
      const ob = oa + outRow;
      store<f32>(oa, tailSeq(a0, xa, w0, C4, C, bf16));
      store<f32>(oa, tailSeq(a1, xa, w1, C4, C, bf16), 4);
      store<f32>(oa, tailSeq(a2, xa, w2, C4, C, bf16), 8);
      store<f32>(oa, tailSeq(a3, xa, w3, C4, C, bf16), 12);
      store<f32>(ob, tailSeq(b0, xb, w0, C4, C, bf16));
      store<f32>(ob, tailSeq(b1, xb, w1, C4, C, bf16), 4);
      store<f32>(ob, tailSeq(b2, xb, w2, C4, C, bf16), 8);
      store<f32>(ob, tailSeq(b3, xb, w3, C4, C, bf16), 12);
    }
    if (t < T) {
      const xa = x + <usize>t * xRow;
      const oa = oo + <usize>t * outRow;
      store<f32>(oa, dotSeq(xa, w0, C, C8, C4, bf16));
      store<f32>(oa, dotSeq(xa, w1, C, C8, C4, bf16), 4);
      store<f32>(oa, dotSeq(xa, w2, C, C8, C4, bf16), 8);
      store<f32>(oa, dotSeq(xa, w3, C, C8, C4, bf16), 12);
    }
  }
  for (; o < o1; o++) {
    const w0 = w + <usize>o * wRow;
    const oo = out + (<usize>o << 2);
    for (let t = 0; t < T; t++) store<f32>(oo + <usize>t * outRow, dotSeq(x + <usize>t * xRow, w0, C, C8, C4, bf16));
  }
}

/** out (T, O) rows o0 .. o1 = x (T, C) · w (O, C)ᵀ, w IEEE half bits (finite values). */
export function matmulF16(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulHalf(out, x, w, T, C, O, o0, o1, false);
}

/** out (T, O) rows o0 .. o1 = x (T, C) · w (O, C)ᵀ, w bfloat16 bits. */
export function matmulBF16(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulHalf(out, x, w, T, C, O, o0, o1, true);
}

/**
 * Weight rows per block of the prefill kernels: each block is widened to float32 once into the caller's scratch
 * (PREFILL_ROWS × C float32 per thread; src/engine/kernels/wasm/quant-layout.ts's prefillScratchBytes) and then
 * meets every token in matmulF32's tile.
 */
export const PREFILL_ROWS: i32 = 16;

/**
 * Channels per panel of the panel-major F16/BF16 layout (matmul*Panels): a matrix (O, C) stored as panel after
 * panel, panel k = channels k·PANEL .. min((k + 1)·PANEL, C) of all O rows, row after row. A multiple of 16.
 */
export const PANEL: i32 = 2048;

/** The address of row r's channels c0 .. (c0 + the panel's width) (c0 a panel start when `panels`, else 0). */
// @ts-ignore: decorator
@inline function segment(w: usize, O: i32, C: i32, r: i32, c0: i32, panels: bool): usize {
  if (!panels) return w + ((<usize>r * <usize>C) << 1);
  const width = min(PANEL, C - c0);
  return w + ((<usize>O * <usize>c0 + <usize>r * <usize>width) << 1);
}

/**
 * Widens row r of w (O, C; row-major, or panel-major when `panels`) to float32 at sr: channel c at sr + 4c
 * (row-major scratch), or, when `grouped`, at sr + 64·⌊c/4⌋ + 4·(c mod 4) (one row of a widenGroups group).
 */
// @ts-ignore: decorator
@inline function widenRow(sr: usize, w: usize, O: i32, C: i32, r: i32, bf16: bool, panels: bool, grouped: bool): void {
  const shift: usize = grouped ? 4 : 2; // bytes per channel of a chunk of 4 in the scratch: 16 (grouped) or 4
  for (let c0 = 0; c0 < C; c0 += panels ? PANEL : C) {
    const c1 = panels ? min(c0 + PANEL, C) : C;
    const wr = segment(w, O, C, r, c0, panels) - (<usize>c0 << 1); // channel c at wr + 2c
    const c8 = c0 + ((c1 - c0) & ~7);
    let c = c0;
    for (; c < c8; c += 8) {
      const v = v128.load(wr + (<usize>c << 1));
      v128.store(sr + (<usize>c << shift), lo(v, bf16));
      v128.store(sr + (<usize>(c + 4) << shift), hi(v, bf16));
    }
    for (; c < c1; c++) {
      const bits = <u32>load<u16>(wr + (<usize>c << 1));
      store<f32>(sr + (<usize>(c >> 2) << (shift + 2)) + (<usize>(c & 3) << 2), bf16 ? bf16ToF32(bits) : f16ToF32(bits));
    }
  }
}

/** Widens rows r0 .. r0 + n of w (O, C) into the scratch s, row-major (row i at s + i·C·4). */
// @ts-ignore: decorator
@inline function widenRows(s: usize, w: usize, O: i32, C: i32, r0: i32, n: i32, bf16: bool, panels: bool): void {
  for (let r = 0; r < n; r++) widenRow(s + <usize>r * (<usize>C << 2), w, O, C, r0 + r, bf16, panels, false);
}

/**
 * Widens rows r0 .. r0 + 4·nGroups of w (O, C) into the scratch as groups of 4 rows interleaved chunk by chunk:
 * chunk k (channels 4k .. 4k + 4) of a group is the 4 rows' float32 values, row after row (64 bytes), so a tile
 * reads its 4 weight rows from one address. C a multiple of 4; a group takes 16·C bytes.
 */
// @ts-ignore: decorator
@inline function widenGroups(s: usize, w: usize, O: i32, C: i32, r0: i32, nGroups: i32, bf16: bool, panels: bool): void {
  for (let g = 0; g < nGroups; g++) {
    const sg = s + <usize>g * (<usize>C << 4);
    for (let r = 0; r < 4; r++) widenRow(sg + (<usize>r << 4), w, O, C, r0 + 4 * g + r, bf16, panels, true);
  }
}

/**
 * matmulF32's 4-row × 2-token tile (and 4 × 1 for a last odd token) over one group widened by widenGroups at sg:
 * out rows o .. o + 4. The same operations per element as f32Rows over row-major rows (C a multiple of 4, so no
 * tail), hence the same bits; the 4 weight rows come from one address per chunk instead of four.
 */
// @ts-ignore: decorator
@inline function groupTile(out: usize, x: usize, sg: usize, T: i32, C: i32, O: i32, o: i32): void {
  const xRow = <usize>C << 2;
  const outRow = <usize>O << 2;
  let t = 0;
  for (; t + 2 <= T; t += 2) {
    const xa = x + <usize>t * xRow;
    const xb = xa + xRow;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    const pEnd = sg + (<usize>C << 4);
    for (let p = sg, off: usize = 0; p < pEnd; p += 64, off += 16) {
      const va = v128.load(xa + off);
      const vb = v128.load(xb + off);
      const v0 = v128.load(p);
      a0 = f32x4.add(a0, f32x4.mul(va, v0));
      b0 = f32x4.add(b0, f32x4.mul(vb, v0));
      const v1 = v128.load(p, 16);
      a1 = f32x4.add(a1, f32x4.mul(va, v1));
      b1 = f32x4.add(b1, f32x4.mul(vb, v1));
      const v2 = v128.load(p, 32);
      a2 = f32x4.add(a2, f32x4.mul(va, v2));
      b2 = f32x4.add(b2, f32x4.mul(vb, v2));
      const v3 = v128.load(p, 48);
      a3 = f32x4.add(a3, f32x4.mul(va, v3));
      b3 = f32x4.add(b3, f32x4.mul(vb, v3));
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
    const xa = x + <usize>t * xRow;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    const pEnd = sg + (<usize>C << 4);
    for (let p = sg, off: usize = 0; p < pEnd; p += 64, off += 16) {
      const va = v128.load(xa + off);
      a0 = f32x4.add(a0, f32x4.mul(va, v128.load(p)));
      a1 = f32x4.add(a1, f32x4.mul(va, v128.load(p, 16)));
      a2 = f32x4.add(a2, f32x4.mul(va, v128.load(p, 32)));
      a3 = f32x4.add(a3, f32x4.mul(va, v128.load(p, 48)));
    }
    const oa = out + <usize>t * outRow + (<usize>o << 2);
    store<f32>(oa, hsum(a0));
    store<f32>(oa, hsum(a1), 4);
    store<f32>(oa, hsum(a2), 8);
    store<f32>(oa, hsum(a3), 12);
  }
}

// @ts-ignore: decorator
@inline function prefillHalf(
  out: usize, x: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32, bf16: bool, panels: bool,
): void {
  for (let o = o0; o < o1; o += PREFILL_ROWS) {
    const e = min(o + PREFILL_ROWS, o1);
    if ((C & 3) != 0) {
      widenRows(scratch, w, O, C, o, e - o, bf16, panels);
      f32Rows(out, x, scratch, T, C, O, o, e);
      continue;
    }
    // Whole groups of 4 rows interleaved (groupTile); the last e − o mod 4 rows row-major after them (f32Rows).
    const nGroups = (e - o) >> 2;
    widenGroups(scratch, w, O, C, o, nGroups, bf16, panels);
    for (let g = 0; g < nGroups; g++) groupTile(out, x, scratch + <usize>g * (<usize>C << 4), T, C, O, o + 4 * g);
    const r0 = o + 4 * nGroups;
    if (r0 < e) {
      const rest = scratch + <usize>nGroups * (<usize>C << 4);
      widenRows(rest, w, O, C, r0, e - r0, bf16, panels);
      f32Rows(out, x, rest, T, C, O, r0, e);
    }
  }
}

/**
 * Decode over panel-major weights (PANEL): for each token, panel after panel over rows o0 .. o1, so the panel's
 * slice of x (8 KB) stays in L1 while the weights stream past it in one sequential run. Per element: Σ over
 * panels, in order, of the panel's sum (four accumulators over steps of 16 channels, (a0 + a1) + (a2 + a3), the
 * fixed-order horizontal sum), then the C mod 16 tail in order; any row split gives the same bits.
 */
// @ts-ignore: decorator
@inline function matmulHalfPanels(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32, bf16: bool): void {
  const C16 = C & ~15;
  const xRow = <usize>C << 2;
  const outRow = <usize>O << 2;
  for (let t = 0; t < T; t++) {
    const xt = x + <usize>t * xRow;
    const ot = out + <usize>t * outRow;
    for (let c0 = 0; c0 < C; c0 += PANEL) {
      const c1 = min(c0 + PANEL, C);
      const e16 = min(c1, C16);
      for (let o = o0; o < o1; o++) {
        const wr = segment(w, O, C, o, c0, true) - (<usize>c0 << 1); // channel c at wr + 2c
        const po = ot + (<usize>o << 2);
        let sum = sum16(xt, wr, c0, e16, bf16);
        if (c0 > 0) sum = load<f32>(po) + sum;
        sum = addTail(sum, xt, wr, e16, c1, bf16);
        store<f32>(po, sum);
      }
    }
  }
}

/**
 * Prefill form of matmulF16: out (T, O) rows o0 .. o1 = x (T, C) · w (O, C)ᵀ, w IEEE half bits, each block of
 * PREFILL_ROWS rows widened once into scratch (PREFILL_ROWS × C float32) and multiplied in matmulF32's order, so
 * the result is bitwise matmulF32 over the widened weights, for any T and any row split.
 */
export function matmulF16Prefill(out: usize, x: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  prefillHalf(out, x, w, scratch, T, C, O, o0, o1, false, false);
}

/** Prefill form of matmulBF16 (as matmulF16Prefill, w bfloat16 bits). */
export function matmulBF16Prefill(out: usize, x: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  prefillHalf(out, x, w, scratch, T, C, O, o0, o1, true, false);
}

/** matmulF16 over panel-major weights (PANEL; see matmulHalfPanels), any T. */
export function matmulF16Panels(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulHalfPanels(out, x, w, T, C, O, o0, o1, false);
}

/** matmulBF16 over panel-major weights (PANEL; see matmulHalfPanels), any T. */
export function matmulBF16Panels(out: usize, x: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulHalfPanels(out, x, w, T, C, O, o0, o1, true);
}

/** matmulF16Prefill over panel-major weights: the same bits as matmulF16Prefill over the row-major matrix. */
export function matmulF16PanelsPrefill(out: usize, x: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  prefillHalf(out, x, w, scratch, T, C, O, o0, o1, false, true);
}

/** matmulBF16Prefill over panel-major weights: the same bits as matmulBF16Prefill over the row-major matrix. */
export function matmulBF16PanelsPrefill(out: usize, x: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  prefillHalf(out, x, w, scratch, T, C, O, o0, o1, true, true);
}
