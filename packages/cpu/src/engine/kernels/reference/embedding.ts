/**
 * Reference embedding lookups: rows of a (V, C) table, in its stored dtype, gathered into float32 activations and
 * multiplied by a scale (gemma's sqrt(hidden); 1 elsewhere). Ids are trusted here: the engine validates them first.
 */
import { bf16Table, f16Table } from "./half-tables.js";

/**
 * out (T, C) = table[ids[t]] * scale, table (V, C) float32, ids (T). Also takes float64 arrays: the training path runs
 * its gradient checks in float64 through this same kernel.
 */
export function embeddingF32(
  out: Float32Array | Float64Array,
  ids: ArrayLike<number>,
  table: Float32Array | Float64Array,
  scale: number,
  T: number,
  C: number,
): void {
  for (let t = 0; t < T; t++) {
    const src = ids[t] * C;
    const dst = t * C;
    for (let c = 0; c < C; c++) out[dst + c] = table[src + c] * scale;
  }
}

/** out (T, C) = table[ids[t]] * scale, table (V, C) IEEE half bits, ids (T). */
export function embeddingF16(
  out: Float32Array,
  ids: ArrayLike<number>,
  table: Uint16Array,
  scale: number,
  T: number,
  C: number,
): void {
  embeddingHalfLut(out, ids, table, f16Table(), scale, T, C);
}

/** out (T, C) = table[ids[t]] * scale, table (V, C) bfloat16 bits, ids (T). */
export function embeddingBF16(
  out: Float32Array,
  ids: ArrayLike<number>,
  table: Uint16Array,
  scale: number,
  T: number,
  C: number,
): void {
  embeddingHalfLut(out, ids, table, bf16Table(), scale, T, C);
}

/** out (T, C) = lut[table[ids[t]]] * scale: 16-bit bits decoded through lut (65536), into float32 or float64. */
export function embeddingHalfLut(
  out: Float32Array | Float64Array, // (T, C)
  ids: ArrayLike<number>, // (T)
  table: Uint16Array, // (V, C)
  lut: Float32Array, // (65536)
  scale: number,
  T: number,
  C: number,
): void {
  for (let t = 0; t < T; t++) {
    const src = ids[t] * C;
    const dst = t * C;
    for (let c = 0; c < C; c++) out[dst + c] = lut[table[src + c]] * scale;
  }
}
