/**
 * Reference embedding lookups from tables in llama.cpp's Q8_0 / Q4_0 block layouts (V, C/32 blocks): each row is
 * dequantised (value = q·d, or (nibble − 8)·d) and multiplied by the scale, as llama.cpp's get_rows does. Block
 * layouts are described in matmul-quant.ts. Ids are trusted: the engine validates them first.
 */
import { f16Table } from "./half-tables.js";

/** out (T, C) = dequantised Q8_0 table (V, C) [ids[t]] · scale; C a multiple of 32. */
export function embeddingQ8_0(
  out: Float32Array,
  ids: ArrayLike<number>,
  table: Uint8Array,
  scale: number,
  T: number,
  C: number,
): void {
  const nb = C >>> 5;
  const half = f16Table();
  const q = new Int8Array(table.buffer, table.byteOffset, table.byteLength);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < nb; b++) {
      const wb = (ids[t] * nb + b) * 34;
      const d = half[table[wb] | (table[wb + 1] << 8)];
      const dst = t * C + b * 32;
      for (let j = 0; j < 32; j++) out[dst + j] = q[wb + 2 + j] * d * scale;
    }
  }
}

/** out (T, C) = dequantised Q4_0 table (V, C) [ids[t]] · scale; C a multiple of 32. */
export function embeddingQ4_0(
  out: Float32Array,
  ids: ArrayLike<number>,
  table: Uint8Array,
  scale: number,
  T: number,
  C: number,
): void {
  const nb = C >>> 5;
  const half = f16Table();
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < nb; b++) {
      const wb = (ids[t] * nb + b) * 18;
      const d = half[table[wb] | (table[wb + 1] << 8)];
      const dst = t * C + b * 32;
      for (let j = 0; j < 16; j++) {
        const byte = table[wb + 2 + j];
        out[dst + j] = ((byte & 15) - 8) * d * scale;
        out[dst + 16 + j] = ((byte >>> 4) - 8) * d * scale;
      }
    }
  }
}
