// The random stream: published known-answer vectors for xoshiro128** and SplitMix64, the 53-bit float conversion,
// seeding rules and their errors.
import { describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { createRng, rngFromState } from "../../src/sampling/rng.js";

function expectInvalid(fn: () => unknown, message: string) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InferenceError);
    expect((e as InferenceError).code).toBe("invalid_argument");
    expect((e as InferenceError).message).toBe(message);
    return;
  }
  throw new Error("expected an InferenceError");
}

describe("xoshiro128**", () => {
  it("reproduces the reference implementation's outputs from the state 1, 2, 3, 4", () => {
    // Published vector of xoshiro128starstar.c (also the rand_xoshiro crate's test).
    const rng = rngFromState([1, 2, 3, 4]);
    const got = Array.from({ length: 10 }, () => rng.nextUint32());
    expect(got).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it("seeds through SplitMix64: createRng(0) starts from SplitMix64(0)'s first two outputs", () => {
    // SplitMix64 from 0 yields 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4 (published); low word first.
    const a = createRng(0);
    const b = rngFromState([0x7b1dcdaf, 0xe220a839, 0xa1b965f4, 0x6e789e6a]);
    for (let i = 0; i < 16; i++) expect(a.nextUint32()).toBe(b.nextUint32());
    expect(a.seed).toBe(0);
  });

  it("builds floats from 27 + 26 high bits of two draws, in [0, 1)", () => {
    const a = rngFromState([5, 6, 7, 8]);
    const b = rngFromState([5, 6, 7, 8]);
    for (let i = 0; i < 1000; i++) {
      const f = a.nextFloat();
      const hi = b.nextUint32() >>> 5;
      const lo = b.nextUint32() >>> 6;
      expect(f).toBe((hi * 2 ** 26 + lo) / 2 ** 53);
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
    }
    const max = rngFromState([1, 1, 1, 1]);
    // The largest possible value is 1 - 2^-53, never 1.
    expect(((2 ** 27 - 1) * 2 ** 26 + (2 ** 26 - 1)) / 2 ** 53).toBeLessThan(1);
    expect(max.nextFloat()).toBeLessThan(1);
  });

  it("gives uniform floats: mean and bucket counts within statistical bounds", () => {
    const rng = createRng(7);
    const N = 100_000;
    const buckets = new Array(10).fill(0);
    let sum = 0;
    for (let i = 0; i < N; i++) {
      const f = rng.nextFloat();
      sum += f;
      buckets[Math.floor(f * 10)]++;
    }
    expect(Math.abs(sum / N - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    let chi2 = 0;
    for (const c of buckets) chi2 += (c - N / 10) ** 2 / (N / 10);
    expect(chi2).toBeLessThan(27.9); // df 9, p = 0.001
  });

  it("is deterministic per seed and distinct across seeds, including seeds past 2^32", () => {
    const take = (seed: number) => {
      const r = createRng(seed);
      return Array.from({ length: 8 }, () => r.nextUint32());
    };
    expect(take(42)).toEqual(take(42));
    expect(take(42)).not.toEqual(take(43));
    expect(take(1)).not.toEqual(take(2 ** 32 + 1));
    expect(take(Number.MAX_SAFE_INTEGER)).toEqual(take(Number.MAX_SAFE_INTEGER));
  });

  it("seeds from the platform's entropy when no seed is given", () => {
    const a = createRng();
    const b = createRng();
    expect(a.seed).toBeUndefined();
    const sa = Array.from({ length: 4 }, () => a.nextUint32());
    const sb = Array.from({ length: 4 }, () => b.nextUint32());
    expect(sa).not.toEqual(sb);
  });

  it("rejects seeds that are not non-negative safe integers", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53, Number.POSITIVE_INFINITY]) {
      expectInvalid(() => createRng(bad), `cpu.createRng: seed must be a non-negative safe integer, got ${bad}`);
    }
    expectInvalid(
      () => createRng("3" as unknown as number),
      "cpu.createRng: seed must be a non-negative safe integer, got 3",
    );
  });

  it("rejects an all-zero or wrong-sized explicit state", () => {
    expectInvalid(() => rngFromState([0, 0, 0, 0]), "cpu.rngFromState: the state must not be all zero");
    expectInvalid(() => rngFromState([1, 2, 3]), "cpu.rngFromState: the state must be 4 words, got 3");
  });

  it("getState and setState save and resume a stream; bad states are typed errors that leave the stream alone", () => {
    const a = createRng(77);
    for (let i = 0; i < 5; i++) a.nextUint32();
    const saved = a.getState();
    const ahead = Array.from({ length: 6 }, () => a.nextUint32());
    expect(Array.from({ length: 6 }, () => rngFromState(saved).nextUint32())).not.toEqual(ahead); // a fresh stream per call
    const b = rngFromState(saved);
    expect(Array.from({ length: 6 }, () => b.nextUint32())).toEqual(ahead);
    const c = createRng(1);
    c.setState(saved);
    expect(Array.from({ length: 6 }, () => c.nextUint32())).toEqual(ahead);
    const before = c.getState();
    for (const [bad, message] of [
      [[0, 0, 0, 0], "the state must not be all zero"],
      [[1, 2, 3], "the state must be 4 words, got 3"],
      [[1, 2, 3, 2 ** 32], "state word 3 must be an integer in [0, 2^32), got 4294967296"],
      [[1, -1, 3, 4], "state word 1 must be an integer in [0, 2^32), got -1"],
      [[1, 2.5, 3, 4], "state word 1 must be an integer in [0, 2^32), got 2.5"],
    ] as Array<[number[], string]>) {
      let e: unknown;
      try {
        c.setState(bad);
      } catch (err) {
        e = err;
      }
      expect(e).toMatchObject({ code: "invalid_argument", message: `cpu.rng.setState: ${message}` });
    }
    expect(c.getState()).toEqual(before);
  });
});
