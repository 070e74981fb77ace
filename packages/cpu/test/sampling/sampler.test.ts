// The sampler's warpers: hand-computed cases for each Hugging Face rule and their order, agreement with a literal
// transcription of transformers' processors on random inputs, the numeric edge cases, and every error path.
import { describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { createRng, type Rng } from "../../src/sampling/rng.js";
import { createSampler, type SamplingParams } from "../../src/sampling/sampler.js";
import { hfDistribution, softmax } from "./hf-reference.js";

const OFF: SamplingParams = { temperature: 1, topK: 0, topP: 0, minP: 0, repeatPenalty: 1 };
const params = (p: Partial<SamplingParams>): SamplingParams => ({ ...OFF, ...p });

function dist(logits: number[], p: Partial<SamplingParams>, history: number[] = []): number[] {
  const s = createSampler(logits.length);
  const out = new Float64Array(logits.length);
  s.distribution(out, Float32Array.from(logits), params(p), history, history.length);
  return [...out];
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-12) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(got[i] - want[i]) > tol) {
      throw new Error(`index ${i}: got ${got[i]}, want ${want[i]} (got [${Array.from(got)}], want [${Array.from(want)}])`);
    }
  }
}

const noRng: Rng = {
  seed: undefined,
  nextUint32: () => {
    throw new Error("greedy decoding must not draw random numbers");
  },
  nextFloat: () => {
    throw new Error("greedy decoding must not draw random numbers");
  },
};

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

describe("repetition penalty (RepetitionPenaltyLogitsProcessor)", () => {
  it("divides positive logits and multiplies negative ones, once per distinct id", () => {
    // [2, -2, 1, 0.5] with penalty 2 and history [0, 1, 0] -> [1, -4, 1, 0.5]; id 0 twice is penalised once.
    expectClose(dist([2, -2, 1, 0.5], { repeatPenalty: 2 }, [0, 1, 0]), softmax([1, -4, 1, 0.5]));
  });

  it("rewards repeats with a penalty below 1 and leaves a zero logit at zero", () => {
    expectClose(dist([2, -2, 0], { repeatPenalty: 0.5 }, [0, 1, 2]), softmax([4, -1, 0]));
  });

  it("reads only history[0..historyLength)", () => {
    const s = createSampler(3);
    const out = new Float64Array(3);
    s.distribution(out, Float32Array.from([1, 1, 1]), params({ repeatPenalty: 4 }), Int32Array.from([0, 1, 2]), 1);
    expectClose(out, softmax([0.25, 1, 1]));
  });

  it("applies before greedy argmax", () => {
    const s = createSampler(2);
    const logits = Float32Array.from([5, 4]);
    expect(s.sample(logits, params({ temperature: 0 }), [], 0, noRng)).toBe(0);
    expect(s.sample(logits, params({ temperature: 0, repeatPenalty: 2 }), [0], 1, noRng)).toBe(1);
  });

  it("never writes to the caller's logits", () => {
    const logits = Float32Array.from([2, -2, 1, 0.5, Number.NEGATIVE_INFINITY]);
    const copy = Float32Array.from(logits);
    const s = createSampler(5);
    const rng = createRng(1);
    const p = params({ temperature: 0.7, topK: 3, topP: 0.9, minP: 0.05, repeatPenalty: 1.3 });
    for (let i = 0; i < 20; i++) s.sample(logits, p, [0, 1, 2], 3, rng);
    s.distribution(new Float64Array(5), logits, p, [0, 1], 2);
    s.sample(logits, params({ temperature: 0, repeatPenalty: 3 }), [0], 1, noRng);
    expect([...logits]).toEqual([...copy]);
  });
});

describe("greedy (temperature 0)", () => {
  it("picks the argmax and breaks ties to the lowest id, without drawing random numbers", () => {
    const s = createSampler(5);
    expect(s.sample(Float32Array.from([1, 3, 3, 2, 3]), params({ temperature: 0 }), [], 0, noRng)).toBe(1);
    expect(s.sample(Float32Array.from([-1, -1, -1, -1, -1]), params({ temperature: 0 }), [], 0, noRng)).toBe(0);
  });

  it("ignores the other warpers, which cannot change the argmax", () => {
    const s = createSampler(4);
    const p = params({ temperature: 0, topK: 1, topP: 0.1, minP: 0.9 });
    expect(s.sample(Float32Array.from([0, 7, 7.5, 1]), p, [], 0, noRng)).toBe(2);
    expect(dist([0, 7, 7.5, 1], p)).toEqual([0, 0, 1, 0]);
  });
});

describe("temperature (TemperatureLogitsWarper)", () => {
  it("divides the logits by the temperature", () => {
    expectClose(dist([0, Math.log(2)], { temperature: 1 }), [1 / 3, 2 / 3], 1e-7);
    expectClose(dist([0, Math.log(2)], { temperature: 0.5 }), [1 / 5, 4 / 5], 1e-7);
    expectClose(dist([0, 3], { temperature: 3 }), softmax([0, 1]));
  });
});

describe("top-k (TopKLogitsWarper)", () => {
  it("keeps the k best tokens", () => {
    expectClose(dist([1, 4, 3, 2, 0], { topK: 2 }), [0, ...softmax([4, 3]), 0, 0]);
    expectClose(dist([1, 4, 3, 2, 0], { topK: 1 }), [0, 1, 0, 0, 0]);
  });

  it("keeps every token tied with the k-th score, as transformers' `scores < kth` does", () => {
    expectClose(dist([1, 3, 3, 2, 0], { topK: 1 }), [0, 0.5, 0.5, 0, 0]);
    expectClose(dist([1, 3, 3, 2, 2], { topK: 3 }), [0, ...softmax([3, 3, 2, 2]).map((x) => x)]);
  });

  it("is off at 0 and a no-op when k is at least the vocabulary", () => {
    const all = softmax([1, 4, 3, 2, 0]);
    expectClose(dist([1, 4, 3, 2, 0], { topK: 0 }), all);
    expectClose(dist([1, 4, 3, 2, 0], { topK: 5 }), all);
    expectClose(dist([1, 4, 3, 2, 0], { topK: 50 }), all);
  });
});

describe("top-p (TopPLogitsWarper)", () => {
  // probabilities ~ [0.5, 0.25, 0.125, 0.125] (float32 logs, so thresholds stay clear of the exact sums).
  const logits = [Math.log(0.5), Math.log(0.25), Math.log(0.125), Math.log(0.125)];
  const renorm = (ps: number[]) => ps.map((x) => x / ps.reduce((a, b) => a + b, 0));

  it("keeps the smallest best-first set whose probability reaches topP", () => {
    expectClose(dist(logits, { topP: 0.49 }), [1, 0, 0, 0], 1e-7);
    expectClose(dist(logits, { topP: 0.51 }), renorm([0.5, 0.25, 0, 0]), 1e-7);
    expectClose(dist(logits, { topP: 0.74 }), renorm([0.5, 0.25, 0, 0]), 1e-7);
    expectClose(dist(logits, { topP: 0.99 }), [0.5, 0.25, 0.125, 0.125], 1e-7);
  });

  it("keeps the lower id of tokens tied at the boundary", () => {
    expectClose(dist(logits, { topP: 0.76 }), renorm([0.5, 0.25, 0.125, 0]), 1e-7);
  });

  it("drops a token once the mass ranked above it reaches topP exactly (cumsum <= 1 - topP)", () => {
    // Uniform logits give exactly 0.25 each: ascending cumsum [0.25, 0.5, 0.75, 1] removes those <= 0.5.
    expect(dist([0, 0, 0, 0], { topP: 0.5 })).toEqual([0.5, 0.5, 0, 0]);
    expect(dist([0, 0, 0, 0], { topP: 0.75 })).toEqual([1 / 3, 1 / 3, 1 / 3, 0]);
  });

  it("always keeps at least the best token", () => {
    expectClose(dist([0, 0.001, 0], { topP: 1e-9 }), [0, 1, 0]);
  });

  it("is off at 0 and at 1", () => {
    const all = softmax(logits.map(Math.fround));
    expectClose(dist(logits, { topP: 0 }), all);
    expectClose(dist(logits, { topP: 1 }), all);
  });
});

describe("min-p (MinPLogitsWarper)", () => {
  it("drops tokens below minP times the top probability", () => {
    // Ratios to the top: e^0, e^-1 = 0.37, e^-2 = 0.14, e^-3 = 0.05.
    expectClose(dist([0, -1, -2, -3], { minP: 0.2 }), [...softmax([0, -1]), 0, 0]);
    expectClose(dist([0, -1, -2, -3], { minP: 0.1 }), [...softmax([0, -1, -2]), 0]);
  });

  it("at 1 keeps exactly the tokens tied for the top", () => {
    expectClose(dist([2, 2, 1], { minP: 1 }), [0.5, 0.5, 0]);
  });

  it("is relative to the top token after temperature", () => {
    // At T = 0.5 the ratios square: e^-2 = 0.135 < 0.2 drops token 1, which survives at T = 1.
    expectClose(dist([0, -1, -5], { minP: 0.2, temperature: 0.5 }), [1, 0, 0]);
    expectClose(dist([0, -1, -5], { minP: 0.2, temperature: 1 }), [...softmax([0, -1]), 0]);
  });
});

describe("the order: penalty, temperature, top-k, top-p, min-p", () => {
  it("applies temperature before top-p", () => {
    // T = 1: [0.665, 0.245, 0.090], topP 0.8 keeps two; T = 0.5: [0.867, 0.117, 0.016] keeps one.
    expectClose(dist([2, 1, 0], { topP: 0.8 }), [...softmax([2, 1]), 0]);
    expectClose(dist([2, 1, 0], { topP: 0.8, temperature: 0.5 }), [1, 0, 0]);
  });

  it("applies top-p to the probabilities renormalised after top-k", () => {
    // After top-k 3: [0.665, 0.245, 0.090] -> topP 0.89 keeps two. (On the full row it would keep three.)
    expectClose(dist([3, 2, 1, 0], { topK: 3, topP: 0.89 }), [...softmax([3, 2]), 0, 0]);
  });

  it("applies the penalty before top-k", () => {
    expectClose(dist([3, 2.5, 0], { topK: 1, repeatPenalty: 2 }, [0]), [0, 1, 0]);
  });
});

describe("agreement with a transcription of transformers' processors", () => {
  it("gives the same distribution on 300 random cases", () => {
    const gen = createRng(2024);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(gen.nextFloat() * xs.length)];
    for (let c = 0; c < 300; c++) {
      // Mostly small rows, where ties and boundaries are common; every tenth a large one, where top-p's pruning
      // of light tokens matters.
      const V = c % 10 === 9 ? 1000 + Math.floor(gen.nextFloat() * 1000) : 1 + Math.floor(gen.nextFloat() * 60);
      const logits = Float32Array.from({ length: V }, () =>
        gen.nextFloat() < 0.05 ? Number.NEGATIVE_INFINITY : (gen.nextFloat() - 0.5) * 20,
      );
      if (logits.every((l) => l === Number.NEGATIVE_INFINITY)) logits[0] = 0;
      // Coarse values make ties common.
      if (c % 3 === 0) for (let i = 0; i < V; i++) logits[i] = Math.round(logits[i]);
      const history = Array.from({ length: Math.floor(gen.nextFloat() * 10) }, () => Math.floor(gen.nextFloat() * V));
      const p: SamplingParams = {
        temperature: pick([0, 0.3, 0.7, 1, 1.5]),
        topK: pick([0, 0, 1, 3, 10, 100]),
        topP: pick([0, 1, 0.3, 0.8, 0.95]),
        minP: pick([0, 0, 0.05, 0.3]),
        repeatPenalty: pick([1, 1, 1.3, 0.8]),
      };
      const s = createSampler(V);
      const out = new Float64Array(V);
      s.distribution(out, logits, p, history, history.length);
      const want = hfDistribution(logits, p, history);
      try {
        expectClose(out, want, 1e-9);
      } catch (e) {
        throw new Error(`case ${c} ${JSON.stringify({ p, logits: [...logits], history })}: ${(e as Error).message}`);
      }
    }
  });
});

describe("numeric edge cases", () => {
  it("handles logits near float32's limit without overflow or NaN", () => {
    const big = 3e38;
    expectClose(dist([big, -big, big, 0], { temperature: 1 }), [0.5, 0, 0.5, 0]);
    // Dividing first would overflow to Infinity and give Infinity - Infinity = NaN.
    expectClose(dist([big, -big, big, 0], { temperature: 1e-300 }), [0.5, 0, 0.5, 0]);
    expectClose(dist([1, 2, 3], { temperature: 1e-300 }), [0, 0, 1]);
    // A huge temperature brings huge gaps back to ordinary ones: (f32(0.999 big) - f32(big)) / 1e36 ~ -0.3.
    const gap = (Math.fround(big * 0.999) - Math.fround(big)) / 1e36;
    expectClose(dist([big, big * 0.999, 0], { temperature: 1e36, topP: 0.9 }), [...softmax([0, gap]), 0]);
  });

  it("samples the only finite token when every other logit is -Infinity", () => {
    const ninf = Number.NEGATIVE_INFINITY;
    const s = createSampler(4);
    const rng = createRng(3);
    const logits = Float32Array.from([ninf, ninf, 5, ninf]);
    for (const p of [
      params({}),
      params({ temperature: 0.1, topK: 2, topP: 0.5, minP: 0.5, repeatPenalty: 1.5 }),
      params({ temperature: 0 }),
    ]) {
      for (let i = 0; i < 20; i++) expect(s.sample(logits, p, [2, 0], 2, rng)).toBe(2);
      expect(dist([ninf, ninf, 5, ninf], p, [2, 0])).toEqual([0, 0, 1, 0]);
    }
  });

  it("never picks a token whose probability is zero", () => {
    // exp(-800) underflows to 0: token 1 must never come out, even for a draw at the very end of [0, 1).
    const s = createSampler(3);
    const ends: Rng = { seed: undefined, nextUint32: () => 0, nextFloat: () => 1 - 2 ** -53 };
    const starts: Rng = { seed: undefined, nextUint32: () => 0, nextFloat: () => 0 };
    const logits = Float32Array.from([0, -800, Number.NEGATIVE_INFINITY]);
    expect(s.sample(logits, params({}), [], 0, ends)).toBe(0);
    expect(s.sample(logits, params({}), [], 0, starts)).toBe(0);
    const tail = Float32Array.from([-800, 0, -800]);
    expect(s.sample(tail, params({}), [], 0, ends)).toBe(1);
    expect(s.sample(tail, params({}), [], 0, starts)).toBe(1);
  });

  it("inverts the cumulative distribution in id order", () => {
    // probabilities [0.25, 0.5, 0.25]: u in [0, .25) -> 0, [.25, .75) -> 1, [.75, 1) -> 2.
    const s = createSampler(3);
    const logits = Float32Array.from([0, Math.log(2), 0]);
    const at = (u: number): Rng => ({ seed: undefined, nextUint32: () => 0, nextFloat: () => u });
    expect(s.sample(logits, params({}), [], 0, at(0))).toBe(0);
    expect(s.sample(logits, params({}), [], 0, at(0.24))).toBe(0);
    expect(s.sample(logits, params({}), [], 0, at(0.26))).toBe(1);
    expect(s.sample(logits, params({}), [], 0, at(0.74))).toBe(1);
    expect(s.sample(logits, params({}), [], 0, at(0.76))).toBe(2);
    expect(s.sample(logits, params({}), [], 0, at(0.999))).toBe(2);
  });
});

describe("errors", () => {
  const s = createSampler(3);
  const logits = Float32Array.from([1, 2, 3]);
  const rng = createRng(1);

  it("rejects a vocabulary size that is not a positive integer", () => {
    expectInvalid(() => createSampler(0), "cpu.createSampler: vocabSize must be a positive integer, got 0");
    expectInvalid(() => createSampler(2.5), "cpu.createSampler: vocabSize must be a positive integer, got 2.5");
  });

  it("rejects logits of the wrong size", () => {
    expectInvalid(
      () => s.sample(Float32Array.from([1, 2]), OFF, [], 0, rng),
      "cpu.sample: logits must have 3 entries (the vocabulary), got 2",
    );
  });

  it("rejects out-of-range parameters, naming them", () => {
    const cases: [Partial<SamplingParams>, string][] = [
      [{ temperature: -1 }, "temperature must be a finite number >= 0, got -1"],
      [{ temperature: Number.POSITIVE_INFINITY }, "temperature must be a finite number >= 0, got Infinity"],
      [{ temperature: Number.NaN }, "temperature must be a finite number >= 0, got NaN"],
      [{ topK: -1 }, "topK must be a non-negative integer, got -1"],
      [{ topK: 1.5 }, "topK must be a non-negative integer, got 1.5"],
      [{ topP: 1.5 }, "topP must be a number in [0, 1], got 1.5"],
      [{ topP: -0.1 }, "topP must be a number in [0, 1], got -0.1"],
      [{ minP: 2 }, "minP must be a number in [0, 1], got 2"],
      [{ repeatPenalty: 0 }, "repeatPenalty must be a finite number > 0, got 0"],
      [{ repeatPenalty: Number.NaN }, "repeatPenalty must be a finite number > 0, got NaN"],
    ];
    for (const [p, message] of cases) {
      expectInvalid(() => s.sample(logits, params(p), [], 0, rng), `cpu.sample: ${message}`);
      const option = Object.keys(p)[0];
      try {
        s.sample(logits, params(p), [], 0, rng);
      } catch (e) {
        expect((e as InferenceError).details).toEqual({ option });
      }
    }
    expectInvalid(
      () => s.sample(logits, null as unknown as SamplingParams, [], 0, rng),
      "cpu.sample: params must be an object of sampling parameters",
    );
  });

  it("rejects NaN and +Infinity logits, and a row that is all -Infinity", () => {
    expectInvalid(() => s.sample(Float32Array.from([1, Number.NaN, 3]), OFF, [], 0, rng), "cpu.sample: logits[1] is NaN");
    expectInvalid(
      () => s.sample(Float32Array.from([1, 2, Number.POSITIVE_INFINITY]), params({ temperature: 0 }), [], 0, rng),
      "cpu.sample: logits[2] is +Infinity",
    );
    const ninf = Number.NEGATIVE_INFINITY;
    expectInvalid(
      () => s.sample(Float32Array.from([ninf, ninf, ninf]), OFF, [], 0, rng),
      "cpu.sample: every logit is -Infinity: there is no token to pick",
    );
  });

  it("greedy without a penalty (one pass over the logits) matches greedy through the penalty path, errors included", () => {
    const plain = params({ temperature: 0 });
    const viaPenalty = params({ temperature: 0, repeatPenalty: 1.5 }); // an empty history: the penalty touches nothing
    const rows: number[][] = [
      [0.5, 2, 2, -1], // ties go to the lowest id
      [-0, 0, -3],
      [Number.NEGATIVE_INFINITY, -7, Number.NEGATIVE_INFINITY],
      [1, Number.POSITIVE_INFINITY, Number.NaN], // NaN is reported even after +Infinity
      [Number.POSITIVE_INFINITY, 2, Number.POSITIVE_INFINITY],
      [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
      // Longer than the four running maxima: a tie across lanes, the maximum in the tail, NaN in a later lane.
      [1, 3, 0, 7, 7, 2, 7, -1, 0],
      [1, 3, 0, 2, 4, 2, 6, -1, 9],
      [1, 3, 0, 2, 4, Number.POSITIVE_INFINITY, 6, Number.NaN, 9],
      [-0, 0, -0, 0, 0, -0, -5, -5],
    ];
    for (const row of rows) {
      const x = Float32Array.from(row);
      const g = createSampler(x.length);
      const outcome = (p: SamplingParams) => {
        try {
          return g.sample(x, p, [], 0, rng);
        } catch (e) {
          return (e as Error).message;
        }
      };
      expect(outcome(plain), `row ${row.join(", ")}`).toEqual(outcome(viaPenalty));
    }
    const big = Float32Array.from({ length: 50_000 }, (_, i) => Math.sin(i * 0.37));
    const g = createSampler(big.length);
    const want = big.indexOf(Math.max(...big));
    expect(g.sample(big, plain, [], 0, rng)).toBe(want);
    const dist = new Float64Array(big.length);
    g.distribution(dist, big, plain, [], 0);
    expect(dist[want]).toBe(1);
  });

  it("rejects history ids outside the vocabulary and a history length past the history", () => {
    const p = params({ repeatPenalty: 1.2 });
    expectInvalid(() => s.sample(logits, p, [0, 3], 2, rng), "cpu.sample: history[1] = 3 is not a token id in [0, 3)");
    expectInvalid(() => s.sample(logits, p, [-1], 1, rng), "cpu.sample: history[0] = -1 is not a token id in [0, 3)");
    expectInvalid(() => s.sample(logits, p, [0.5], 1, rng), "cpu.sample: history[0] = 0.5 is not a token id in [0, 3)");
    expectInvalid(
      () => s.sample(logits, p, [0], 2, rng),
      "cpu.sample: historyLength must be an integer in [0, history.length], got 2 for a history of 1",
    );
    expectInvalid(
      () => s.sample(logits, p, [0], -1, rng),
      "cpu.sample: historyLength must be an integer in [0, history.length], got -1 for a history of 1",
    );
  });

  it("rejects a missing random stream when sampling", () => {
    expectInvalid(
      () => s.sample(logits, OFF, [], 0, undefined as unknown as Rng),
      "cpu.sample: rng must be an Rng (see createRng)",
    );
  });

  it("rejects a distribution output of the wrong size", () => {
    expectInvalid(
      () => s.distribution(new Float64Array(2), logits, OFF, [], 0),
      "cpu.sample: out must have 3 entries (the vocabulary), got 2",
    );
  });
});
