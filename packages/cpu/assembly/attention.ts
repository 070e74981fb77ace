/**
 * Causal grouped-query attention over a float32 KV cache, for query heads h0 .. h1 only (threads split by heads):
 * scores q·k·scale (optionally tanh soft-capped), softmax, weighted sum of values. Not responsible for appending
 * to the cache or for rope; the cache layout is (S, G, D) float32, as in the reference kernel.
 *
 * Query t sits at position pos0 + t and sees positions lo .. pos0 + t, lo = 0, or max(0, pos0 + t − W + 1) with a
 * sliding window W > 0. Query head h reads key/value head floor(h / (H / G)).
 */
import { dotF32, expS, expV, hsum } from "./common";

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
  for (let t = 0; t < T; t++) {
    const p = pos0 + t;
    const lo = window > 0 ? max(0, p - window + 1) : 0;
    for (let h = h0; h < h1; h++) {
      const qp = q + (<usize>((t * H + h) * D) << 2);
      const kvo = <usize>((h / group) * D) << 2;
      // Scores and their maximum.
      let mx: f32 = -Infinity;
      for (let s = lo; s <= p; s++) {
        let score = dotF32(qp, k + <usize>s * rowKV + kvo, D) * scale;
        if (softcapValue > 0) score = softcapValue * <f32>Math.tanh(<f64>(score / softcapValue));
        store<f32>(scores + (<usize>s << 2), score);
        mx = max(mx, score);
      }
      // exp(score − max) in place, and their sum.
      const mv = f32x4.splat(mx);
      let acc = f32x4.splat(0);
      let s = lo;
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
