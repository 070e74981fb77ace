/**
 * Lookup tables from 16-bit float bits (IEEE half, bfloat16) to float32, built once on first use (256 KiB each).
 * The reference kernels read F16/BF16 weights through them; it is not a conversion of the weights.
 */
import { bf16ToF32, f16ToF32 } from "../../../dtype.js";

let f16: Float32Array | undefined;
let bf16: Float32Array | undefined;

/** (65536) float32 value of every IEEE half bit pattern. */
export function f16Table(): Float32Array {
  if (f16 === undefined) {
    f16 = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16[i] = f16ToF32(i);
  }
  return f16;
}

/** (65536) float32 value of every bfloat16 bit pattern. */
export function bf16Table(): Float32Array {
  if (bf16 === undefined) {
    bf16 = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) bf16[i] = bf16ToF32(i);
  }
  return bf16;
}
