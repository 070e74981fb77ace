// The WebAssembly attention, RMSNorm, rope, softmax, gated activations, add and embedding kernels against the
// reference kernels, at odd sizes; ranges split the work without changing a bit; bad arguments fail typed.
import { beforeAll, describe, expect, it } from "vitest";
import { f16ToF32, f32ToBf16, f32ToF16 } from "../../src/dtype.js";
import {
  add,
  attention,
  embeddingBF16,
  embeddingF16,
  embeddingF32,
  geglu,
  rmsNorm,
  rmsNormPlusOne,
  rope,
  ropeTable,
  softmax,
  swiglu,
} from "../../src/engine/kernels/reference/index.js";
import { attentionScratchBytes } from "../../src/engine/kernels/wasm/quant-layout.js";
import {
  bits,
  dequantize,
  getF32,
  makeEnv,
  put,
  putQuant,
  quantizeQ4_0,
  quantizeQ8_0,
  random,
  randomF32,
  thrown,
  type Env,
} from "./helpers.js";

let env: Env;
beforeAll(async () => {
  env = await makeEnv();
});

/** max |a − b| / (|b| + floor). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor: number): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + floor));
  return worst;
}

describe("wasm attention", () => {
  const cases = [
    { T: 1, H: 9, G: 3, D: 64, pos0: 20, window: 0, softcap: 0 },
    { T: 1, H: 4, G: 4, D: 5, pos0: 0, window: 0, softcap: 0 },
    { T: 3, H: 4, G: 2, D: 20, pos0: 6, window: 4, softcap: 0 },
    { T: 17, H: 2, G: 1, D: 36, pos0: 0, window: 0, softcap: 0 },
    { T: 2, H: 8, G: 2, D: 128, pos0: 31, window: 0, softcap: 50 },
    { T: 5, H: 3, G: 1, D: 7, pos0: 3, window: 2, softcap: 5 },
    { T: 2, H: 40, G: 2, D: 8, pos0: 9, window: 0, softcap: 0 }, // 20 heads per KV head: two passes of at most 16
  ];
  for (const c of cases) {
    it(`T=${c.T} H=${c.H} G=${c.G} D=${c.D} pos0=${c.pos0} window=${c.window} softcap=${c.softcap} agrees with the reference`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const { T, H, G, D, pos0, window, softcap } = c;
      const S = pos0 + T + 3; // the cache's capacity: (G, S, D) with positions past pos0 + T unused
      const rng = random(T * 31 + D);
      const q = randomF32(rng, T * H * D, 2);
      const kc = randomF32(rng, G * S * D, 2);
      const vc = randomF32(rng, G * S * D);
      const scale = 1 / Math.sqrt(D);
      const want = new Float32Array(T * H * D);
      attention(want, q, kc, vc, new Float32Array(S), T, H, G, D, S, pos0, window, scale, softcap);
      const po = arena.alloc(T * H * D * 4);
      const pq = put(arena, q);
      const pk = put(arena, kc);
      const pv = put(arena, vc);
      const ps = arena.alloc(attentionScratchBytes(H, G, D, pos0 + T));
      k.attention(po, pq, pk, pv, ps, T, H, G, D, S, pos0, window, Math.fround(scale), softcap);
      const got = getF32(arena, po, T * H * D);
      expect(relErr(got, want, 1e-2)).toBeLessThan(2e-5);
      // Split by heads (mid-group: heads that shared a pass now take separate ones): the same bits; one head at a
      // time, too.
      const part = arena.alloc(T * H * D * 4);
      const mid = Math.floor(H / 2);
      k.attention(part, pq, pk, pv, ps, T, H, G, D, S, pos0, window, Math.fround(scale), softcap, 0, mid);
      k.attention(part, pq, pk, pv, ps, T, H, G, D, S, pos0, window, Math.fround(scale), softcap, mid, H);
      expect(bits(getF32(arena, part, T * H * D))).toEqual(bits(got));
      const single = arena.alloc(T * H * D * 4);
      for (let h = 0; h < H; h++) k.attention(single, pq, pk, pv, ps, T, H, G, D, S, pos0, window, Math.fround(scale), softcap, h, h + 1);
      expect(bits(getF32(arena, single, T * H * D))).toEqual(bits(got));
      arena.release(mark);
    });
  }

  for (const c of [cases[0], cases[2], cases[4], cases[6]]) {
    it(`attentionF16 over a cache of halves T=${c.T} H=${c.H} G=${c.G} D=${c.D}: the bits of attention over the widened values; the reference agrees`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const { T, H, G, D, pos0, window, softcap } = c;
      const S = pos0 + T + 5;
      const rng = random(T * 57 + D);
      const q = randomF32(rng, T * H * D, 2);
      const kh = Uint16Array.from(randomF32(rng, G * S * D, 2), (x) => f32ToF16(x));
      const vh = Uint16Array.from(randomF32(rng, G * S * D), (x) => f32ToF16(x));
      kh[0] = 0x0001; // a subnormal half
      vh[1] = 0x83ff; // another, negative
      const widen = (h: Uint16Array) => Float32Array.from(h, (x) => f16ToF32(x));
      const scale = Math.fround(1 / Math.sqrt(D));
      const pq = put(arena, q);
      const ps = arena.alloc(attentionScratchBytes(H, G, D, pos0 + T));
      const wide = arena.alloc(T * H * D * 4);
      k.attention(wide, pq, put(arena, widen(kh)), put(arena, widen(vh)), ps, T, H, G, D, S, pos0, window, scale, softcap);
      const pk16 = arena.alloc(kh.byteLength + 16);
      new Uint16Array(arena.memory.buffer, pk16, kh.length).set(kh);
      const pv16 = arena.alloc(vh.byteLength + 16);
      new Uint16Array(arena.memory.buffer, pv16, vh.length).set(vh);
      const half = arena.alloc(T * H * D * 4);
      k.attentionF16(half, pq, pk16, pv16, ps, T, H, G, D, S, pos0, window, scale, softcap);
      expect(bits(getF32(arena, half, T * H * D))).toEqual(bits(getF32(arena, wide, T * H * D)));
      const split = arena.alloc(T * H * D * 4);
      const mid = Math.floor(H / 2);
      k.attentionF16(split, pq, pk16, pv16, ps, T, H, G, D, S, pos0, window, scale, softcap, 0, mid);
      k.attentionF16(split, pq, pk16, pv16, ps, T, H, G, D, S, pos0, window, scale, softcap, mid, H);
      expect(bits(getF32(arena, split, T * H * D))).toEqual(bits(getF32(arena, half, T * H * D)));
      const want = new Float32Array(T * H * D);
      attention(want, q, kh, vh, new Float32Array(S), T, H, G, D, S, pos0, window, scale, softcap);
      expect(relErr(getF32(arena, half, T * H * D), want, 1e-2)).toBeLessThan(2e-5);
      // A prefill's route: the positions it reads widened once by widenKVF16 (split by KV heads), then attention.
      const seen = pos0 + T;
      const kw = arena.alloc(G * S * D * 4);
      const vw = arena.alloc(G * S * D * 4);
      const mg = Math.floor(G / 2);
      k.widenKVF16(kw, pk16, G, S, D, seen, 0, mg);
      k.widenKVF16(kw, pk16, G, S, D, seen, mg, G);
      k.widenKVF16(vw, pv16, G, S, D, seen);
      for (let g = 0; g < G; g++) {
        const row = g * S * D;
        expect(bits(getF32(arena, kw + row * 4, seen * D))).toEqual(bits(widen(kh.subarray(row, row + seen * D))));
        expect(bits(getF32(arena, vw + row * 4, seen * D))).toEqual(bits(widen(vh.subarray(row, row + seen * D))));
      }
      const copied = arena.alloc(T * H * D * 4);
      k.attention(copied, pq, kw, vw, ps, T, H, G, D, S, pos0, window, scale, softcap);
      expect(bits(getF32(arena, copied, T * H * D))).toEqual(bits(getF32(arena, half, T * H * D)));
      arena.release(mark);
    });
  }

  it("widenKVF16 checks its span, heads and buffers", () => {
    const { arena, k } = env;
    const p = arena.alloc(4096);
    const cap = arena.capacity;
    const cases: [() => void, string][] = [
      [() => k.widenKVF16(p, p, 2, 6, 8, 7), "span (7) must be at most S (6)"],
      [() => k.widenKVF16(p, p, 2, 6, 8, -1), "span must be a non-negative integer, got -1"],
      [() => k.widenKVF16(p, p, 2, 6, 8, 6, 1, 3), "KV head range [1, 3) must lie within [0, 2]"],
      [() => k.widenKVF16(cap - 380, p, 2, 6, 8, 6), `out (384 bytes at offset ${cap - 380}) lies outside the WebAssembly memory (${cap} bytes)`],
    ];
    for (const [fn, message] of cases) expect(thrown(fn).message).toBe(`cpu.kernels.widenKVF16: ${message}`);
  });

  it("attentionF16 checks a cache of halves for the halves' size", () => {
    const { arena, k } = env;
    const p = arena.alloc(4096);
    const cap = arena.capacity;
    // G · S · D halves = 2 · 6 · 8 · 2 bytes = 192: fits where 4-byte values (384) would not.
    const kAt = cap - 192;
    expect(() => k.attentionF16(p, p, kAt, kAt, p, 1, 4, 2, 8, 6, 3, 0, 0.3, 0)).not.toThrow();
    const e = thrown(() => k.attentionF16(p, p, cap - 190, p, p, 1, 4, 2, 8, 6, 3, 0, 0.3, 0));
    expect(e.message).toBe(`cpu.kernels.attentionF16: k (192 bytes at offset ${cap - 190}) lies outside the WebAssembly memory (${cap} bytes)`);
  });

  for (const window of [0, 3]) {
    it(`a token attends with the same bits alone (T = 1) as the last of a prefill (window ${window})`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const [T, H, G, D, pos0] = [6, 4, 2, 22, 5]; // positions 0 .. 10: groups of four keys and a tail, D mod 4 = 2
      const S = pos0 + T;
      const rng = random(4242 + window);
      const pq = put(arena, randomF32(rng, T * H * D, 2));
      const pk = put(arena, randomF32(rng, G * S * D, 2));
      const pv = put(arena, randomF32(rng, G * S * D));
      const ps = arena.alloc(attentionScratchBytes(H, G, D, S));
      const all = arena.alloc(T * H * D * 4);
      k.attention(all, pq, pk, pv, ps, T, H, G, D, S, pos0, window, 0.25, 0);
      const one = arena.alloc(H * D * 4);
      k.attention(one, pq + (T - 1) * H * D * 4, pk, pv, ps, 1, H, G, D, S, pos0 + T - 1, window, 0.25, 0);
      expect(bits(getF32(arena, one, H * D))).toEqual(bits(getF32(arena, all + (T - 1) * H * D * 4, H * D)));
      arena.release(mark);
    });
  }

  it("rejects bad head counts, ranges, parameters and a cache too small for the positions", () => {
    const { arena, k } = env;
    const p = arena.alloc(1024);
    let e = thrown(() => k.attention(p, p, p, p, p, 1, 6, 4, 8, 1, 0, 0, 0.3, 0));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.attention: H (6) must be a multiple of G (4)");
    e = thrown(() => k.attention(p, p, p, p, p, 1, 4, 2, 8, 1, -1, 0, 0.3, 0));
    expect(e.message).toBe("cpu.kernels.attention: pos0 must be a non-negative integer, got -1");
    e = thrown(() => k.attention(p, p, p, p, p, 1, 4, 2, 8, 1, 0, 0, Number.NaN, 0));
    expect(e.message).toBe("cpu.kernels.attention: scale must be finite, got NaN");
    e = thrown(() => k.attention(p, p, p, p, p, 1, 4, 2, 8, 1, 0, 0, 0.3, -1));
    expect(e.message).toBe("cpu.kernels.attention: softcapValue must be 0 or a positive number, got -1");
    e = thrown(() => k.attention(p, p, p, p, p, 1, 4, 2, 8, 1, 0, 0, 0.3, 0, 1, 5));
    expect(e.message).toBe("cpu.kernels.attention: head range [1, 5) must lie within [0, 4]");
    e = thrown(() => k.attention(p, p, p, p, p, 2, 4, 2, 8, 4, 3, 0, 0.3, 0));
    expect(e.message).toBe("cpu.kernels.attention: S (4) must be an integer of at least pos0 + T (5)");
    const cap = arena.capacity;
    const kAt = cap - 64;
    e = thrown(() => k.attention(p, p, kAt, p, p, 1, 4, 2, 8, 4, 3, 0, 0.3, 0));
    expect(e.message).toBe(`cpu.kernels.attention: k (256 bytes at offset ${kAt}) lies outside the WebAssembly memory (${cap} bytes)`);
  });
});

describe("wasm rmsNorm, rope, softmax, activations, add", () => {
  for (const [N, C] of [[1, 1], [3, 7], [17, 576], [2, 33]]) {
    it(`rmsNorm and rmsNormPlusOne N=${N} C=${C} agree with the reference, in place too`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const rng = random(N * C);
      const x = randomF32(rng, N * C, 3);
      const w = randomF32(rng, C);
      for (const plusOne of [false, true]) {
        const want = new Float32Array(N * C);
        (plusOne ? rmsNormPlusOne : rmsNorm)(want, x, w, N, C, 1e-6);
        const px = put(arena, x);
        const pw = put(arena, w);
        const po = arena.alloc(N * C * 4);
        (plusOne ? k.rmsNormPlusOne : k.rmsNorm).call(k, po, px, pw, N, C, 1e-6);
        expect(relErr(getF32(arena, po, N * C), want, 1e-3)).toBeLessThan(1e-5);
        // In place, split by rows: identical bits.
        const mid = N >> 1;
        (plusOne ? k.rmsNormPlusOne : k.rmsNorm).call(k, px, px, pw, N, C, 1e-6, 0, mid);
        (plusOne ? k.rmsNormPlusOne : k.rmsNorm).call(k, px, px, pw, N, C, 1e-6, mid, N);
        expect(bits(getF32(arena, px, N * C))).toEqual(bits(getF32(arena, po, N * C)));
      }
      arena.release(mark);
    });
  }

  for (const [T, NH, D] of [[1, 9, 64], [3, 2, 6], [17, 3, 14], [2, 1, 2]]) {
    it(`rope T=${T} NH=${NH} D=${D} agrees with the reference; row ranges give the same bits`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const P = 40;
      const invFreq = Float32Array.from({ length: D / 2 }, (_, i) => 10000 ** (-(2 * i) / D));
      const cos = new Float32Array(P * (D / 2));
      const sin = new Float32Array(P * (D / 2));
      ropeTable(cos, sin, invFreq, 0, P, D);
      const positions = Int32Array.from({ length: T }, (_, t) => (t * 7 + 3) % P);
      const x = randomF32(random(T + NH + D), T * NH * D);
      const want = Float32Array.from(x);
      rope(want, cos, sin, positions, T, NH, D);
      const px = put(arena, x);
      const [pc, psn, pp] = [put(arena, cos), put(arena, sin), put(arena, positions)];
      k.rope(px, pc, psn, pp, T, NH, D, P);
      const got = getF32(arena, px, T * NH * D);
      expect(relErr(got, want, 1e-3)).toBeLessThan(1e-5);
      const px2 = put(arena, x);
      const R = T * NH;
      const cut = Math.floor(R / 3);
      k.rope(px2, pc, psn, pp, T, NH, D, P, 0, cut);
      k.rope(px2, pc, psn, pp, T, NH, D, P, cut, R);
      expect(bits(getF32(arena, px2, R * D))).toEqual(bits(got));
      arena.release(mark);
    });
  }

  it("rope rejects an odd D and positions outside the table", () => {
    const { arena, k } = env;
    const p = arena.alloc(4096);
    let e = thrown(() => k.rope(p, p, p, p, 1, 1, 5, 4));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.rope: D must be even, got 5");
    const pos = put(arena, Int32Array.of(0, 4));
    e = thrown(() => k.rope(p, p, p, pos, 2, 1, 4, 4));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.rope: positions[1] = 4 is outside [0, 4)");
  });

  for (const [N, K] of [[1, 1], [3, 5], [2, 49152], [4, 129]]) {
    it(`softmax N=${N} K=${K} agrees with the reference`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const x = randomF32(random(K), N * K, 20);
      const want = new Float32Array(N * K);
      softmax(want, x, N, K);
      const px = put(arena, x);
      k.softmax(px, px, N, K);
      expect(relErr(getF32(arena, px, N * K), want, 1e-30)).toBeLessThan(1e-5);
      arena.release(mark);
    });
  }

  for (const N of [1, 7, 1536, 1537]) {
    it(`swiglu, geglu and add N=${N} agree with the reference; element ranges give the same bits`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const rng = random(N);
      const gate = randomF32(rng, N, 12);
      const up = randomF32(rng, N, 2);
      const [pg, pu] = [put(arena, gate), put(arena, up)];
      for (const kind of ["swiglu", "geglu", "add"] as const) {
        const want = new Float32Array(N);
        ({ swiglu, geglu, add })[kind](want, gate, up, N);
        const po = arena.alloc(N * 4);
        k[kind](po, pg, pu, N);
        const got = getF32(arena, po, N);
        if (kind === "add") expect(bits(got)).toEqual(bits(want));
        else expect(relErr(got, want, 1e-6)).toBeLessThan(4e-6);
        const p2 = arena.alloc(N * 4);
        const cut = (N * 2) / 3 | 0;
        k[kind](p2, pg, pu, N, cut, N);
        k[kind](p2, pg, pu, N, 0, cut);
        expect(bits(getF32(arena, p2, N))).toEqual(bits(got));
      }
      arena.release(mark);
    });
  }

  it("elementwise kernels reject ranges outside [0, N]", () => {
    const { arena, k } = env;
    const p = arena.alloc(64);
    const e = thrown(() => k.add(p, p, p, 4, 0, 5));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.add: element range [0, 5) must lie within [0, 4]");
    const e2 = thrown(() => k.rmsNorm(p, p, p, 1, 4, -1));
    expect(e2.message).toBe("cpu.kernels.rmsNorm: eps must be a non-negative number, got -1");
    const e3 = thrown(() => k.softmax(p, p, 2, 4, 0, 3));
    expect(e3.message).toBe("cpu.kernels.softmax: row range [0, 3) must lie within [0, 2]");
  });
});

describe("wasm embedding", () => {
  const V = 11;
  const ids = Int32Array.of(3, 0, 10, 3, 7);
  const T = ids.length;
  for (const C of [1, 13, 64, 96]) {
    it(`F32, F16 (with subnormals), BF16 tables C=${C} give the reference bits`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const table = randomF32(random(C), V * C, 2);
      table[5] = 3e-6; // a half subnormal
      const f16 = Uint16Array.from(table, (v) => f32ToF16(v));
      const bf16 = Uint16Array.from(table, (v) => f32ToBf16(v));
      const pid = put(arena, ids);
      const scale = Math.fround(Math.sqrt(C));
      for (const [name, data] of [["F32", table], ["F16", f16], ["BF16", bf16]] as const) {
        const want = new Float32Array(T * C);
        if (name === "F32") embeddingF32(want, ids, data as Float32Array, scale, T, C);
        else if (name === "F16") embeddingF16(want, ids, data as Uint16Array, scale, T, C);
        else embeddingBF16(want, ids, data as Uint16Array, scale, T, C);
        const po = arena.alloc(T * C * 4);
        const pt = put(arena, data);
        k[`embedding${name}`](po, pid, pt, scale, T, C, V, 0, 2);
        k[`embedding${name}`](po, pid, pt, scale, T, C, V, 2, T);
        expect(bits(getF32(arena, po, T * C))).toEqual(bits(want));
      }
      expect(f16ToF32(f16[5])).not.toBe(0);
      arena.release(mark);
    });
  }

  for (const type of ["Q8_0", "Q4_0"] as const) {
    it(`${type} table rows are dequantised exactly`, () => {
      const { arena, k } = env;
      const mark = arena.mark();
      const C = 64;
      const q = (type === "Q8_0" ? quantizeQ8_0 : quantizeQ4_0)(randomF32(random(3), V * C), V, C);
      const deq = dequantize(q, type, V, C);
      const want = new Float32Array(T * C);
      embeddingF32(want, ids, deq, 2, T, C);
      const po = arena.alloc(T * C * 4);
      k[`embedding${type}`](po, put(arena, ids), putQuant(arena, k, q, type, V, C), 2, T, C, V); // ids 3, 7: grouped rows; 10: an ungrouped last row
      expect(bits(getF32(arena, po, T * C))).toEqual(bits(want));
      arena.release(mark);
    });
  }

  it("rejects ids outside the vocabulary and quantised tables with C not a multiple of 32", () => {
    const { arena, k } = env;
    const p = arena.alloc(4096);
    const pid = put(arena, Int32Array.of(2, 11));
    let e = thrown(() => k.embeddingF32(p, pid, p, 1, 2, 4, 11));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernels.embeddingF32: ids[1] = 11 is outside [0, 11)");
    e = thrown(() => k.embeddingQ4_0(p, pid, p, 1, 2, 40, 12));
    expect(e.message).toBe("cpu.kernels.embeddingQ4_0: C must be a multiple of 32 for quantised blocks, got 40");
    e = thrown(() => k.embeddingBF16(p, pid, p, Number.POSITIVE_INFINITY, 2, 4, 12));
    expect(e.message).toBe("cpu.kernels.embeddingBF16: scale must be finite, got Infinity");
  });
});
