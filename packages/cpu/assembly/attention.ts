/**
 * Causal grouped-query attention over a float32 KV cache, for query heads h0 .. h1 only (threads split by heads):
 * scores q·k·scale (optionally tanh soft-capped), softmax, weighted sum of values. Not responsible for appending
 * to the cache or for rope; the cache layout is (S, G, D) float32, as in the reference kernel.
 *
 * Query t sits at position pos0 + t and sees positions lo .. pos0 + t, lo = 0, or max(0, pos0 + t − W + 1) with a
 * sliding window W > 0. Query head h reads key/value head floor(h / (H / G)).
 */
import { expS, expV, hsum } from "./common";

/**
 * out (T, H, D) heads h0 .. h1 = attention of q (T, H, D) over k, v (S, G, D); scores: scratch of at least
 * pos0 + T float32, private to the caller (one per thread).
 */
export function attention(
  out: usize,
  q: usize,
  k: usize,
  v: usize,
  scores: usize,
  T: i32,
  H: i32,
  G: i32,
  D: i32,
  pos0: i32,
  window: i32,
  scale: f32,
  softcapValue: f32,
  h0: i32,
  h1: i32,
): void {
  const group = H / G;
  const rowKV = <usize>(G * D) << 2;
  const D4 = D & ~3;
  for (let t = 0; t < T; t++) {
    const p = pos0 + t;
    const lo = window > 0 ? max(0, p - window + 1) : 0;
    for (let h = h0; h < h1; h++) {
      const qp = q + (<usize>((t * H + h) * D) << 2);
      const kvo = <usize>((h / group) * D) << 2;
      const kh = k + kvo;
      // Scores and their maximum: four positions at a time, each chunk of q loaded once for the four key rows and
      // the four dot products reduced across lanes together (sum4). Every position is summed the same way (see
      // score1), so grouping positions by four does not change its bits.
      let mxv = f32x4.splat(-Infinity);
      let s = lo;
      for (; s + 4 <= p + 1; s += 4) {
        const k0 = kh + <usize>s * rowKV;
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
          const qd = load<f32>(qp + off);
          const kv = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(k0 + off)), 1, load<f32>(k1 + off)), 2, load<f32>(k2 + off)), 3, load<f32>(k3 + off));
          sv = f32x4.add(sv, f32x4.mul(f32x4.splat(qd), kv));
        }
        sv = f32x4.mul(sv, f32x4.splat(scale));
        if (softcapValue > 0) {
          sv = f32x4.replace_lane(sv, 0, softcap(f32x4.extract_lane(sv, 0), softcapValue));
          sv = f32x4.replace_lane(sv, 1, softcap(f32x4.extract_lane(sv, 1), softcapValue));
          sv = f32x4.replace_lane(sv, 2, softcap(f32x4.extract_lane(sv, 2), softcapValue));
          sv = f32x4.replace_lane(sv, 3, softcap(f32x4.extract_lane(sv, 3), softcapValue));
        }
        v128.store(scores + (<usize>s << 2), sv);
        mxv = f32x4.max(mxv, sv);
      }
      mxv = f32x4.max(mxv, v128.shuffle<f32>(mxv, mxv, 2, 3, 0, 1));
      let mx = max(f32x4.extract_lane(mxv, 0), f32x4.extract_lane(mxv, 1));
      for (; s <= p; s++) {
        let score = score1(qp, kh + <usize>s * rowKV, D, D4) * scale;
        if (softcapValue > 0) score = softcap(score, softcapValue);
        store<f32>(scores + (<usize>s << 2), score);
        mx = max(mx, score);
      }
      // exp(score − max) in place, and their sum.
      const mv = f32x4.splat(mx);
      let acc = f32x4.splat(0);
      s = lo;
      for (; s + 4 <= p + 1; s += 4) {
        const sp = scores + (<usize>s << 2);
        const e = expV(f32x4.sub(v128.load(sp), mv));
        v128.store(sp, e);
        acc = f32x4.add(acc, e);
      }
      let sum = hsum(acc);
      for (; s <= p; s++) {
        const sp = scores + (<usize>s << 2);
        const e = expS(load<f32>(sp) - mx);
        store<f32>(sp, e);
        sum += e;
      }
      const inv = f32x4.splat(<f32>1 / sum);
      weightedSum(out + (<usize>((t * H + h) * D) << 2), scores, v + kvo, rowKV, lo, p, D, inv);
    }
  }
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

/** o (D) = inv · Σ_{s=lo..p} probs[s] · v[s] (D), with v rows rowKV bytes apart; 16 channels at a time. */
// @ts-ignore: decorator
@inline function weightedSum(o: usize, probs: usize, v: usize, rowKV: usize, lo: i32, p: i32, D: i32, inv: v128): void {
  let d = 0;
  for (; d + 16 <= D; d += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    const vd = v + (<usize>d << 2);
    for (let s = lo; s <= p; s++) {
      const ps = v128.load32_splat(probs + (<usize>s << 2));
      const vp = vd + <usize>s * rowKV;
      a0 = f32x4.add(a0, f32x4.mul(ps, v128.load(vp)));
      a1 = f32x4.add(a1, f32x4.mul(ps, v128.load(vp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(ps, v128.load(vp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(ps, v128.load(vp, 48)));
    }
    const od = o + (<usize>d << 2);
    v128.store(od, f32x4.mul(a0, inv));
    v128.store(od, f32x4.mul(a1, inv), 16);
    v128.store(od, f32x4.mul(a2, inv), 32);
    v128.store(od, f32x4.mul(a3, inv), 48);
  }
  for (; d + 4 <= D; d += 4) {
    let a0 = f32x4.splat(0);
    const vd = v + (<usize>d << 2);
    for (let s = lo; s <= p; s++) {
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(probs + (<usize>s << 2)), v128.load(vd + <usize>s * rowKV)));
    }
    v128.store(o + (<usize>d << 2), f32x4.mul(a0, inv));
  }
  const invS = f32x4.extract_lane(inv, 0);
  for (; d < D; d++) {
    let a: f32 = 0;
    const vd = v + (<usize>d << 2);
    for (let s = lo; s <= p; s++) a += load<f32>(probs + (<usize>s << 2)) * load<f32>(vd + <usize>s * rowKV);
    store<f32>(o + (<usize>d << 2), a * invS);
  }
}
