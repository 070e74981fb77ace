/**
 * Embedding row lookups, tokens t0 .. t1 only: rows of a (V, C) table in its stored dtype (F32, F16, BF16, Q8_0,
 * Q4_0) widened to float32 and multiplied by a scale (Gemma's sqrt(hidden), rounded to float32 as HF does; 1
 * elsewhere). Ids (T) are int32 and trusted: the engine validates them first. V (the table's rows) locates the
 * last rows of a row-interleaved Q8_0/Q4_0 table; the other types ignore it. Not responsible for tied output heads.
 */
import { bf16ToF32, f16Even, f16ToF32 } from "./common";

/** out (T, C) rows t0 .. t1 = table (V, C) float32 [ids[t]] · scale. */
export function embeddingF32(out: usize, ids: usize, table: usize, scale: f32, C: i32, V: i32, t0: i32, t1: i32): void {
  const C4 = C & ~3;
  const sv = f32x4.splat(scale);
  for (let t = t0; t < t1; t++) {
    const src = table + ((<usize>load<i32>(ids + (<usize>t << 2)) * <usize>C) << 2);
    const dst = out + ((<usize>t * <usize>C) << 2);
    let c = 0;
    for (; c < C4; c += 4) v128.store(dst + (<usize>c << 2), f32x4.mul(v128.load(src + (<usize>c << 2)), sv));
    for (; c < C; c++) store<f32>(dst + (<usize>c << 2), load<f32>(src + (<usize>c << 2)) * scale);
  }
}

// @ts-ignore: decorator
@inline function embeddingHalf(out: usize, ids: usize, table: usize, scale: f32, C: i32, t0: i32, t1: i32, bf16: bool): void {
  const C8 = C & ~7;
  const sv = f32x4.splat(scale);
  for (let t = t0; t < t1; t++) {
    const src = table + ((<usize>load<i32>(ids + (<usize>t << 2)) * <usize>C) << 1);
    const dst = out + ((<usize>t * <usize>C) << 2);
    let c = 0;
    for (; c < C8; c += 8) {
      const v = v128.load(src + (<usize>c << 1));
      const lo = i32x4.extend_low_i16x8_u(v);
      const hi = i32x4.extend_high_i16x8_u(v);
      const d = dst + (<usize>c << 2);
      if (bf16) {
        v128.store(d, f32x4.mul(i32x4.shl(lo, 16), sv));
        v128.store(d, f32x4.mul(i32x4.shl(hi, 16), sv), 16);
      } else {
        v128.store(d, f32x4.mul(f16Even(lo), sv));
        v128.store(d, f32x4.mul(f16Even(hi), sv), 16);
      }
    }
    for (; c < C; c++) {
      const bits = <u32>load<u16>(src + (<usize>c << 1));
      store<f32>(dst + (<usize>c << 2), (bf16 ? bf16ToF32(bits) : f16ToF32(bits)) * scale);
    }
  }
}

/** out (T, C) rows t0 .. t1 = table (V, C) IEEE half bits [ids[t]] · scale (finite values). */
export function embeddingF16(out: usize, ids: usize, table: usize, scale: f32, C: i32, V: i32, t0: i32, t1: i32): void {
  embeddingHalf(out, ids, table, scale, C, t0, t1, false);
}

/** out (T, C) rows t0 .. t1 = table (V, C) bfloat16 bits [ids[t]] · scale. */
export function embeddingBF16(out: usize, ids: usize, table: usize, scale: f32, C: i32, V: i32, t0: i32, t1: i32): void {
  embeddingHalf(out, ids, table, scale, C, t0, t1, true);
}

// @ts-ignore: decorator
@inline function embeddingQuant(out: usize, ids: usize, table: usize, scale: f32, C: i32, V: i32, t0: i32, t1: i32, q4: bool): void {
  const nb = C >> 5;
  const V4 = V & ~3;
  const bs: usize = q4 ? 18 : 34; // llama.cpp's block
  const qb: usize = q4 ? 16 : 32; // one row's quants in a block
  const gb: usize = 8 + (qb << 2); // a block of a group of 4 rows
  const groupBytes = <usize>nb * gb;
  for (let t = t0; t < t1; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    let scales: usize, quants: usize, stride: usize;
    if (id < V4) {
      // Row id is row id & 3 of group id >> 2: per block, its scale at 2·(id & 3), its quants at 8 + qb·(id & 3).
      const g = table + <usize>(id >> 2) * groupBytes;
      scales = g + (<usize>(id & 3) << 1);
      quants = g + 8 + <usize>(id & 3) * qb;
      stride = gb;
    } else {
      scales = table + <usize>(V4 >> 2) * groupBytes + <usize>(id - V4) * <usize>nb * bs;
      quants = scales + 2;
      stride = bs;
    }
    const dst = out + ((<usize>t * <usize>C) << 2);
    for (let b = 0; b < nb; b++) {
      const d = f16ToF32(load<u16>(scales + <usize>b * stride));
      const q = quants + <usize>b * stride;
      const o = dst + (<usize>b << 7);
      if (q4) {
        for (let j = 0; j < 16; j++) {
          const byte = <i32>load<u8>(q + <usize>j);
          store<f32>(o + (<usize>j << 2), <f32>((byte & 15) - 8) * d * scale);
          store<f32>(o + (<usize>(j + 16) << 2), <f32>((byte >> 4) - 8) * d * scale);
        }
      } else {
        for (let j = 0; j < 32; j++) store<f32>(o + (<usize>j << 2), <f32>load<i8>(q + <usize>j) * d * scale);
      }
    }
  }
}

/** out (T, C) rows t0 .. t1 = dequantised row-interleaved Q8_0 table (V, C/32 blocks; interleaveQ8_0) [ids[t]] · scale. */
export function embeddingQ8_0(out: usize, ids: usize, table: usize, scale: f32, C: i32, V: i32, t0: i32, t1: i32): void {
  embeddingQuant(out, ids, table, scale, C, V, t0, t1, false);
}

/** out (T, C) rows t0 .. t1 = dequantised row-interleaved Q4_0 table (V, C/32 blocks; interleaveQ4_0) [ids[t]] · scale. */
export function embeddingQ4_0(out: usize, ids: usize, table: usize, scale: f32, C: i32, V: i32, t0: i32, t1: i32): void {
  embeddingQuant(out, ids, table, scale, C, V, t0, t1, true);
}
