/**
 * Matrix products with weights in llama.cpp's quantised block layouts, and the quantisation of activations they
 * consume. Output rows o0 .. o1 only; not responsible for quantising weights (a load-time job) or for biases.
 *
 * Weight blocks cover 32 consecutive channels of one row:
 *   Q8_0: 34 bytes = f16 scale d, then 32 int8 q; value = q·d.
 *   Q4_0: 18 bytes = f16 scale d, then 16 bytes; byte j holds element j (low nibble) and j + 16 (high nibble);
 *         value = (nibble − 8)·d.
 * Both are read in a row-interleaved form of those blocks, made in place once at load by interleaveQ8_0 /
 * interleaveQ4_0 (same bytes, same size): rows in groups of 4, block b of a group = the 4 rows' f16 scales (8 bytes)
 * then the 4 rows' quants (4 × 32 bytes of int8, or 4 × 16 bytes of nibbles): 136 or 72 bytes; the last O mod 4 rows
 * stay in llama.cpp's layout after the groups. A group then streams through memory as one sequential run with its
 * 4 rows in the 4 SIMD lanes.
 *
 * Activations are quantised first, as llama.cpp does for these types (its vec_dot_q8_0_q8_0 / q4_0_q8_0), so the
 * inner loop is an exact integer dot product (i32x4.dot_i16x8_s) and results track llama.cpp's: per block of 32,
 * dx = max|x|/127, q = round-to-nearest-even(x/dx) in [−127, 127], and dx is rounded to f16 as llama.cpp stores it.
 * The quantised activations are kept widened to int16 so they meet widened weights directly:
 *   xq (T, C/32, 32) int16, followed at xq + T·C/32·64 by the scales (T, C/32) float32.
 *
 * Every kernel here sums the same way: per output element, Σ over blocks in order of float(exact integer block
 * dot)·(dw·dx) in float32 — llama.cpp's reference vec_dot arithmetic, and the reference kernels'
 * (src/engine/kernels/reference/matmul-quant.ts), bit for bit; so decode (matmulQ8_0 / matmulQ4_0, any T) and prefill
 * (matmulQ8_0Prefill / matmulQ4_0Prefill) give the same bits, and any row split does too. Q4_0 nibbles meet the
 * activations as they are (0 .. 15) and 8·Σx is taken off each block's sum, exactly. C must be a multiple of 32 (the
 * TypeScript side checks); row ranges keep groups of 4 rows whole.
 *
 * The prefill kernels (at the end) widen each group of 4 weight rows to int16 once into a per-thread scratch and meet
 * every token with it, 4 rows × 2 tokens at a time (about 1.8× a 4 × 2 tile over the packed blocks at 128 tokens).
 */
import { f16High, f16ToF32, roundToF16, widenLow16 } from "./common";

/**
 * xq (T, C/32, 32) int16, its scales (T, C/32) float32 and its nibble biases (T, C/32) int32 = Q8 blocks of x (T, C),
 * rows t0 .. t1 only. A block's nibble bias is 8 · Σ of its 32 quants: what Q4_0's offset of 8 adds to the block's
 * integer dot with nibbles (0 .. 15), which the Q4_0 decode kernel takes off (exact; |8 · Σ| ≤ 32,512).
 */
export function quantizeQ8Activations(xq: usize, x: usize, T: i32, C: i32, t0: i32, t1: i32): void {
  const nb = C >> 5;
  const scales = xq + <usize>T * <usize>nb * 64;
  const biases = scales + <usize>T * <usize>nb * 4;
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
      const q0 = i16x8.narrow_i32x4_s(quant(v0, id), quant(v1, id));
      const q1 = i16x8.narrow_i32x4_s(quant(v2, id), quant(v3, id));
      const q2 = i16x8.narrow_i32x4_s(quant(v4, id), quant(v5, id));
      const q3 = i16x8.narrow_i32x4_s(quant(v6, id), quant(v7, id));
      v128.store(q, q0);
      v128.store(q, q1, 16);
      v128.store(q, q2, 32);
      v128.store(q, q3, 48);
      store<f32>(scales + (i << 2), roundToF16(d));
      store<i32>(biases + (i << 2), hsumInt(nibbleBias(q0, q1, q2, q3)));
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

/** Channels 0..15 of the quants at q as int8 (Q8_0: q; Q4_0: low nibbles − 8). */
// @ts-ignore: decorator
@inline function lowQuants(q: usize, q4: bool): v128 {
  if (q4) return i8x16.sub(v128.and(v128.load(q), i8x16.splat(0x0f)), i8x16.splat(8));
  return v128.load(q);
}

/** Channels 16..31 of the quants at q as int8 (Q8_0: q; Q4_0: high nibbles − 8). */
// @ts-ignore: decorator
@inline function highQuants(q: usize, q4: bool): v128 {
  if (q4) return i8x16.sub(i8x16.shr_u(v128.load(q), 4), i8x16.splat(8));
  return v128.load(q, 16);
}

/** Bytes of a row's quants in one block: 32 int8 (Q8_0) or 16 bytes of nibbles (Q4_0). */
// @ts-ignore: decorator
@inline function quantBytes(q4: bool): usize {
  return q4 ? 16 : 32;
}

/**
 * Bytes of one block of a group of 4 rows in the row-interleaved layout: the 4 rows' f16 scales (8 bytes), then
 * their quants (4 × 32 bytes for Q8_0, 4 × 16 for Q4_0): 136 or 72, the bytes of 4 of llama.cpp's blocks.
 */
// @ts-ignore: decorator
@inline function groupBlockBytes(q4: bool): usize {
  return 8 + (quantBytes(q4) << 2);
}

// @ts-ignore: decorator
@inline function interleave(w: usize, tmp: usize, O: i32, C: i32, q4: bool): void {
  const nb = C >> 5;
  const bs = blockBytes(q4);
  const qb = quantBytes(q4);
  const gb = groupBlockBytes(q4);
  const rowBytes = <usize>nb * bs;
  const groupBytes = <usize>nb * gb;
  for (let o = 0; o + 4 <= O; o += 4) {
    const g = w + <usize>(o >> 2) * groupBytes;
    memory.copy(tmp, g, groupBytes);
    for (let b = 0; b < nb; b++) {
      const dst = g + <usize>b * gb;
      for (let r = 0; r < 4; r++) {
        const src = tmp + <usize>r * rowBytes + <usize>b * bs;
        store<u16>(dst + (<usize>r << 1), load<u16>(src));
        const q = dst + 8 + <usize>r * qb;
        v128.store(q, v128.load(src, 2));
        if (!q4) v128.store(q, v128.load(src, 18), 16);
      }
    }
  }
}

/**
 * Rewrites the Q8_0 matrix w (O, C/32 blocks, llama.cpp's layout) in place into the row-interleaved layout the
 * Q8_0 kernels read: rows in groups of 4, block b of a group = the 4 rows' f16 scales (8 bytes) then their 32 int8
 * quants each (4 × 32 bytes), groups one after another; the last O mod 4 rows stay as they were, after the groups.
 * Same bytes, same size. tmp: 4 rows' worth of blocks ((C/32) × 136 bytes), not overlapping w.
 */
export function interleaveQ8_0(w: usize, tmp: usize, O: i32, C: i32): void {
  interleave(w, tmp, O, C, false);
}

/** interleaveQ8_0 for Q4_0: block b of a group = the 4 rows' f16 scales then their 16 bytes of nibbles each (72 bytes). */
export function interleaveQ4_0(w: usize, tmp: usize, O: i32, C: i32): void {
  interleave(w, tmp, O, C, true);
}

/** The 4 f16 scales at p as float32 (bitwise f16ToF32 of each). */
// @ts-ignore: decorator
@inline function groupScales(p: usize): v128 {
  return f16High(widenLow16(v128.load64_zero(p)));
}

/**
 * Integer dot (i32x4 partial sums) of one row's quants at q with one activation block x0..x3 (int16). Q4_0: of the
 * nibbles as they are (0 .. 15), the caller subtracting 8·Σx (the block's nibble bias), and with x2, x3 passed as
 * highTerms(x0 .. x3): a byte y = lo + 16·hi meets x0/x1 whole and its high nibble meets x_hi − 16·x_lo, which sums
 * to lo·x_lo + hi·x_hi exactly without masking the low nibbles (|y·x| ≤ 32,385, |x_hi − 16·x_lo| ≤ 2,159).
 */
// @ts-ignore: decorator
@inline function rowDot(q: usize, x0: v128, x1: v128, x2: v128, x3: v128, q4: bool): v128 {
  if (q4) {
    const a = v128.load8x8_u(q), b = v128.load8x8_u(q, 8); // bytes 0..7 and 8..15 as u16
    const lo = i32x4.add(i32x4.dot_i16x8_s(a, x0), i32x4.dot_i16x8_s(b, x1));
    const hi = i32x4.add(i32x4.dot_i16x8_s(i16x8.shr_u(a, 4), x2), i32x4.dot_i16x8_s(i16x8.shr_u(b, 4), x3));
    return i32x4.add(lo, hi);
  }
  const a = i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q), x0), i32x4.dot_i16x8_s(v128.load8x8_s(q, 8), x1));
  const b = i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(q, 16), x2), i32x4.dot_i16x8_s(v128.load8x8_s(q, 24), x3));
  return i32x4.add(a, b);
}

/** x_hi − 16·x_lo for the high nibbles' half of an activation block (x2, x3 against x0, x1), exact in int16. */
// @ts-ignore: decorator
@inline function highTerm(xHi: v128, xLo: v128): v128 {
  return i16x8.sub(xHi, i16x8.shl(xLo, 4));
}

/** 8·(x0 + x1 + x2 + x3) lane-wise, in i32 lanes whose sum is a block's nibble bias 8·Σx (exact; quantizeQ8Activations). */
// @ts-ignore: decorator
@inline function nibbleBias(x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  return i32x4.dot_i16x8_s(i16x8.add(i16x8.add(x0, x1), i16x8.add(x2, x3)), i16x8.splat(8));
}

/**
 * One block's term of a row-interleaved group of 4 rows (block at g) and one token (activation block at xb, scale
 * dx): float(exact block sums)·(dw·dx), lane r for row r. Each row's partial sums are stored to `sink` (any 16
 * bytes the caller will overwrite) as soon as they are made: the store orders them before the next row's loads,
 * where the compiler (V8's TurboFan) would otherwise hoist all 16 weight loads first and spill registers.
 */
// @ts-ignore: decorator
@inline function groupBlock(g: usize, xb: usize, dx: f32, bias: usize, sink: usize, q4: bool): v128 {
  const qb = quantBytes(q4);
  const x0 = v128.load(xb), x1 = v128.load(xb, 16);
  let x2 = v128.load(xb, 32), x3 = v128.load(xb, 48);
  if (q4) {
    x2 = highTerm(x2, x0);
    x3 = highTerm(x3, x1);
  }
  const p0 = rowDot(g + 8, x0, x1, x2, x3, q4);
  v128.store(sink, p0);
  const p1 = rowDot(g + 8 + qb, x0, x1, x2, x3, q4);
  v128.store(sink, p1);
  const p2 = rowDot(g + 8 + 2 * qb, x0, x1, x2, x3, q4);
  v128.store(sink, p2);
  const p3 = rowDot(g + 8 + 3 * qb, x0, x1, x2, x3, q4);
  let s = sum4(p0, p1, p2, p3);
  if (q4) s = i32x4.sub(s, v128.load32_splat(bias));
  const d = f32x4.mul(groupScales(g), f32x4.splat(dx));
  return f32x4.mul(f32x4.convert_i32x4_s(s), d);
}

// @ts-ignore: decorator
@inline function matmulGroups(out: usize, xq: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32, q4: bool): void {
  const nb = C >> 5;
  const xRow = <usize>nb << 6;
  const scales = xq + <usize>T * xRow;
  const biases = scales + ((<usize>T * <usize>nb) << 2);
  const outRow = <usize>O << 2;
  const gb = groupBlockBytes(q4);
  const groupBytes = <usize>nb * gb;
  const O4 = O & ~3;
  let o = o0;
  for (; o + 4 <= min(o1, O4); o += 4) {
    const g0 = w + <usize>(o >> 2) * groupBytes;
    const gEnd = g0 + groupBytes;
    for (let t = 0; t < T; t++) {
      const dst = out + <usize>t * outRow + (<usize>o << 2); // also the sink of groupBlock's ordering stores
      let xb = xq + <usize>t * xRow;
      let sp = scales + ((<usize>t * <usize>nb) << 2);
      let bp = biases + ((<usize>t * <usize>nb) << 2);
      let acc = f32x4.splat(0);
      for (let g = g0; g < gEnd; g += gb) {
        acc = f32x4.add(acc, groupBlock(g, xb, load<f32>(sp), bp, dst, q4));
        xb += 64;
        sp += 4;
        bp += 4;
      }
      v128.store(dst, acc);
    }
  }
  // The last O mod 4 rows, in llama.cpp's layout after the groups: the same arithmetic one lane at a time.
  const bs = blockBytes(q4);
  const tail = w + <usize>(O4 >> 2) * groupBytes;
  for (; o < o1; o++) {
    const wr = tail + <usize>(o - O4) * <usize>nb * bs;
    for (let t = 0; t < T; t++) {
      const xa = xq + <usize>t * xRow;
      const sa = scales + ((<usize>t * <usize>nb) << 2);
      const ba = biases + ((<usize>t * <usize>nb) << 2);
      let acc: f32 = 0;
      for (let b = 0; b < nb; b++) {
        const wb = wr + <usize>b * bs;
        const xb = xa + (<usize>b << 6);
        const x0 = v128.load(xb), x1 = v128.load(xb, 16);
        let x2 = v128.load(xb, 32), x3 = v128.load(xb, 48);
        if (q4) {
          x2 = highTerm(x2, x0);
          x3 = highTerm(x3, x1);
        }
        let dot = hsumInt(rowDot(wb + 2, x0, x1, x2, x3, q4));
        if (q4) dot -= load<i32>(ba + (<usize>b << 2));
        acc += <f32>dot * (f16ToF32(load<u16>(wb)) * load<f32>(sa + (<usize>b << 2)));
      }
      store<f32>(out + <usize>t * outRow + (<usize>o << 2), acc);
    }
  }
}

/** The sum of the four i32 lanes of v (exact). */
// @ts-ignore: decorator
@inline function hsumInt(v: v128): i32 {
  const s = i32x4.add(v, v128.shuffle<i32>(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/**
 * out (T, O) rows o0 .. o1 = xq (T, C) · w (O, C)ᵀ, w row-interleaved Q8_0 (interleaveQ8_0), xq from
 * quantizeQ8Activations. Per output element: Σ over blocks, in order, of float(exact integer block dot)·(dw·dx) in
 * float32 — bitwise matmulQ8_0Prefill and the reference kernel. A group of 4 rows streams as one sequential run,
 * its rows in the 4 lanes. o0 (and o1, unless it is O) must be multiples of 4 below O − O mod 4.
 */
export function matmulQ8_0(out: usize, xq: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulGroups(out, xq, w, T, C, O, o0, o1, false);
}

/** matmulQ8_0 over row-interleaved Q4_0 (interleaveQ4_0): bitwise matmulQ4_0Prefill and the reference kernel. */
export function matmulQ4_0(out: usize, xq: usize, w: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  matmulGroups(out, xq, w, T, C, O, o0, o1, true);
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
        const lo = lowQuants(wb + 2, q4);
        const hi = highQuants(wb + 2, q4);
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

/** Widens one group of 4 row-interleaved rows (interleaveQ8_0 / interleaveQ4_0) at g into the scratch group s. */
// @ts-ignore: decorator
@inline function widenGroup(s: usize, g: usize, nb: i32, q4: bool): void {
  const gb = groupBlockBytes(q4);
  const qb = quantBytes(q4);
  for (let b = 0; b < nb; b++) {
    const src = g + <usize>b * gb;
    const dst = s + <usize>b * GROUP_BLOCK;
    v128.store(dst, groupScales(src), 256);
    for (let r = 0; r < 4; r++) {
      const q = src + 8 + <usize>r * qb;
      const lo = lowQuants(q, q4);
      const hi = highQuants(q, q4);
      const d = dst + (<usize>r << 6);
      v128.store(d, i16x8.extend_low_i8x16_s(lo));
      v128.store(d, i16x8.extend_high_i8x16_s(lo), 16);
      v128.store(d, i16x8.extend_low_i8x16_s(hi), 32);
      v128.store(d, i16x8.extend_high_i8x16_s(hi), 48);
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
  const O4 = O & ~3; // rows below O4 are row-interleaved (interleaveQ8_0 / Q4_0), the rest llama.cpp's
  const groupBytes = <usize>nb * groupBlockBytes(q4);
  const tail = w + <usize>(O4 >> 2) * groupBytes;
  for (let o = o0; o < o1; o += 4) {
    const n = min(4, o1 - o);
    if (o < O4) widenGroup(scratch, w + <usize>(o >> 2) * groupBytes, nb, q4);
    else widenQuantGroup(scratch, tail + <usize>(o - O4) * wRow, nb, n, q4);
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
          // Constant offsets as the loads' immediates: one address computation for the 4 weight rows.
          const gj = g + j;
          va = v128.load(xba + j);
          vb = v128.load(xbb + j);
          wv = v128.load(gj);
          pa0 = i32x4.add(pa0, i32x4.dot_i16x8_s(wv, va));
          pb0 = i32x4.add(pb0, i32x4.dot_i16x8_s(wv, vb));
          wv = v128.load(gj, 64);
          pa1 = i32x4.add(pa1, i32x4.dot_i16x8_s(wv, va));
          pb1 = i32x4.add(pb1, i32x4.dot_i16x8_s(wv, vb));
          wv = v128.load(gj, 128);
          pa2 = i32x4.add(pa2, i32x4.dot_i16x8_s(wv, va));
          pb2 = i32x4.add(pb2, i32x4.dot_i16x8_s(wv, vb));
          wv = v128.load(gj, 192);
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
 * Prefill form of matmulQ8_0: out (T, O) rows o0 .. o1 = xq (T, C) · w (O, C)ᵀ, w row-interleaved Q8_0
 * (interleaveQ8_0), xq from quantizeQ8Activations, each group of 4 weight rows widened to int16 once into scratch
 * ((C/32) × 272 bytes) and met by every token; o0, o1 as matmulQ8_0. Per output element: Σ over blocks, in order, of float(exact integer block dot)·(dw·dx), in
 * float32, as llama.cpp's reference vec_dot_q8_0_q8_0; lanes are rows, so any row split gives identical bits.
 */
export function matmulQ8_0Prefill(out: usize, xq: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  prefillQuant(out, xq, w, scratch, T, C, O, o0, o1, false);
}

/** Prefill form of matmulQ4_0 (as matmulQ8_0Prefill, w row-interleaved Q4_0: interleaveQ4_0). */
export function matmulQ4_0Prefill(out: usize, xq: usize, w: usize, scratch: usize, T: i32, C: i32, O: i32, o0: i32, o1: i32): void {
  prefillQuant(out, xq, w, scratch, T, C, O, o0, o1, true);
}
