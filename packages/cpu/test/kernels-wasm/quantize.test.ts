// The WebAssembly load-time Q8_0 quantiser against @dappcore/inference-gguf's quantizeQ8_0 (llama.cpp's
// quantize_row_q8_0_ref, itself tested against llama.cpp): the same bytes for F32, F16 and BF16 sources, ties, zero
// blocks, NaN and infinities, in place and not; bad arguments are typed errors.
import { beforeAll, describe, expect, it } from "vitest";
import { quantizeQ8_0 as ggufQuantizeQ8_0 } from "@dappcore/inference-gguf";
import { f16ToF32, f32ToBf16, f32ToF16 } from "../../src/dtype.js";
import { makeEnv, put, random, randomF32, thrown, type Env } from "./helpers.js";

let env: Env;
beforeAll(async () => {
  env = await makeEnv();
});

/** The gguf package's blocks of x (a multiple of 32 values). */
function want(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34);
  ggufQuantizeQ8_0(out, x);
  return out;
}

/** Values that probe the rounding: exact ties of x·(1/d) at ±k.5, zeros, negative zero, tiny and huge values. */
function awkward(n: number, seed: number): Float32Array {
  const rng = random(seed);
  const x = randomF32(rng, n, 3);
  for (let b = 0; b < n; b += 32) {
    const kind = (b / 32) % 6;
    if (kind === 1) {
      // max 127 so d = 1 and id = 1: x·id is x itself, so k + 0.5 values are exact ties.
      x[b] = 127;
      for (let j = 1; j < 32; j++) x[b + j] = (Math.floor(rng() * 120) + 0.5) * (j % 2 === 0 ? 1 : -1);
    } else if (kind === 2) {
      x.fill(0, b, b + 32);
      x[b + 3] = -0;
    } else if (kind === 3) {
      for (let j = 0; j < 32; j++) x[b + j] = rng() * 1e-30;
    } else if (kind === 4) {
      for (let j = 0; j < 32; j++) x[b + j] = rng() * 6e4;
    }
  }
  return x;
}

describe("wasm Q8_0 weight quantiser", () => {
  it("F32: the gguf package's bytes, ties and zero blocks included, and in place", () => {
    const { arena, k } = env;
    const mark = arena.mark();
    const x = awkward(32 * 60, 1);
    const src = put(arena, x);
    const dst = arena.alloc((x.length / 32) * 34);
    k.quantizeQ8_0Blocks(dst, src, "F32", x.length / 32);
    expect(arena.u8(dst, (x.length / 32) * 34)).toEqual(want(x));
    const inPlace = put(arena, x);
    k.quantizeQ8_0Blocks(inPlace, inPlace, "F32", x.length / 32);
    expect(arena.u8(inPlace, (x.length / 32) * 34)).toEqual(want(x));
    arena.release(mark);
  });

  it("F32 with NaN and infinities: NaN skipped by the maximum and quantised to 0, an infinite block all 0", () => {
    const { arena, k } = env;
    const mark = arena.mark();
    const x = randomF32(random(2), 32 * 4);
    x[5] = Number.NaN;
    x[40] = Number.POSITIVE_INFINITY;
    x[70] = Number.NEGATIVE_INFINITY;
    x[100] = Number.NaN;
    x[101] = 2;
    const p = put(arena, x);
    k.quantizeQ8_0Blocks(p, p, "F32", 4);
    expect(arena.u8(p, 4 * 34)).toEqual(want(x));
    arena.release(mark);
  });

  for (const from of ["BF16", "F16"] as const) {
    it(`${from}: the bytes of the gguf quantiser over the widened values, in place`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const x = awkward(32 * 48, from === "F16" ? 3 : 4).map((v) => (from === "F16" ? Math.max(-6e4, Math.min(6e4, v)) : v));
      const stored = Uint16Array.from(x, (v) => (from === "F16" ? f32ToF16(v) : f32ToBf16(v)));
      if (from === "BF16") {
        stored[7] = 0x7fc0; // NaN
        stored[33] = 0xff80; // -Infinity
      }
      const widened = Float32Array.from(stored, (h) => (from === "F16" ? f16ToF32(h) : new Float32Array(new Uint32Array([h << 16]).buffer)[0]));
      const p = put(arena, stored);
      k.quantizeQ8_0Blocks(p, p, from, stored.length / 32);
      expect(arena.u8(p, (stored.length / 32) * 34)).toEqual(want(widened));
      arena.release(mark);
    });
  }

  it("rejects a bad type, a dst starting inside src and buffers outside the memory", () => {
    const { arena, k } = env;
    const p = arena.alloc(4096);
    let e = thrown(() => k.quantizeQ8_0Blocks(p, p, "Q8_0" as "F32", 1));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.quantizeQ8_0Blocks: from must be F32, F16 or BF16, got Q8_0");
    e = thrown(() => k.quantizeQ8_0Blocks(p + 64, p, "F32", 1));
    expect(e.message).toBe(
      `cpu.kernels.quantizeQ8_0Blocks: dst (${p + 64}) starts inside src (${p}, 128 bytes): blocks are written front to back, so dst must start at or before src, or after it`,
    );
    e = thrown(() => k.quantizeQ8_0Blocks(p, p, "BF16", 0));
    expect(e.message).toBe("cpu.kernels.quantizeQ8_0Blocks: nBlocks must be a positive integer, got 0");
    const cap = arena.capacity;
    e = thrown(() => k.quantizeQ8_0Blocks(0, cap - 64, "F32", 1));
    expect(e.message).toBe(`cpu.kernels.quantizeQ8_0Blocks: src (128 bytes at offset ${cap - 64}) lies outside the WebAssembly memory (${cap} bytes)`);
  });
});
