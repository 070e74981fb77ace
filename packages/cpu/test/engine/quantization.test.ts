// Load-time quantisation and the reference Q8_0/Q4_0 kernels: which tensors are quantised (llama.cpp's rules), the
// in-place conversion equals @dappcore/inference-gguf's llama.cpp-exact quantisers for F32/F16/BF16 sources, the
// reference products equal the WebAssembly kernels within float32 rounding, and bad inputs fail with typed errors.
import { beforeAll, describe, expect, it } from "vitest";
import { dequantizeQ4_0, dequantizeQ8_0, quantizeQ4_0, quantizeQ8_0 } from "@dappcore/inference-gguf";
import { decodeFloats, encodeFloats } from "../../src/dtype.js";
import {
  embeddingQ4_0,
  embeddingQ8_0,
  matmulF32,
  matmulQ4_0,
  matmulQ8_0,
  quantizeActivationsQ8,
} from "../../src/engine/kernels/reference/index.js";
import { q8ActivationBytes } from "../../src/engine/kernels/wasm/quant-layout.js";
import { quantBits, quantizedDType, quantizeInPlace } from "../../src/engine/quantization.js";
import { makeEnv, put, putQuant, quantizeActivations, type Env } from "../kernels-wasm/helpers.js";
import { maxAbsDiff, random, randomArray, thrown } from "./tiny-model.js";

describe("which tensors are quantised", () => {
  const C = 64;
  it("q8_0: every 2-D matrix with C a multiple of 32, embeddings and output head included", () => {
    for (const name of ["model.embed_tokens.weight", "lm_head.weight", "model.layers.0.mlp.down_proj.weight"]) {
      expect(quantizedDType(name, [128, C], "q8_0", false)).toBe("Q8_0");
    }
    expect(quantizedDType("model.norm.weight", [C], "q8_0", false)).toBeUndefined();
    expect(quantizedDType("model.layers.0.self_attn.q_proj.bias", [C], "q8_0", false)).toBeUndefined();
    expect(quantizedDType("model.layers.0.mlp.down_proj.weight", [C, 48], "q8_0", false)).toBeUndefined();
  });

  it("q4_0: layer matrices Q4_0, the output head Q8_0 (llama.cpp's Q6_K stand-in), an untied embedding Q4_0", () => {
    expect(quantizedDType("model.layers.3.self_attn.o_proj.weight", [C, C], "q4_0", false)).toBe("Q4_0");
    expect(quantizedDType("lm_head.weight", [128, C], "q4_0", false)).toBe("Q8_0");
    expect(quantizedDType("model.embed_tokens.weight", [128, C], "q4_0", true)).toBe("Q8_0");
    expect(quantizedDType("model.embed_tokens.weight", [128, C], "q4_0", false)).toBe("Q4_0");
  });

  it("ModelInfo figures: 8/32, 4/32, 0/0", () => {
    expect(quantBits("q8_0")).toEqual({ bits: 8, group: 32 });
    expect(quantBits("q4_0")).toEqual({ bits: 4, group: 32 });
    expect(quantBits(undefined)).toEqual({ bits: 0, group: 0 });
  });
});

describe("quantizeInPlace", () => {
  const rows = 7;
  const C = 96;
  const values = randomArray(rows * C, random(5), 0.7);
  for (const from of ["F32", "F16", "BF16"] as const) {
    for (const to of ["Q8_0", "Q4_0"] as const) {
      it(`${from} → ${to}: the blocks of llama.cpp's quantiser applied to the stored values`, () => {
        const stored = encodeFloats(values, from);
        const exact = decodeFloats(stored, from); // what the checkpoint holds
        const expected = new Uint8Array(rows * (C / 32) * (to === "Q8_0" ? 34 : 18));
        (to === "Q8_0" ? quantizeQ8_0 : quantizeQ4_0)(expected, exact);
        const bytes = quantizeInPlace(stored, from, to, rows, C);
        expect(bytes).toBe(expected.byteLength);
        expect(stored.subarray(0, bytes)).toEqual(expected);
      });
    }
  }

  it("refuses block sources and wrong sizes with invalid_argument", () => {
    let e = thrown(() => quantizeInPlace(new Uint8Array(34), "Q8_0", "Q4_0", 1, 32));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.quantize: cannot quantise Q8_0 weights to Q4_0; only F32, F16 and BF16 weights can be quantised");
    e = thrown(() => quantizeInPlace(new Uint8Array(100), "F32", "Q8_0", 1, 32));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.quantize: a (1, 32) F32 matrix needs C a multiple of 32 and 128 bytes, got 100");
    e = thrown(() => quantizeInPlace(new Uint8Array(48 * 4), "F32", "Q8_0", 1, 48));
    expect(e.code).toBe("invalid_argument");
  });
});

describe("reference Q8_0/Q4_0 kernels", () => {
  let env: Env;
  beforeAll(async () => {
    env = await makeEnv(); // builds kernels.wasm when missing
  }, 120_000);
  const T = 5;
  const C = 128;
  const O = 9;
  const rng = random(11);
  const x = randomArray(T * C, rng, 2);
  const w = randomArray(O * C, rng, 0.5);

  it("activations: the WebAssembly kernel's Q8 blocks (round half to even, f16 scales)", () => {
    const xq = new Int8Array(T * C);
    const xs = new Float32Array((T * C) / 32);
    quantizeActivationsQ8(xq, xs, x, T, C);
    const twin = quantizeActivations(x, T, C);
    expect(xq).toEqual(twin.q);
    expect(xs).toEqual(twin.d);
    // a value exactly between two steps rounds to the even one
    const tie = new Float32Array(32);
    tie[0] = 127; // d = 1
    tie[1] = 2.5;
    tie[2] = -3.5;
    quantizeActivationsQ8(xq, xs, tie, 1, 32);
    expect([xq[0], xq[1], xq[2], xs[0]]).toEqual([127, 2, -4, 1]);
  });

  for (const type of ["Q8_0", "Q4_0"] as const) {
    it(`${type} matmul equals the WebAssembly kernel bit for bit, and the dequantised product closely`, () => {
      const blocks = new Uint8Array(O * (C / 32) * (type === "Q8_0" ? 34 : 18));
      (type === "Q8_0" ? quantizeQ8_0 : quantizeQ4_0)(blocks, w);
      const xq = new Int8Array(T * C);
      const xs = new Float32Array((T * C) / 32);
      quantizeActivationsQ8(xq, xs, x, T, C);
      const ours = new Float32Array(T * O);
      (type === "Q8_0" ? matmulQ8_0 : matmulQ4_0)(ours, xq, xs, blocks, T, C, O);

      const { arena, k } = env;
      const xp = put(arena, x);
      const qp = arena.alloc(q8ActivationBytes(T, C));
      const wp = putQuant(arena, k, blocks, type, O, C);
      const op = arena.alloc(T * O * 4);
      k.quantizeQ8Activations(qp, xp, T, C);
      (type === "Q8_0" ? k.matmulQ8_0 : k.matmulQ4_0).call(k, op, qp, wp, T, C, O);
      const fast = arena.f32(op, T * O);
      expect(new Uint32Array(Float32Array.from(fast).buffer)).toEqual(new Uint32Array(ours.buffer));

      // Against float activations times the dequantised weights: the activation rounding only.
      const deq = new Float32Array(O * C);
      (type === "Q8_0" ? dequantizeQ8_0 : dequantizeQ4_0)(deq, blocks);
      const float = new Float32Array(T * O);
      matmulF32(float, x, deq, T, C, O);
      expect(maxAbsDiff(ours, float)).toBeLessThan(0.05);
      expect(maxAbsDiff(ours, float)).toBeGreaterThan(0);
    });

    it(`${type} embedding rows are the dequantised rows times the scale`, () => {
      const blocks = new Uint8Array(O * (C / 32) * (type === "Q8_0" ? 34 : 18));
      (type === "Q8_0" ? quantizeQ8_0 : quantizeQ4_0)(blocks, w);
      const deq = new Float32Array(O * C);
      (type === "Q8_0" ? dequantizeQ8_0 : dequantizeQ4_0)(deq, blocks);
      const out = new Float32Array(2 * C);
      (type === "Q8_0" ? embeddingQ8_0 : embeddingQ4_0)(out, [4, 0], blocks, 2, 2, C);
      for (let c = 0; c < C; c++) {
        expect(out[c]).toBeCloseTo(2 * deq[4 * C + c], 6);
        expect(out[C + c]).toBeCloseTo(2 * deq[c], 6);
      }
    });
  }
});
