// Q8_0 and Q4_0 in llama.cpp's block layout: exact bytes of hand-computed blocks, round trips within the error the
// format implies, and the typed errors for lengths that are not whole blocks.
import { describe, expect, it } from "vitest";
import { dequantizeQ4_0, dequantizeQ8_0, quantizeQ4_0, quantizeQ8_0 } from "../src/quants.js";
import { f16ToF32 } from "../src/float16.js";

const ramp = Float32Array.from({ length: 32 }, (_, j) => j - 16); // -16 .. 15

function seeded(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale * (i % 7 === 0 ? 3 : 1);
  }
  return out;
}

describe("Q8_0", () => {
  it("writes the hand-computed block for -16..15", () => {
    const out = new Uint8Array(34);
    quantizeQ8_0(out, ramp);
    // d = 16/127 -> f16 0x3008; id = 127/16 = 7.9375; q = round-half-away(x * 7.9375).
    const q = [
      -127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48, -40, -32, -24, -16, -8,
      0, 8, 16, 24, 32, 40, 48, 56, 64, 71, 79, 87, 95, 103, 111, 119,
    ];
    expect([...out.subarray(0, 2)]).toEqual([0x08, 0x30]);
    expect([...new Int8Array(out.buffer, 2, 32)]).toEqual(q);
  });

  it("writes d = 0 and q = 0 for an all-zero block", () => {
    const out = new Uint8Array(34).fill(0xff);
    quantizeQ8_0(out, new Float32Array(32));
    expect([...out]).toEqual(new Array(34).fill(0));
  });

  it("round-trips within half a step plus the f16 rounding of the scale", () => {
    const x = seeded(32 * 64, 7, 2);
    const blocks = new Uint8Array(64 * 34);
    quantizeQ8_0(blocks, x);
    const y = new Float32Array(x.length);
    dequantizeQ8_0(y, blocks);
    for (let b = 0; b < 64; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      const d = amax / 127;
      for (let j = 0; j < 32; j++) {
        expect(Math.abs(x[b * 32 + j] - y[b * 32 + j])).toBeLessThanOrEqual(d / 2 + amax * 2 ** -11 + 1e-7);
      }
    }
  });

  it("rejects lengths that are not whole blocks", () => {
    expect(() => quantizeQ8_0(new Uint8Array(34), new Float32Array(31))).toThrowError(
      expect.objectContaining({ code: "invalid_argument", message: "gguf.quantizeQ8_0: length 31 is not a multiple of 32" }),
    );
    expect(() => dequantizeQ8_0(new Float32Array(32), new Uint8Array(33))).toThrowError(
      expect.objectContaining({ code: "invalid_argument", message: "gguf.dequantizeQ8_0: 32 weights need 34 bytes of blocks, got 33" }),
    );
  });
});

describe("Q4_0", () => {
  it("writes the hand-computed block for -16..15", () => {
    const out = new Uint8Array(18);
    quantizeQ4_0(out, ramp);
    // max = -16 -> d = 2 (f16 0x4000), id = 0.5; q = min(15, trunc(x / 2 + 8.5)); byte j = q[j] | q[j + 16] << 4.
    expect([...out]).toEqual([
      0x00, 0x40, 0x80, 0x91, 0x91, 0xa2, 0xa2, 0xb3, 0xb3, 0xc4, 0xc4, 0xd5, 0xd5, 0xe6, 0xe6, 0xf7, 0xf7, 0xf8,
    ]);
    const y = new Float32Array(32);
    dequantizeQ4_0(y, out);
    expect(y[0]).toBe(-16); // the largest magnitude maps to -8 * d exactly
    expect(y[31]).toBe(14); // 15 clamps to nibble 15: (15 - 8) * 2
  });

  it("round-trips within one step", () => {
    const x = seeded(32 * 64, 11, 1);
    const blocks = new Uint8Array(64 * 18);
    quantizeQ4_0(blocks, x);
    const y = new Float32Array(x.length);
    dequantizeQ4_0(y, blocks);
    for (let b = 0; b < 64; b++) {
      const d = Math.abs(f16ToF32(blocks[b * 18] | (blocks[b * 18 + 1] << 8)));
      for (let j = 0; j < 32; j++) expect(Math.abs(x[b * 32 + j] - y[b * 32 + j])).toBeLessThanOrEqual(d * (1 + 2 ** -10));
    }
  });

  it("rejects lengths that are not whole blocks", () => {
    expect(() => quantizeQ4_0(new Uint8Array(18), new Float32Array(48))).toThrowError(
      expect.objectContaining({ code: "invalid_argument", message: "gguf.quantizeQ4_0: length 48 is not a multiple of 32" }),
    );
    expect(() => dequantizeQ4_0(new Float32Array(32), new Uint8Array(34))).toThrowError(
      expect.objectContaining({ code: "invalid_argument", message: "gguf.dequantizeQ4_0: 32 weights need 18 bytes of blocks, got 34" }),
    );
  });
});
