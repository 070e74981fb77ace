/**
 * Causal grouped-query self-attention for training over B sequences of T tokens (positions 0 .. T − 1), flash-style:
 * the forward saves only each query row's log-sum-exp, and the backward recomputes the probabilities from it, so
 * memory stays proportional to B·T. q (B, T, H, D), k and v (B, T, G, D); query head h reads KV head
 * floor(h / (H / G)); optional sliding window W (query t sees t − W + 1 .. t) and tanh soft-cap of the scores.
 * `stats` (B, T, H, 2) holds per query row [lse, Δ], Δ = dOut · out (attentionDelta fills it before the backward).
 * Not the inference kernel over a KV cache (attention.ts), not rope or the projections.
 */
import { dotF32, expS, expV, hsum } from "./common";
import { logPositive } from "./train-math";

// @ts-ignore: decorator
@inline function softcap(score: f32, cap: f32): f32 {
  return cap > 0 ? cap * <f32>Math.tanh(<f64>(score / cap)) : score;
}

/** o (D) = (acc ? o : 0) + Σ_{s=lo..p} coef[s] · rows[s] (D), rows rowBytes apart, 16 channels at a time. */
// @ts-ignore: decorator
@inline function combine(o: usize, coef: usize, rows: usize, rowBytes: usize, lo: i32, p: i32, D: i32, mul: f32, acc: bool): void {
  const mv = f32x4.splat(mul);
  let d = 0;
  for (; d + 16 <= D; d += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    const rd = rows + (<usize>d << 2);
    for (let s = lo; s <= p; s++) {
      const cs = v128.load32_splat(coef + (<usize>s << 2));
      const rp = rd + <usize>s * rowBytes;
      a0 = f32x4.add(a0, f32x4.mul(cs, v128.load(rp)));
      a1 = f32x4.add(a1, f32x4.mul(cs, v128.load(rp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(cs, v128.load(rp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(cs, v128.load(rp, 48)));
    }
    const od = o + (<usize>d << 2);
    if (acc) {
      v128.store(od, f32x4.add(v128.load(od), f32x4.mul(a0, mv)));
      v128.store(od, f32x4.add(v128.load(od, 16), f32x4.mul(a1, mv)), 16);
      v128.store(od, f32x4.add(v128.load(od, 32), f32x4.mul(a2, mv)), 32);
      v128.store(od, f32x4.add(v128.load(od, 48), f32x4.mul(a3, mv)), 48);
    } else {
      v128.store(od, f32x4.mul(a0, mv));
      v128.store(od, f32x4.mul(a1, mv), 16);
      v128.store(od, f32x4.mul(a2, mv), 32);
      v128.store(od, f32x4.mul(a3, mv), 48);
    }
  }
  for (; d + 4 <= D; d += 4) {
    let a0 = f32x4.splat(0);
    const rd = rows + (<usize>d << 2);
    for (let s = lo; s <= p; s++) {
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(coef + (<usize>s << 2)), v128.load(rd + <usize>s * rowBytes)));
    }
    const od = o + (<usize>d << 2);
    v128.store(od, acc ? f32x4.add(v128.load(od), f32x4.mul(a0, mv)) : f32x4.mul(a0, mv));
  }
  for (; d < D; d++) {
    let a: f32 = 0;
    const rd = rows + (<usize>d << 2);
    for (let s = lo; s <= p; s++) a += load<f32>(coef + (<usize>s << 2)) * load<f32>(rd + <usize>s * rowBytes);
    const od = o + (<usize>d << 2);
    store<f32>(od, acc ? load<f32>(od) + a * mul : a * mul);
  }
}

/**
 * out (B, T, H, D) = softmax(q · kᵀ · scale [capped], causal [window]) · v and stats[row·2] = the row's
 * log Σ exp(score), for units u0 .. u1 of B·H (unit u = sequence u / H, head u mod H).
 * @param scores scratch (T) float32 private to the caller (one per thread).
 */
export function attentionTrain(
  out: usize, stats: usize, q: usize, k: usize, v: usize, scores: usize,
  T: i32, H: i32, G: i32, D: i32, window: i32, scale: f32, cap: f32, u0: i32, u1: i32,
): void {
  const group = H / G;
  const rowQ = <usize>(H * D) << 2;
  const rowKV = <usize>(G * D) << 2;
  for (let u = u0; u < u1; u++) {
    const b = u / H;
    const h = u % H;
    const qb = q + <usize>b * <usize>T * rowQ + (<usize>(h * D) << 2);
    const ob = out + <usize>b * <usize>T * rowQ + (<usize>(h * D) << 2);
    const kb = k + <usize>b * <usize>T * rowKV + (<usize>((h / group) * D) << 2);
    const vb = v + <usize>b * <usize>T * rowKV + (<usize>((h / group) * D) << 2);
    for (let t = 0; t < T; t++) {
      const lo = window > 0 ? max(0, t - window + 1) : 0;
      const qp = qb + <usize>t * rowQ;
      let mx: f32 = -Infinity;
      for (let s = lo; s <= t; s++) {
        const score = softcap(dotF32(qp, kb + <usize>s * rowKV, D) * scale, cap);
        store<f32>(scores + (<usize>s << 2), score);
        mx = max(mx, score);
      }
      const mv = f32x4.splat(mx);
      let acc = f32x4.splat(0);
      let s = lo;
      for (; s + 4 <= t + 1; s += 4) {
        const sp = scores + (<usize>s << 2);
        const e = expV(f32x4.sub(v128.load(sp), mv));
        v128.store(sp, e);
        acc = f32x4.add(acc, e);
      }
      let sum = hsum(acc);
      for (; s <= t; s++) {
        const sp = scores + (<usize>s << 2);
        const e = expS(load<f32>(sp) - mx);
        store<f32>(sp, e);
        sum += e;
      }
      const row = <usize>((b * T + t) * H + h);
      store<f32>(stats + (row << 3), mx + <f32>logPositive(<f64>sum));
      combine(ob + <usize>t * rowQ, scores, vb, rowKV, lo, t, D, <f32>1 / sum, false);
    }
  }
}

/** stats[n·2 + 1] = dOut (N, D)[n] · out (N, D)[n] for rows n0 .. n1 (N = B·T·H query rows). */
export function attentionDelta(stats: usize, dOut: usize, out: usize, D: i32, n0: i32, n1: i32): void {
  for (let n = n0; n < n1; n++) {
    const off = (<usize>n * <usize>D) << 2;
    store<f32>(stats + (<usize>n << 3), dotF32(dOut + off, out + off, D), 4);
  }
}

/**
 * The backward of attentionTrain for units u0 .. u1 of B·G (unit u = sequence u / G, KV head u mod G, with the
 * H / G query heads that read it, so no two units write the same dK, dV rows): dQ (B, T, H, D) +=,
 * dK, dV (B, T, G, D) +=. With p = exp(score − lse), ds = p (dOut · v − Δ) [· (1 − (score / cap)²)] · scale:
 * dq_t += Σ_s ds_s k_s, dk_s += ds_s q_t, dv_s += p_s dOut_t.
 * @param scratch (2·T) float32 private to the caller (one per thread).
 */
export function attentionBackward(
  dQ: usize, dK: usize, dV: usize, dOut: usize, q: usize, k: usize, v: usize, stats: usize, scratch: usize,
  T: i32, H: i32, G: i32, D: i32, window: i32, scale: f32, cap: f32, u0: i32, u1: i32,
): void {
  const group = H / G;
  const rowQ = <usize>(H * D) << 2;
  const rowKV = <usize>(G * D) << 2;
  const probs = scratch;
  const ds = scratch + (<usize>T << 2);
  const D4 = D & ~3;
  for (let u = u0; u < u1; u++) {
    const b = u / G;
    const g = u % G;
    const kvo = <usize>b * <usize>T * rowKV + (<usize>(g * D) << 2);
    const kb = k + kvo;
    const vb = v + kvo;
    const dkb = dK + kvo;
    const dvb = dV + kvo;
    for (let h = g * group; h < (g + 1) * group; h++) {
      const qo = <usize>b * <usize>T * rowQ + (<usize>(h * D) << 2);
      for (let t = 0; t < T; t++) {
        const lo = window > 0 ? max(0, t - window + 1) : 0;
        const qp = q + qo + <usize>t * rowQ;
        const gp = dOut + qo + <usize>t * rowQ;
        const row = <usize>((b * T + t) * H + h);
        const lse = load<f32>(stats + (row << 3));
        const delta = load<f32>(stats + (row << 3), 4);
        // Scores (capped), kept in ds for the cap's derivative, then p = exp(score − lse).
        for (let s = lo; s <= t; s++) {
          const score = softcap(dotF32(qp, kb + <usize>s * rowKV, D) * scale, cap);
          store<f32>(ds + (<usize>s << 2), score);
        }
        const lv = f32x4.splat(lse);
        let s = lo;
        for (; s + 4 <= t + 1; s += 4) v128.store(probs + (<usize>s << 2), expV(f32x4.sub(v128.load(ds + (<usize>s << 2)), lv)));
        for (; s <= t; s++) store<f32>(probs + (<usize>s << 2), expS(load<f32>(ds + (<usize>s << 2)) - lse));
        for (s = lo; s <= t; s++) {
          const p = load<f32>(probs + (<usize>s << 2));
          let d = p * (dotF32(gp, vb + <usize>s * rowKV, D) - delta);
          if (cap > 0) {
            const th = load<f32>(ds + (<usize>s << 2)) / cap;
            d *= <f32>1 - th * th;
          }
          store<f32>(ds + (<usize>s << 2), d * scale);
        }
        combine(dQ + qo + <usize>t * rowQ, ds, kb, rowKV, lo, t, D, 1, true);
        // dk_s += ds_s · q_t, dv_s += p_s · dOut_t.
        for (s = lo; s <= t; s++) {
          const dsv = v128.load32_splat(ds + (<usize>s << 2));
          const pv = v128.load32_splat(probs + (<usize>s << 2));
          const dkp = dkb + <usize>s * rowKV;
          const dvp = dvb + <usize>s * rowKV;
          let d = 0;
          for (; d < D4; d += 4) {
            const off = <usize>d << 2;
            v128.store(dkp + off, f32x4.add(v128.load(dkp + off), f32x4.mul(dsv, v128.load(qp + off))));
            v128.store(dvp + off, f32x4.add(v128.load(dvp + off), f32x4.mul(pv, v128.load(gp + off))));
          }
          const dss = f32x4.extract_lane(dsv, 0);
          const ps = f32x4.extract_lane(pv, 0);
          for (; d < D; d++) {
            const off = <usize>d << 2;
            store<f32>(dkp + off, load<f32>(dkp + off) + dss * load<f32>(qp + off));
            store<f32>(dvp + off, load<f32>(dvp + off) + ps * load<f32>(gp + off));
          }
        }
      }
    }
  }
}
