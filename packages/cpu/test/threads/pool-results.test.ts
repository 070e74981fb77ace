// The kernel pool gives the bits of one direct call whatever its thread count: matmul over F32, BF16 and Q8_0
// weights (with the activations quantised through the pool too), attention split by heads with per-thread scratch,
// and RMSNorm, on 1 to 4 threads and several grains; 10,000 dependent jobs in a row; memory grown after start.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { f32ToBf16 } from "../../src/dtype.js";
import { compileKernelModuleSync, loadKernelsSync } from "../../src/engine/kernels/wasm/load-kernels.js";
import { attentionScratchBytes, q8ActivationBytes } from "../../src/engine/kernels/wasm/quant-layout.js";
import { WasmArena } from "../../src/engine/kernels/wasm/wasm-arena.js";
import type { WasmKernels } from "../../src/engine/kernels/wasm/wasm-kernels.js";
import { createKernelPool, type KernelPool } from "../../src/engine/threads/index.js";
import { bits, ensureBuilt, getF32, put, putQuant, quantizeQ8_0, random, randomF32 } from "../kernels-wasm/helpers.js";

let arena: WasmArena;
let k: WasmKernels;
const pools = new Map<number, KernelPool>();
const THREADS = [1, 2, 3, 4];

beforeAll(async () => {
  await ensureBuilt();
  arena = new WasmArena({ initialBytes: 4 << 20 });
  const module = compileKernelModuleSync();
  k = loadKernelsSync(arena.memory, module);
  for (const threads of THREADS) pools.set(threads, createKernelPool({ memory: arena.memory, module, threads }));
});

afterAll(async () => {
  await Promise.all([...pools.values()].map((p) => p.close()));
});

/** A fresh output buffer of n float32 filled with NaN, so a row no chunk wrote shows. */
function nanBuffer(n: number): number {
  const ptr = arena.alloc(n * 4);
  arena.f32(ptr, n).fill(Number.NaN);
  return ptr;
}

describe("kernel pool results", () => {
  it("reports its thread count", () => {
    for (const threads of THREADS) expect(pools.get(threads)!.threads).toBe(threads);
  });

  const shapes = [
    { T: 1, C: 96, O: 203 },
    { T: 5, C: 64, O: 130 },
    { T: 2, C: 32, O: 3 }, // fewer rows than threads: some chunks are empty
  ];
  for (const { T, C, O } of shapes) {
    for (const dtype of ["F32", "BF16", "Q8_0"] as const) {
      it(`matmul${dtype} T=${T} C=${C} O=${O} has the bits of a direct call on 1-4 threads, grains 1 and 4 (Q8_0: 4 and 8)`, () => {
        const mark = arena.mark();
        const rng = random(T * 1000 + O + C);
        const xs = randomF32(rng, T * C);
        const ws = randomF32(rng, O * C, 0.5);
        const x = put(arena, xs); // (T, C)
        let w: number;
        let kernel: string;
        let input = x;
        if (dtype === "F32") {
          w = put(arena, ws); // (O, C) float32
          kernel = "matmulF32";
        } else if (dtype === "BF16") {
          w = put(arena, Uint16Array.from(ws, f32ToBf16)); // (O, C) bfloat16
          kernel = "matmulBF16";
        } else {
          w = putQuant(arena, k, quantizeQ8_0(ws, O, C), "Q8_0", O, C); // (O, C/32) row-interleaved Q8_0 blocks
          kernel = "matmulQ8_0";
          input = arena.alloc(q8ActivationBytes(T, C));
          k.quantizeQ8Activations(input, x, T, C);
        }
        const want = nanBuffer(T * O); // (T, O)
        if (dtype === "F32") k.matmulF32(want, x, w, T, C, O);
        else if (dtype === "BF16") k.matmulBF16(want, x, w, T, C, O);
        else k.matmulQ8_0(want, input, w, T, C, O);
        const wantBits = bits(getF32(arena, want, T * O));
        expect(getF32(arena, want, T * O).some(Number.isNaN)).toBe(false);

        for (const threads of THREADS) {
          const pool = pools.get(threads)!;
          let xq = input;
          if (dtype === "Q8_0") {
            // The activations quantised through the pool as well, split by tokens.
            xq = arena.alloc(q8ActivationBytes(T, C));
            pool.run("quantizeQ8Activations", [xq, x, T, C], T);
            expect(arena.u8(xq, q8ActivationBytes(T, C))).toEqual(arena.u8(input, q8ActivationBytes(T, C)));
          }
          // Row-interleaved Q8_0 splits by whole groups of 4 rows (the engine's grain).
          for (const grain of dtype === "Q8_0" ? [4, 8] : [1, 4]) {
            const out = nanBuffer(T * O);
            pool.run(kernel, [out, xq, w, T, C, O], O, grain);
            expect(bits(getF32(arena, out, T * O)), `${threads} threads, grain ${grain}`).toEqual(wantBits);
          }
        }
        arena.release(mark);
      });
    }
  }

  const attentionCases = [
    { T: 1, H: 9, G: 3, D: 64, pos0: 20, window: 0, softcap: 0 },
    { T: 4, H: 8, G: 2, D: 32, pos0: 5, window: 3, softcap: 30 },
  ];
  for (const c of attentionCases) {
    it(`attention T=${c.T} H=${c.H} G=${c.G} window=${c.window} softcap=${c.softcap} split by heads, per-thread scores`, () => {
      const mark = arena.mark();
      const { T, H, G, D, pos0, window, softcap } = c;
      const S = pos0 + T;
      const rng = random(H * 7 + T);
      const q = put(arena, randomF32(rng, T * H * D, 2)); // (T, H, D)
      const kc = put(arena, randomF32(rng, G * S * D, 2)); // (G, S, D)
      const vc = put(arena, randomF32(rng, G * S * D)); // (G, S, D)
      const scale = 1 / Math.sqrt(D); // not a float32: the pool must pass it exactly as a direct call does
      const want = nanBuffer(T * H * D); // (T, H, D)
      const scratch = attentionScratchBytes(H, G, D, S);
      k.attention(want, q, kc, vc, arena.alloc(scratch), T, H, G, D, S, pos0, window, scale, softcap);
      const wantBits = bits(getF32(arena, want, T * H * D));
      for (const threads of THREADS) {
        const scores = arena.alloc(threads * scratch); // one scratch per thread
        const out = nanBuffer(T * H * D);
        pools.get(threads)!.run("attention", [out, q, kc, vc, scores, T, H, G, D, S, pos0, window, scale, softcap], H, 1, {
          arg: 4,
          stride: scratch,
        });
        expect(bits(getF32(arena, out, T * H * D)), `${threads} threads`).toEqual(wantBits);
      }
      arena.release(mark);
    });
  }

  for (const plusOne of [false, true]) {
    const kernel = plusOne ? "rmsNormPlusOne" : "rmsNorm";
    it(`${kernel} over 7 rows of 576 has the bits of a direct call, in place too`, () => {
      const mark = arena.mark();
      const N = 7;
      const C = 576;
      const eps = 1e-5; // not a float32
      const rng = random(plusOne ? 2 : 1);
      const xs = randomF32(rng, N * C, 3);
      const x = put(arena, xs); // (N, C)
      const w = put(arena, randomF32(rng, C)); // (C)
      const want = nanBuffer(N * C); // (N, C)
      if (plusOne) k.rmsNormPlusOne(want, x, w, N, C, eps);
      else k.rmsNorm(want, x, w, N, C, eps);
      const wantBits = bits(getF32(arena, want, N * C));
      for (const threads of THREADS) {
        const out = nanBuffer(N * C);
        pools.get(threads)!.run(kernel, [out, x, w, C, eps], N);
        expect(bits(getF32(arena, out, N * C)), `${threads} threads`).toEqual(wantBits);
        const inPlace = put(arena, xs);
        pools.get(threads)!.run(kernel, [inPlace, inPlace, w, C, eps], N, 2);
        expect(bits(getF32(arena, inPlace, N * C)), `${threads} threads in place`).toEqual(wantBits);
      }
      arena.release(mark);
    });
  }

  it("passes thread t its scratch argument moved by t strides", () => {
    const mark = arena.mark();
    const a = put(arena, Float32Array.from({ length: 16 }, (_, i) => i)); // (16)
    const stride = 64 * 4;
    for (const threads of [2, 4]) {
      const out = put(arena, new Float32Array(threads * 64)); // (threads, 64)
      // add's output as the scratch argument: chunk t (rows 4t .. 4t + 4) lands t strides further on.
      pools.get(threads)!.run("add", [out, a, a], 4 * threads, 4, { arg: 0, stride });
      const got = getF32(arena, out, threads * 64);
      const want = new Float32Array(threads * 64);
      for (let t = 0; t < threads; t++) for (let i = 4 * t; i < 4 * t + 4; i++) want[t * 64 + i] = 2 * i;
      expect(Array.from(got), `${threads} threads`).toEqual(Array.from(want));
    }
    arena.release(mark);
  });

  it("runs 10,000 dependent jobs in a row on 3 threads without losing one", () => {
    const mark = arena.mark();
    const N = 48;
    const acc = put(arena, new Float32Array(N)); // (N)
    const one = put(arena, new Float32Array(N).fill(1)); // (N)
    const pool = pools.get(3)!;
    // Each job reads what the one before wrote: a missed or overlapping job changes the count.
    for (let i = 0; i < 10_000; i++) pool.run("add", [acc, acc, one], N, 4);
    expect(Array.from(getF32(arena, acc, N))).toEqual(new Array(N).fill(10_000));
    arena.release(mark);
  });

  it("loses no job whether its threads poll or sleep between jobs (spinMicros 0, 50, 20000)", async () => {
    const mark = arena.mark();
    const N = 48;
    const one = put(arena, new Float32Array(N).fill(1)); // (N)
    for (const spinMicros of [0, 50, 20_000]) {
      const pool = createKernelPool({ memory: arena.memory, module: compileKernelModuleSync(), threads: 2, spinMicros });
      const acc = put(arena, new Float32Array(N)); // (N)
      for (let i = 0; i < 2000; i++) {
        pool.run("add", [acc, acc, one], N, 4);
        // Now and then a pause longer than 50 µs, so the workers of the first two pools fall asleep between jobs.
        if (i % 250 === 0) await new Promise((r) => setTimeout(r, 2));
      }
      expect(Array.from(getF32(arena, acc, N)), `spinMicros ${spinMicros}`).toEqual(new Array(N).fill(2000));
      await pool.close();
    }
    arena.release(mark);
  });

  it("sees memory the arena grew after the workers started", () => {
    const mark = arena.mark();
    const before = arena.capacity;
    const N = 1 << 20;
    const a = put(arena, new Float32Array(N).fill(2)); // (N), past the memory the workers first saw
    const out = nanBuffer(N); // (N)
    expect(arena.capacity).toBeGreaterThan(before);
    pools.get(4)!.run("add", [out, a, a], N, 16);
    expect(getF32(arena, out, N).every((v) => v === 4)).toBe(true);
    arena.release(mark);
  });
});
