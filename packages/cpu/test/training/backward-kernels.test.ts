// Finite-difference gradient checks of every training kernel at small sizes, in float64: each backward is compared
// with central differences of L = Σ dOut ⊙ forward(inputs) for a random dOut (ε = 1e-5, |error| ≤ 1e-6 relative
// + 1e-9 absolute). Also: the training forwards equal the engine's float32 kernels, backward kernels accumulate,
// and float32 arrays give the float64 answer to float32 precision.
import { describe, expect, it } from "vitest";
import {
  addBackward,
  attentionBackward,
  attentionForward,
  crossEntropyForwardBackward,
  embeddingBackward,
  embeddingForward,
  gegluBackward,
  gegluForward,
  loraBackward,
  loraForward,
  matmulBackward,
  matmulForward,
  matmulHalfBackwardInput,
  matmulHalfForward,
  rmsNormBackward,
  rmsNormForward,
  ropeBackward,
  ropeForward,
  softcapBackward,
  softcapForward,
  swigluBackward,
  swigluForward,
} from "../../src/training/kernels/index.js";
import {
  attention as engineAttention,
  bf16Table,
  geglu as engineGeglu,
  rmsNorm as engineRmsNorm,
  rmsNormPlusOne as engineRmsNormPlusOne,
  rope as engineRope,
  ropeTable,
  swiglu as engineSwiglu,
} from "../../src/engine/kernels/reference/index.js";
import { ropeInverseFrequencies } from "../../src/engine/rope-frequencies.js";
import { f32ToBf16 } from "../../src/dtype.js";
import { dot, expectGradient, rand64, uniform } from "./backward-fd.js";

const worst: Record<string, number> = {};
const record = (name: string, e: number) => (worst[name] = Math.max(worst[name] ?? 0, e));

describe("embedding backward", () => {
  it("dW rows += scale · dOut, with repeated ids summed", () => {
    const rng = uniform(1);
    const V = 7, C = 5, T = 6;
    const ids = [3, 0, 3, 6, 2, 3];
    const table = rand64(V * C, rng);
    const dOut = rand64(T * C, rng);
    const scale = 2.5;
    const out = new Float64Array(T * C);
    const loss = () => (embeddingForward(out, ids, table, scale, T, C), dot(out, dOut));
    const dW = new Float64Array(V * C);
    embeddingBackward(dW, dOut, ids, scale, T, C);
    record("embedding", expectGradient("dW", table, dW, loss));
    expect(dW.subarray(1 * C, 2 * C).every((g) => g === 0)).toBe(true); // id 1 unused
  });
});

describe("rmsNorm backward", () => {
  for (const plusOne of [false, true]) {
    it(`dX and dW${plusOne ? " with (1 + w)" : ""}`, () => {
      const rng = uniform(plusOne ? 3 : 2);
      const N = 4, C = 6;
      const x = rand64(N * C, rng);
      const w = rand64(C, rng, 0.3, plusOne ? 0 : 1);
      const dOut = rand64(N * C, rng);
      const out = new Float64Array(N * C);
      const inv = new Float64Array(N);
      const loss = () => (rmsNormForward(out, inv, x, w, N, C, 1e-6, plusOne), dot(out, dOut));
      loss();
      const dX = new Float64Array(N * C);
      const dW = new Float64Array(C);
      rmsNormBackward(dX, dW, dOut, x, inv, w, N, C, plusOne);
      record("rmsNorm", expectGradient("dX", x, dX, loss));
      record("rmsNorm", expectGradient("dW", w, dW, loss));
    });
  }

  it("per-head q/k norm: rows are tokens × heads and dW sums over every head", () => {
    const rng = uniform(4);
    const T = 3, H = 4, D = 6;
    const q = rand64(T * H * D, rng);
    const w = rand64(D, rng, 0.3, 1);
    const dOut = rand64(T * H * D, rng);
    const out = new Float64Array(T * H * D);
    const inv = new Float64Array(T * H);
    const loss = () => (rmsNormForward(out, inv, q, w, T * H, D, 1e-6, false), dot(out, dOut));
    loss();
    const dQ = new Float64Array(T * H * D);
    const dW = new Float64Array(D);
    rmsNormBackward(dQ, dW, dOut, q, inv, w, T * H, D, false);
    record("qkNorm", expectGradient("dQ", q, dQ, loss));
    record("qkNorm", expectGradient("dW", w, dW, loss));
  });
});

describe("linear backward", () => {
  it("F32 weight: dX, dW and dBias", () => {
    const rng = uniform(5);
    const T = 3, C = 5, O = 4;
    const x = rand64(T * C, rng);
    const w = rand64(O * C, rng);
    const bias = rand64(O, rng);
    const dOut = rand64(T * O, rng);
    const out = new Float64Array(T * O);
    const loss = () => (matmulForward(out, x, w, bias, T, C, O), dot(out, dOut));
    const dX = new Float64Array(T * C);
    const dW = new Float64Array(O * C);
    const dB = new Float64Array(O);
    matmulBackward(dX, dW, dB, dOut, x, w, T, C, O);
    record("linear", expectGradient("dX", x, dX, loss));
    record("linear", expectGradient("dW", w, dW, loss));
    record("linear", expectGradient("dBias", bias, dB, loss));
  });

  it("frozen BF16 weight: dX only", () => {
    const rng = uniform(6);
    const T = 3, C = 5, O = 4;
    const x = rand64(T * C, rng);
    const w = Uint16Array.from(rand64(O * C, rng), (v) => f32ToBf16(v));
    const dOut = rand64(T * O, rng);
    const out = new Float64Array(T * O);
    const lut = bf16Table();
    const loss = () => (matmulHalfForward(out, x, w, lut, undefined, T, C, O), dot(out, dOut));
    const dX = new Float64Array(T * C);
    matmulHalfBackwardInput(dX, dOut, w, lut, T, C, O);
    record("linearHalf", expectGradient("dX", x, dX, loss));
  });
});

describe("LoRA linear backward", () => {
  for (const dropout of [false, true]) {
    it(`y = W x + s·B(A x)${dropout ? " with a dropout keep mask" : ""}: dA, dB, dX (W frozen)`, () => {
      const rng = uniform(dropout ? 8 : 7);
      const T = 3, C = 6, O = 5, r = 2, s = 4 / r;
      const x = rand64(T * C, rng);
      const W = rand64(O * C, rng);
      const A = rand64(r * C, rng);
      const B = rand64(O * r, rng);
      const keep = dropout ? Float64Array.from(rand64(T * C, rng), (u) => (u > -0.4 ? 1 / 0.7 : 0)) : undefined;
      const dOut = rand64(T * O, rng);
      const out = new Float64Array(T * O);
      const xa = new Float64Array(T * r);
      const loss = () => {
        matmulForward(out, x, W, undefined, T, C, O);
        loraForward(out, xa, x, keep, A, B, s, T, C, O, r);
        return dot(out, dOut);
      };
      loss();
      const dX = new Float64Array(T * C);
      const dA = new Float64Array(r * C);
      const dB = new Float64Array(O * r);
      const dXa = new Float64Array(T * r);
      matmulBackward(dX, undefined, undefined, dOut, x, W, T, C, O);
      loraBackward(dX, dA, dB, dXa, dOut, x, keep, xa, A, B, s, T, C, O, r);
      record("lora", expectGradient("dA", A, dA, loss));
      record("lora", expectGradient("dB", B, dB, loss));
      record("lora", expectGradient("dX", x, dX, loss));
    });
  }

  it("B = 0 adds nothing to the output and gives dA = 0", () => {
    const rng = uniform(9);
    const T = 2, C = 4, O = 3, r = 2;
    const x = rand64(T * C, rng);
    const A = rand64(r * C, rng);
    const B = new Float64Array(O * r);
    const out = rand64(T * O, rng);
    const before = out.slice();
    loraForward(out, new Float64Array(T * r), x, undefined, A, B, 8, T, C, O, r);
    expect(out).toEqual(before);
    const dA = new Float64Array(r * C);
    const dB = new Float64Array(O * r);
    const xa = new Float64Array(T * r);
    loraForward(new Float64Array(T * O), xa, x, undefined, A, B, 8, T, C, O, r);
    loraBackward(undefined, dA, dB, new Float64Array(T * r), rand64(T * O, rng), x, undefined, xa, A, B, 8, T, C, O, r);
    expect(dA.every((g) => g === 0)).toBe(true);
    expect(dB.some((g) => g !== 0)).toBe(true);
  });
});

describe("rope backward", () => {
  it("the inverse rotation is the gradient, at scattered positions", () => {
    const rng = uniform(10);
    const T = 4, NH = 3, D = 8, P = 40;
    const cos = new Float32Array(P * D / 2);
    const sin = new Float32Array(P * D / 2);
    ropeTable(cos, sin, ropeInverseFrequencies(D, 10_000, { type: "none" }), 0, P, D);
    const positions = [0, 5, 17, 39];
    const x = rand64(T * NH * D, rng);
    const dOut = rand64(T * NH * D, rng);
    const y = new Float64Array(T * NH * D);
    const loss = () => (y.set(x), ropeForward(y, cos, sin, positions, T, NH, D), dot(y, dOut));
    const dX = dOut.slice();
    ropeBackward(dX, cos, sin, positions, T, NH, D);
    record("rope", expectGradient("dX", x, dX, loss));
  });
});

describe("attention backward", () => {
  const cases = [
    { name: "grouped-query (H 4, G 2), B 2", B: 2, T: 5, H: 4, G: 2, D: 4, window: 0, cap: 0 },
    { name: "multi-head (H = G)", B: 1, T: 4, H: 2, G: 2, D: 3, window: 0, cap: 0 },
    { name: "sliding window 2", B: 2, T: 6, H: 2, G: 1, D: 4, window: 2, cap: 0 },
    { name: "soft-capped scores", B: 1, T: 5, H: 4, G: 2, D: 4, window: 3, cap: 2 },
  ];
  for (const c of cases) {
    it(`${c.name}: dQ, dK, dV`, () => {
      const rng = uniform(11 + c.T);
      const { B, T, H, G, D, window, cap } = c;
      const scale = 0.7;
      const q = rand64(B * T * H * D, rng);
      const k = rand64(B * T * G * D, rng);
      const v = rand64(B * T * G * D, rng);
      const dOut = rand64(B * T * H * D, rng);
      const out = new Float64Array(B * T * H * D);
      const lse = new Float64Array(B * T * H);
      const scores = new Float64Array(T);
      const loss = () => (attentionForward(out, lse, q, k, v, scores, B, T, H, G, D, window, scale, cap), dot(out, dOut));
      loss();
      const dQ = new Float64Array(q.length);
      const dK = new Float64Array(k.length);
      const dV = new Float64Array(v.length);
      attentionBackward(dQ, dK, dV, dOut, q, k, v, out, lse, B, T, H, G, D, window, scale, cap);
      record("attention", expectGradient("dQ", q, dQ, loss));
      record("attention", expectGradient("dK", k, dK, loss));
      record("attention", expectGradient("dV", v, dV, loss));
      if (window > 0) {
        // the key of position 0 is outside every window from position `window` on: only early queries reach it
        const dq2 = new Float64Array(q.length);
        const far = dOut.slice();
        far.fill(0, 0, window * H * D); // keep only the gradients of queries at t ≥ window in sequence 0
        attentionBackward(dq2, dK.fill(0), dV.fill(0), far, q, k, v, out, lse, 1, T, H, G, D, window, scale, cap);
        expect(dK.subarray(0, G * D).every((g) => g === 0)).toBe(true);
      }
    });
  }
});

describe("gated activations backward", () => {
  for (const [name, fwd, bwd] of [
    ["SwiGLU", swigluForward, swigluBackward],
    ["GeGLU (tanh GELU)", gegluForward, gegluBackward],
  ] as const) {
    it(`${name}: dGate and dUp`, () => {
      const rng = uniform(name.length);
      const N = 12;
      const gate = rand64(N, rng, 3);
      const up = rand64(N, rng);
      const dOut = rand64(N, rng);
      const out = new Float64Array(N);
      const loss = () => (fwd(out, gate, up, N), dot(out, dOut));
      const dGate = new Float64Array(N);
      const dUp = new Float64Array(N);
      bwd(dGate, dUp, dOut, gate, up, N);
      record(name, expectGradient("dGate", gate, dGate, loss));
      record(name, expectGradient("dUp", up, dUp, loss));
    });
  }
});

describe("residual add and soft-cap backward", () => {
  it("add: both inputs receive dOut", () => {
    const rng = uniform(20);
    const N = 6;
    const a = rand64(N, rng), b = rand64(N, rng), dOut = rand64(N, rng);
    const loss = () => dot(Float64Array.from(a, (v, i) => v + b[i]), dOut);
    const dA = new Float64Array(N), dB = new Float64Array(N);
    addBackward(dA, dB, dOut, N);
    record("add", expectGradient("dA", a, dA, loss));
    record("add", expectGradient("dB", b, dB, loss));
  });

  it("soft-cap: accumulating and in place", () => {
    const rng = uniform(21);
    const N = 8;
    const x = rand64(N, rng, 5);
    const dOut = rand64(N, rng);
    const y = new Float64Array(N);
    const loss = () => (softcapForward(y, x, 3, N), dot(y, dOut));
    loss();
    const dX = new Float64Array(N);
    softcapBackward(dX, dOut, y, 3, N);
    record("softcap", expectGradient("dX", x, dX, loss));
    loss(); // the checker left y at a perturbed x
    const inPlace = dOut.slice();
    softcapBackward(inPlace, inPlace, y, 3, N);
    expect(Array.from(inPlace)).toEqual(Array.from(dX));
  });
});

describe("softmax cross-entropy", () => {
  it("mean over counted rows; dLogits is its gradient; masked rows get none", () => {
    const rng = uniform(22);
    const N = 5, V = 7;
    const logits = rand64(N * V, rng, 3);
    const targets = [2, 6, 0, 3, 3];
    const mask = [1, 0, 1, 1, 0];
    const dLogits = new Float64Array(N * V);
    const loss = crossEntropyForwardBackward(dLogits, logits, targets, mask, N, V);
    let want = 0;
    for (const n of [0, 2, 3]) {
      const row = logits.subarray(n * V, (n + 1) * V);
      const lse = Math.log(row.reduce((s, z) => s + Math.exp(z), 0));
      want += lse - row[targets[n]];
    }
    expect(loss).toBeCloseTo(want / 3, 12);
    const scratch = new Float64Array(N * V);
    const f = () => crossEntropyForwardBackward(scratch, logits, targets, mask, N, V);
    record("crossEntropy", expectGradient("dLogits", logits, dLogits, f));
    expect(dLogits.subarray(V, 2 * V).every((g) => g === 0)).toBe(true);
    expect(dLogits.subarray(4 * V).every((g) => g === 0)).toBe(true);
  });

  it("without a mask every row counts, in place over the logits", () => {
    const rng = uniform(23);
    const N = 3, V = 4;
    const logits = rand64(N * V, rng);
    const targets = [1, 1, 3];
    const copy = logits.slice();
    const want = new Float64Array(N * V);
    const l1 = crossEntropyForwardBackward(want, copy, targets, [1, 1, 1], N, V);
    const l2 = crossEntropyForwardBackward(logits, logits, targets, undefined, N, V);
    expect(l2).toBe(l1);
    expect(Array.from(logits)).toEqual(Array.from(want));
    // each row's gradient sums to zero (softmax − onehot)
    for (let n = 0; n < N; n++) expect(Math.abs(want.subarray(n * V, (n + 1) * V).reduce((a, b) => a + b))).toBeLessThan(1e-15);
  });

  it("no counted row: loss 0 and zero gradient", () => {
    const logits = rand64(6, uniform(24));
    const d = new Float64Array(6).fill(7);
    expect(crossEntropyForwardBackward(d, logits, [0, 1], [0, 0], 2, 3)).toBe(0);
    expect(d.every((g) => g === 0)).toBe(true);
  });
});

describe("training forwards match the engine's kernels (float32)", () => {
  const rng = uniform(30);
  const f32 = (n: number, scale = 1, mean = 0) => Float32Array.from(rand64(n, rng, scale, mean));
  const close = (a: Float32Array, b: Float32Array, tol: number) => {
    let m = 0;
    for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
    expect(m).toBeLessThan(tol);
  };

  it("rmsNorm, rmsNorm (1 + w), SwiGLU, GeGLU, rope", () => {
    const N = 3, C = 8;
    const x = f32(N * C), w = f32(C, 0.3, 1);
    for (const plusOne of [false, true]) {
      const a = new Float32Array(N * C), b = new Float32Array(N * C);
      rmsNormForward(a, new Float32Array(N), x, w, N, C, 1e-6, plusOne);
      (plusOne ? engineRmsNormPlusOne : engineRmsNorm)(b, x, w, N, C, 1e-6);
      close(a, b, 1e-6);
    }
    const g = f32(20, 3), u = f32(20);
    for (const [mine, theirs] of [[swigluForward, engineSwiglu], [gegluForward, engineGeglu]] as const) {
      const a = new Float32Array(20), b = new Float32Array(20);
      mine(a, g, u, 20);
      theirs(b, g, u, 20);
      close(a, b, 1e-6);
    }
    const P = 16, D = 8;
    const cos = new Float32Array(P * D / 2), sin = new Float32Array(P * D / 2);
    ropeTable(cos, sin, ropeInverseFrequencies(D, 10_000, { type: "none" }), 0, P, D);
    const r1 = f32(4 * 2 * D), r2 = r1.slice();
    ropeForward(r1, cos, sin, [0, 3, 9, 15], 4, 2, D);
    engineRope(r2, cos, sin, [0, 3, 9, 15], 4, 2, D);
    close(r1, r2, 1e-6);
  });

  it("attention over a sequence equals the engine's attention over a cache", () => {
    const T = 7, H = 4, G = 2, D = 4;
    const q = f32(T * H * D), k = f32(T * G * D), v = f32(T * G * D); // (T, G, D), as training holds them
    // The engine's cache holds them (G, S, D).
    const byHead = (x: Float32Array) => {
      const y = new Float32Array(x.length);
      for (let t = 0; t < T; t++) for (let g = 0; g < G; g++) y.set(x.subarray((t * G + g) * D, (t * G + g + 1) * D), (g * T + t) * D);
      return y;
    };
    const kc = byHead(k), vc = byHead(v);
    for (const window of [0, 3]) {
      const a = new Float32Array(T * H * D), b = new Float32Array(T * H * D);
      attentionForward(a, new Float32Array(T * H), q, k, v, new Float64Array(T), 1, T, H, G, D, window, 0.5, 0);
      engineAttention(b, q, kc, vc, new Float32Array(T), T, H, G, D, T, 0, window, 0.5, 0);
      close(a, b, 1e-6);
    }
  });
});

describe("accumulation and float32", () => {
  it("a second backward call adds the same gradient again", () => {
    const rng = uniform(40);
    const T = 2, C = 3, O = 2;
    const x = rand64(T * C, rng), w = rand64(O * C, rng), dOut = rand64(T * O, rng);
    const dX = new Float64Array(T * C), dW = new Float64Array(O * C);
    matmulBackward(dX, dW, undefined, dOut, x, w, T, C, O);
    const once = dW.slice();
    matmulBackward(dX, dW, undefined, dOut, x, w, T, C, O);
    for (let i = 0; i < dW.length; i++) expect(dW[i]).toBeCloseTo(2 * once[i], 14);
  });

  it("float32 arrays give the float64 gradients to float32 precision", () => {
    const rng = uniform(41);
    const B = 1, T = 5, H = 2, G = 1, D = 4;
    const q = rand64(T * H * D, rng), k = rand64(T * G * D, rng), v = rand64(T * G * D, rng), dOut = rand64(T * H * D, rng);
    const run = <A extends Float32Array | Float64Array>(make: (n: number) => A, src: (a: Float64Array) => A) => {
      const out = make(q.length), lse = make(T * H);
      attentionForward(out, lse, src(q), src(k), src(v), new Float64Array(T), B, T, H, G, D, 0, 0.5, 0);
      const dQ = make(q.length), dK = make(k.length), dV = make(v.length);
      attentionBackward(dQ, dK, dV, src(dOut), src(q), src(k), src(v), out, lse, B, T, H, G, D, 0, 0.5, 0);
      return [dQ, dK, dV];
    };
    const g64 = run((n) => new Float64Array(n), (a) => a);
    const g32 = run((n) => new Float32Array(n), (a) => Float32Array.from(a));
    for (let j = 0; j < 3; j++) for (let i = 0; i < g64[j].length; i++) expect(Math.abs(g32[j][i] - g64[j][i])).toBeLessThan(1e-5);
  });

  it("reports the worst relative errors of the checks above", () => {
    // the checks above assert their own bound; this only prints what they reached, for the record
    console.log("worst relative FD error per kernel:", JSON.stringify(worst));
    expect(Object.keys(worst).length).toBeGreaterThan(10);
  });
});
