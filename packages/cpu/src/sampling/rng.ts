/**
 * The sampler's random numbers: xoshiro128** 1.0 (Blackman and Vigna, https://prng.di.unimi.it/), seeded by
 * SplitMix64 as its authors recommend, with 53-bit floats in [0, 1). Small, fast (32-bit integer arithmetic only after
 * seeding) and reproducible everywhere JavaScript runs: the same seed gives the same stream in Node and browsers.
 *
 * This is not a cryptographic generator and must never be used for secrets; without a seed it takes its state from
 * `crypto.getRandomValues` only so that unseeded generations differ from run to run.
 */
import { InferenceError } from "@dappcore/inference";

/** A stream of uniform random numbers. Each call advances the state; nothing is allocated per call. */
export interface Rng {
  /** A uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** A uniform float in [0, 1) with 53 random bits (every multiple of 2^-53 equally likely). */
  nextFloat(): number;
  /** The seed this stream was created from, or `undefined` when it was seeded from the platform's entropy. */
  readonly seed: number | undefined;
}

/** An `Rng` whose position can be saved and restored (what `createRng` and `rngFromState` return). */
export interface ResumableRng extends Rng {
  /** The current 128-bit state as four 32-bit words: `rngFromState(rng.getState())` continues this stream. */
  getState(): number[];
  /**
   * Moves this stream to a state `getState` returned (four 32-bit words, not all zero), e.g. to resume a saved run.
   * Throws `invalid_argument` otherwise, leaving the stream as it was.
   */
  setState(state: ArrayLike<number>): void;
}

const TWO_POW_53 = 9007199254740992;
const MASK_64 = (1n << 64n) - 1n;

/**
 * A generator seeded from `seed` (a non-negative safe integer, as `withSeed` accepts), or from
 * `crypto.getRandomValues` when `seed` is omitted. The seed is expanded to the 128-bit state by two SplitMix64 steps:
 * state words are, in order, the low and high halves of the first output, then of the second.
 *
 * @example
 * const rng = createRng(42);
 * const u = rng.nextFloat(); // the same value on every run
 */
export function createRng(seed?: number): ResumableRng {
  if (seed === undefined) {
    const words = new Uint32Array(4);
    globalThis.crypto.getRandomValues(words);
    // The all-zero state is xoshiro's one fixed point (it would return 0 forever); entropy yields it with
    // probability 2^-128, and replacing it changes no practical stream.
    if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 0x9e3779b9;
    return rngFromState(words, undefined);
  }
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0) {
    throw new InferenceError({
      code: "invalid_argument",
      op: "cpu.createRng",
      message: `seed must be a non-negative safe integer, got ${String(seed)}`,
      details: { option: "seed" },
    });
  }
  let sm = BigInt(seed);
  const words = new Uint32Array(4);
  for (let i = 0; i < 2; i++) {
    sm = (sm + 0x9e3779b97f4a7c15n) & MASK_64;
    const out = splitMix64Mix(sm);
    words[2 * i] = Number(out & 0xffffffffn);
    words[2 * i + 1] = Number(out >> 32n);
  }
  return rngFromState(words, seed);
}

/**
 * A generator starting from an explicit 128-bit state (four 32-bit words, not all zero). Used for the published
 * known-answer vectors and for resuming a stream; `createRng` is the usual entry point.
 *
 * @example
 * rngFromState([1, 2, 3, 4]).nextUint32(); // 11520, the first value of the reference implementation
 */
export function rngFromState(state: ArrayLike<number>, seed?: number): ResumableRng {
  let [s0, s1, s2, s3] = checkedState(state, "cpu.rngFromState");

  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };

  return {
    seed,
    nextUint32,
    getState: () => [s0 >>> 0, s1 >>> 0, s2 >>> 0, s3 >>> 0],
    setState(words: ArrayLike<number>): void {
      [s0, s1, s2, s3] = checkedState(words, "cpu.rng.setState");
    },
    nextFloat(): number {
      // 27 high bits of one draw and 26 of the next make 53 bits, a float64's full precision.
      const hi = nextUint32() >>> 5;
      const lo = nextUint32() >>> 6;
      return (hi * 67108864 + lo) / TWO_POW_53;
    },
  };
}

/** Four 32-bit words of a xoshiro128** state, checked; `invalid_argument` from `op` otherwise. */
function checkedState(state: ArrayLike<number>, op: string): [number, number, number, number] {
  const bad = (message: string) => new InferenceError({ code: "invalid_argument", op, message });
  if (state === null || typeof state !== "object" || state.length !== 4) {
    throw bad(`the state must be 4 words, got ${state === null || typeof state !== "object" ? String(state) : state.length}`);
  }
  const words: number[] = [];
  for (let i = 0; i < 4; i++) {
    const w = state[i];
    if (typeof w !== "number" || !Number.isInteger(w) || w < 0 || w > 0xffffffff) {
      throw bad(`state word ${i} must be an integer in [0, 2^32), got ${String(w)}`);
    }
    words.push(w);
  }
  if ((words[0] | words[1] | words[2] | words[3]) === 0) {
    // xoshiro's one fixed point: it would return 0 forever. (SplitMix64 is a bijection, so the two consecutive
    // outputs `createRng` uses are never both zero.)
    throw bad("the state must not be all zero");
  }
  return [words[0], words[1], words[2], words[3]];
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function splitMix64Mix(x: bigint): bigint {
  let z = x;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK_64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK_64;
  return z ^ (z >> 31n);
}
