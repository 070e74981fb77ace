/**
 * Causal grouped-query attention over a KV cache, for query heads h0 .. h1 only (threads split by heads):
 * scores q·k·scale (optionally tanh soft-capped), softmax, weighted sum of values. Not responsible for appending
 * to the cache or for rope; the cache layout is (G, S, D), as in the reference kernel: each KV head's positions
 * one after another, so that reading a head's keys or values is one stream through memory. The cache holds float32
 * (attention) or IEEE halves (attentionF16: each block of keys or values a pass reads is widened to float32 once, in
 * the scratch, and every head of the pass then reads it as attention reads a float32 cache: the same bits as attention
 * over the widened values).
 *
 * Query t sits at position pos0 + t and sees positions lo .. pos0 + t, lo = 0, or max(0, pos0 + t − W + 1) with a
 * sliding window W > 0. Query head h reads key/value head floor(h / (H / G)).
 */
import { expS, expV, f16High, f16ToF32, hsum, widenHigh16, widenLow16 } from "./common";

/**
 * Query heads that share one pass over their KV head's cache: the heads of a call that read the same KV head are
 * taken together, up to this many at a time; the pass reads the keys block of 4 positions by block, every head taking
 * its turn on the block while it is in L1, then the values block of VALUE_BLOCK positions by block, the same way, so
 * the cache streams from memory once per group of heads instead of once per head. The scores scratch holds one row
 * per head of a pass.
 */
// @ts-ignore: decorator
@inline export const ATTENTION_ROWS: i32 = 16;

/** Positions per block of the value sums: a block of a KV head's value rows (4 KB at D = 64) stays in L1 while
 * every channel pass of every head of a pass reads it. */
// @ts-ignore: decorator
@inline const VALUE_BLOCK: i32 = 16;

/**
 * out (T, H, D) heads h0 .. h1 = attention of q (T, H, D) over k, v (G, S, D) float32: S positions per KV head, the
 * cache's capacity (at least pos0 + T). scores: scratch private to the caller (one per thread) of
 * attentionScratchBytes(H, G, D, pos0 + T) bytes: min(H / G, ATTENTION_ROWS) rows of (pos0 + T) rounded up to a
 * multiple of 4 float32, ATTENTION_ROWS float32, then (4 + VALUE_BLOCK) · D float32 (attentionF16's widened blocks).
 * Each head's arithmetic is the same whichever heads share its pass (and so whatever range of heads a call
 * computes): sharing changes which loads hit a cache, not a single bit.
 */
export function attention(
  out: usize, q: usize, k: usize, v: usize, scores: usize, T: i32, H: i32, G: i32, D: i32, S: i32,
  pos0: i32, window: i32, scale: f32, softcapValue: f32, h0: i32, h1: i32,
): void {
  attend(out, q, k, v, scores, T, H, G, D, S, pos0, window, scale, softcapValue, h0, h1, false);
}

/**
 * attention over a cache of IEEE halves (G, S, D): the bits of attention over the same values widened to float32.
 * Same arguments and scratch.
 */
export function attentionF16(
  out: usize, q: usize, k: usize, v: usize, scores: usize, T: i32, H: i32, G: i32, D: i32, S: i32,
  pos0: i32, window: i32, scale: f32, softcapValue: f32, h0: i32, h1: i32,
): void {
  attend(out, q, k, v, scores, T, H, G, D, S, pos0, window, scale, softcapValue, h0, h1, true);
}

/**
 * Widens positions 0 .. span − 1 of KV heads g0 .. g1 of a (G, S, D) cache of IEEE halves into a float32 (G, S, D)
 * copy at out (exact; the same values attentionF16 widens block by block). A prefill runs attention over the copy:
 * the bits of attentionF16, whose passes would widen each block again for every query.
 */
export function widenKVF16(out: usize, x: usize, S: i32, D: i32, span: i32, g0: i32, g1: i32): void {
  for (let g = g0; g < g1; g++) {
    const off = <usize>g * <usize>S * <usize>D;
    widenHalves(out + (off << 2), x + (off << 1), span * D);
  }
}

/** n IEEE halves at src to float32 at dst (exact), eight at a time. */
// @ts-ignore: decorator
@inline function widenHalves(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), f16High(widenLow16(h)));
    v128.store(dst + (<usize>i << 2), f16High(widenHigh16(h)), 16);
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), f16ToF32(<u32>load<u16>(src + (<usize>i << 1))));
}

// @ts-ignore: decorator
@inline function attend(
  out: usize,
  q: usize,
  k: usize,
  v: usize,
  scores: usize,
  T: i32,
  H: i32,
  G: i32,
  D: i32,
  S: i32,
  pos0: i32,
  window: i32,
  scale: f32,
  softcapValue: f32,
  h0: i32,
  h1: i32,
  f16: bool,
): void {
  const group = H / G;
  const rowKV = <usize>D << 2; // bytes between a KV head's positions (float32; the halves' rows are half as long)
  const headKV = <usize>S * (f16 ? <usize>D << 1 : rowKV); // bytes between KV heads
  const D4 = D & ~3;
  const headBytes = <usize>D << 2;
  const rowStride = <usize>((pos0 + T + 3) & ~3) << 2; // bytes between the scores rows of a pass's heads
  const invs = scores + <usize>min(group, ATTENTION_ROWS) * rowStride; // each head's 1 / Σ exp
  const kWide = invs + (<usize>ATTENTION_ROWS << 2); // f16: 4 key rows widened to float32
  const vWide = kWide + (<usize>D << 4); // f16: VALUE_BLOCK value rows widened to float32
  for (let t = 0; t < T; t++) {
    const p = pos0 + t;
    const lo = window > 0 ? max(0, p - window + 1) : 0;
    const qt = q + (<usize>(t * H * D) << 2);
    let hs = h0;
    while (hs < h1) {
      const kvHead = hs / group;
      const he = min(min(h1, (kvHead + 1) * group), hs + ATTENTION_ROWS); // the heads sharing this pass
      const kh = k + <usize>kvHead * headKV;
      // Scores: four positions at a time, each chunk of q loaded once for the four key rows and the four dot
      // products reduced across lanes together (sum4). Every position is summed the same way (see score1), so
      // grouping positions by four does not change its bits; the pass's heads take turns on the same four rows.
      let s = lo;
      for (; s + 4 <= p + 1; s += 4) {
        let k0 = kh + <usize>s * rowKV;
        if (f16) {
          widenHalves(kWide, kh + (<usize>s * <usize>D << 1), D << 2);
          k0 = kWide;
        }
        const k1 = k0 + rowKV;
        const k2 = k1 + rowKV;
        const k3 = k2 + rowKV;
        // Two heads at a time where the pass has two: each key chunk loaded once for both, eight independent sums.
        let h = hs;
        for (; h + 2 <= he; h += 2) {
          const qp = qt + <usize>h * headBytes;
          const qr = qp + headBytes;
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
          let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
          for (let d = 0; d < D4; d += 4) {
            const off = <usize>d << 2;
            const x0 = v128.load(k0 + off), x1 = v128.load(k1 + off), x2 = v128.load(k2 + off), x3 = v128.load(k3 + off);
            const qv = v128.load(qp + off);
            a0 = f32x4.add(a0, f32x4.mul(qv, x0));
            a1 = f32x4.add(a1, f32x4.mul(qv, x1));
            a2 = f32x4.add(a2, f32x4.mul(qv, x2));
            a3 = f32x4.add(a3, f32x4.mul(qv, x3));
            const qw = v128.load(qr + off);
            b0 = f32x4.add(b0, f32x4.mul(qw, x0));
            b1 = f32x4.add(b1, f32x4.mul(qw, x1));
            b2 = f32x4.add(b2, f32x4.mul(qw, x2));
            b3 = f32x4.add(b3, f32x4.mul(qw, x3));
          }
          let sv = sum4f(a0, a1, a2, a3);
          let sw = sum4f(b0, b1, b2, b3);
          for (let d = D4; d < D; d++) {
            const off = <usize>d << 2;
            const kv = keyLanes(k0, rowKV, off);
            sv = f32x4.add(sv, f32x4.mul(f32x4.splat(load<f32>(qp + off)), kv));
            sw = f32x4.add(sw, f32x4.mul(f32x4.splat(load<f32>(qr + off)), kv));
          }
          const row = scores + <usize>(h - hs) * rowStride + (<usize>s << 2);
          v128.store(row, finishScores(sv, scale, softcapValue));
          v128.store(row + rowStride, finishScores(sw, scale, softcapValue));
        }
        for (; h < he; h++) {
          const sv = sums4(qt + <usize>h * headBytes, k0, rowKV, D, D4);
          v128.store(scores + <usize>(h - hs) * rowStride + (<usize>s << 2), finishScores(sv, scale, softcapValue));
        }
      }
      for (; s <= p; s++) {
        let kr = kh + <usize>s * rowKV;
        if (f16) {
          widenHalves(kWide, kh + (<usize>s * <usize>D << 1), D);
          kr = kWide;
        }
        for (let h = hs; h < he; h++) {
          let score = score1(qt + <usize>h * headBytes, kr, D, D4) * scale;
          if (softcapValue > 0) score = softcap(score, softcapValue);
          store<f32>(scores + <usize>(h - hs) * rowStride + (<usize>s << 2), score);
        }
      }
      // Each head's softmax: its maximum, then exp(score − max) in place and their sum.
      for (let h = hs; h < he; h++) {
        const row = scores + <usize>(h - hs) * rowStride;
        const mx = maxScore(row, lo, p);
        const mv = f32x4.splat(mx);
        let acc = f32x4.splat(0);
        s = lo;
        for (; s + 4 <= p + 1; s += 4) {
          const sp = row + (<usize>s << 2);
          const e = expV(f32x4.sub(v128.load(sp), mv));
          v128.store(sp, e);
          acc = f32x4.add(acc, e);
        }
        let sum = hsum(acc);
        for (; s <= p; s++) {
          const sp = row + (<usize>s << 2);
          const e = expS(load<f32>(sp) - mx);
          store<f32>(sp, e);
          sum += e;
        }
        store<f32>(invs + (<usize>(h - hs) << 2), <f32>1 / sum);
      }
      weightedSums(out + (<usize>(t * H * D) << 2), scores, rowStride, invs, v + <usize>kvHead * headKV, rowKV, lo, p, D, hs, he, f16, vWide);
      hs = he;
    }
  }
}

/**
 * The sums of one head's q row at qp with the four key rows from k0 (rowKV bytes apart): one f32x4 accumulator per
 * row over chunks of 4 in order, the four horizontal sums at once (sum4f), then the D mod 4 tail in order. The pair
 * path in attend sums each of its heads the same way.
 */
// @ts-ignore: decorator
@inline function sums4(qp: usize, k0: usize, rowKV: usize, D: i32, D4: i32): v128 {
  const k1 = k0 + rowKV;
  const k2 = k1 + rowKV;
  const k3 = k2 + rowKV;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let d = 0; d < D4; d += 4) {
    const off = <usize>d << 2;
    const qv = v128.load(qp + off);
    a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + off)));
    a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k1 + off)));
    a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k2 + off)));
    a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k3 + off)));
  }
  let sv = sum4f(a0, a1, a2, a3);
  for (let d = D4; d < D; d++) {
    const off = <usize>d << 2;
    sv = f32x4.add(sv, f32x4.mul(f32x4.splat(load<f32>(qp + off)), keyLanes(k0, rowKV, off)));
  }
  return sv;
}

/** The key values at byte offset off of the four rows from k0 (rowKV bytes apart), one per lane. */
// @ts-ignore: decorator
@inline function keyLanes(k0: usize, rowKV: usize, off: usize): v128 {
  const k1 = k0 + rowKV;
  const k2 = k1 + rowKV;
  const k3 = k2 + rowKV;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(k0 + off)), 1, load<f32>(k1 + off)), 2, load<f32>(k2 + off)), 3, load<f32>(k3 + off));
}

/** Four scores' sums times scale, each tanh soft-capped when softcapValue > 0. */
// @ts-ignore: decorator
@inline function finishScores(sum: v128, scale: f32, softcapValue: f32): v128 {
  let sv = f32x4.mul(sum, f32x4.splat(scale));
  if (softcapValue > 0) {
    sv = f32x4.replace_lane(sv, 0, softcap(f32x4.extract_lane(sv, 0), softcapValue));
    sv = f32x4.replace_lane(sv, 1, softcap(f32x4.extract_lane(sv, 1), softcapValue));
    sv = f32x4.replace_lane(sv, 2, softcap(f32x4.extract_lane(sv, 2), softcapValue));
    sv = f32x4.replace_lane(sv, 3, softcap(f32x4.extract_lane(sv, 3), softcapValue));
  }
  return sv;
}

/**
 * The largest of the scores lo .. p of a row, the way the scores loop takes it as they are made: a lane-wise maximum
 * over the blocks of four positions from lo, reduced, then the positions after the last whole block (exact: the
 * same value in any order).
 */
// @ts-ignore: decorator
@inline function maxScore(row: usize, lo: i32, p: i32): f32 {
  let mxv = f32x4.splat(-Infinity);
  let s = lo;
  for (; s + 4 <= p + 1; s += 4) mxv = f32x4.max(mxv, v128.load(row + (<usize>s << 2)));
  mxv = f32x4.max(mxv, v128.shuffle<f32>(mxv, mxv, 2, 3, 0, 1));
  let mx = max(f32x4.extract_lane(mxv, 0), f32x4.extract_lane(mxv, 1));
  for (; s <= p; s++) mx = max(mx, load<f32>(row + (<usize>s << 2)));
  return mx;
}

/**
 * q · k over D channels the way every score is summed: one f32x4 accumulator over chunks of 4 in order, the
 * fixed-order horizontal sum (l0 + l2) + (l1 + l3) (which sum4f gives each lane), then the D mod 4 tail in order.
 */
// @ts-ignore: decorator
@inline function score1(q: usize, k: usize, D: i32, D4: i32): f32 {
  let a = f32x4.splat(0);
  for (let d = 0; d < D4; d += 4) a = f32x4.add(a, f32x4.mul(v128.load(q + (<usize>d << 2)), v128.load(k + (<usize>d << 2))));
  let s = hsum(a);
  for (let d = D4; d < D; d++) s += load<f32>(q + (<usize>d << 2)) * load<f32>(k + (<usize>d << 2));
  return s;
}

/** [hsum a0, hsum a1, hsum a2, hsum a3]: four horizontal sums at once, each in hsum's order (l0 + l2) + (l1 + l3). */
// @ts-ignore: decorator
@inline function sum4f(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const u = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const w = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u, w, 0, 1, 4, 5), v128.shuffle<f32>(u, w, 2, 3, 6, 7));
}

/** cap · tanh(score / cap), in float64 as the reference does. */
// @ts-ignore: decorator
@inline function softcap(score: f32, cap: f32): f32 {
  return cap * <f32>Math.tanh(<f64>(score / cap));
}

/**
 * For each head h of hs .. he (all reading the KV head whose values start at v): o_h (D) = inv_h · Σ_{s=lo..p}
 * probs_h[s] · v[s] (D), where o_h is head h of the token's output row ot, probs_h the scores row of h (rowStride
 * bytes after the previous head's), inv_h at invs, v rows rowKV bytes apart. Blocks of VALUE_BLOCK positions in order; within a block 16 channels at a time, the heads
 * taking turns, each channel's partial sum carried from block to block in o_h (stored and loaded exactly), then
 * scaled by inv_h at the end. Each channel of each head is one running float32 sum over s in order, however
 * positions, channels and heads are grouped.
 */
// @ts-ignore: decorator
@inline function weightedSums(
  ot: usize, probs: usize, rowStride: usize, invs: usize, v: usize, rowKV: usize, lo: i32, p: i32, D: i32, hs: i32, he: i32,
  f16: bool, vWide: usize,
): void {
  const headBytes = <usize>D << 2;
  for (let b0 = lo; b0 <= p; b0 += VALUE_BLOCK) {
    const b1 = min(p + 1, b0 + VALUE_BLOCK);
    const first = b0 == lo;
    // The block's value rows: in the cache (float32), or widened from halves into vWide, addressed as if position b0
    // sat at vWide (vBase + s · rowKV is row s for s in b0 .. b1).
    let vBase = v;
    if (f16) {
      widenHalves(vWide, v + (<usize>b0 * <usize>D << 1), (b1 - b0) * D);
      vBase = vWide - <usize>b0 * rowKV;
    }
    let d = 0;
    for (; d + 16 <= D; d += 16) {
      // Two heads at a time where the pass has two: each value chunk loaded once for both, eight independent sums.
      let h = hs;
      for (; h + 2 <= he; h += 2) {
        const vd = vBase + (<usize>d << 2);
        const pr = probs + <usize>(h - hs) * rowStride;
        const pq = pr + rowStride;
        const od = ot + <usize>h * headBytes + (<usize>d << 2);
        const oe = od + headBytes;
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
        if (!first) {
          a0 = v128.load(od);
          a1 = v128.load(od, 16);
          a2 = v128.load(od, 32);
          a3 = v128.load(od, 48);
          c0 = v128.load(oe);
          c1 = v128.load(oe, 16);
          c2 = v128.load(oe, 32);
          c3 = v128.load(oe, 48);
        }
        for (let s = b0; s < b1; s++) {
          const vp = vd + <usize>s * rowKV;
          const v0 = v128.load(vp), v1 = v128.load(vp, 16), v2 = v128.load(vp, 32), v3 = v128.load(vp, 48);
          const ps = v128.load32_splat(pr + (<usize>s << 2));
          a0 = f32x4.add(a0, f32x4.mul(ps, v0));
          a1 = f32x4.add(a1, f32x4.mul(ps, v1));
          a2 = f32x4.add(a2, f32x4.mul(ps, v2));
          a3 = f32x4.add(a3, f32x4.mul(ps, v3));
          const pt = v128.load32_splat(pq + (<usize>s << 2));
          c0 = f32x4.add(c0, f32x4.mul(pt, v0));
          c1 = f32x4.add(c1, f32x4.mul(pt, v1));
          c2 = f32x4.add(c2, f32x4.mul(pt, v2));
          c3 = f32x4.add(c3, f32x4.mul(pt, v3));
        }
        v128.store(od, a0);
        v128.store(od, a1, 16);
        v128.store(od, a2, 32);
        v128.store(od, a3, 48);
        v128.store(oe, c0);
        v128.store(oe, c1, 16);
        v128.store(oe, c2, 32);
        v128.store(oe, c3, 48);
      }
      for (; h < he; h++) {
        const vd = vBase + (<usize>d << 2);
        const pr = probs + <usize>(h - hs) * rowStride;
        const od = ot + <usize>h * headBytes + (<usize>d << 2);
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        if (!first) {
          a0 = v128.load(od);
          a1 = v128.load(od, 16);
          a2 = v128.load(od, 32);
          a3 = v128.load(od, 48);
        }
        for (let s = b0; s < b1; s++) {
          const ps = v128.load32_splat(pr + (<usize>s << 2));
          const vp = vd + <usize>s * rowKV;
          a0 = f32x4.add(a0, f32x4.mul(ps, v128.load(vp)));
          a1 = f32x4.add(a1, f32x4.mul(ps, v128.load(vp, 16)));
          a2 = f32x4.add(a2, f32x4.mul(ps, v128.load(vp, 32)));
          a3 = f32x4.add(a3, f32x4.mul(ps, v128.load(vp, 48)));
        }
        v128.store(od, a0);
        v128.store(od, a1, 16);
        v128.store(od, a2, 32);
        v128.store(od, a3, 48);
      }
    }
    for (; d + 4 <= D; d += 4) {
      for (let h = hs; h < he; h++) {
        const vd = vBase + (<usize>d << 2);
        const pr = probs + <usize>(h - hs) * rowStride;
        const od = ot + <usize>h * headBytes + (<usize>d << 2);
        let a0 = first ? f32x4.splat(0) : v128.load(od);
        for (let s = b0; s < b1; s++) {
          a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(pr + (<usize>s << 2)), v128.load(vd + <usize>s * rowKV)));
        }
        v128.store(od, a0);
      }
    }
    for (; d < D; d++) {
      for (let h = hs; h < he; h++) {
        const vd = vBase + (<usize>d << 2);
        const pr = probs + <usize>(h - hs) * rowStride;
        const od = ot + <usize>h * headBytes + (<usize>d << 2);
        let a: f32 = first ? 0 : load<f32>(od);
        for (let s = b0; s < b1; s++) a += load<f32>(pr + (<usize>s << 2)) * load<f32>(vd + <usize>s * rowKV);
        store<f32>(od, a);
      }
    }
  }
  // The sums times each head's 1 / Σ exp: lane-wise products, as a product of the whole sum.
  for (let h = hs; h < he; h++) {
    const inv = v128.load32_splat(invs + (<usize>(h - hs) << 2));
    const oh = ot + <usize>h * headBytes;
    let d = 0;
    for (; d + 4 <= D; d += 4) v128.store(oh + (<usize>d << 2), f32x4.mul(v128.load(oh + (<usize>d << 2)), inv));
    const invS = f32x4.extract_lane(inv, 0);
    for (; d < D; d++) store<f32>(oh + (<usize>d << 2), load<f32>(oh + (<usize>d << 2)) * invS);
  }
}

