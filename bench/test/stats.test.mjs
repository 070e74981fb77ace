// Tests of bench/lib/stats.mjs and bench/lib/prompt.mjs: medians, ratios, shared prefixes, the prompt text.
import { describe, expect, it } from "vitest";
import { commonPrefix, median, ratio } from "../lib/stats.mjs";
import { promptText } from "../lib/prompt.mjs";

describe("median", () => {
  it("takes the middle value, or the mean of the two middle values, ignoring non-numbers", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, undefined, Number.NaN, Infinity, 1])).toBe(3);
    expect(median([])).toBeUndefined();
    expect(median([undefined])).toBeUndefined();
  });
});

describe("ratio", () => {
  it("divides finite numbers by a positive denominator only", () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeUndefined();
    expect(ratio(undefined, 2)).toBeUndefined();
    expect(ratio(1, Number.NaN)).toBeUndefined();
  });
});

describe("commonPrefix", () => {
  it("counts leading equal ids", () => {
    expect(commonPrefix([1, 2, 3], [1, 2, 4, 5])).toBe(2);
    expect(commonPrefix([1, 2], [1, 2, 3])).toBe(2);
    expect(commonPrefix([], [1])).toBe(0);
  });
});

describe("promptText", () => {
  it("is ASCII text of exactly the asked length, the same every time", () => {
    for (const n of [1, 32, 128, 1000]) {
      const text = promptText(n);
      expect(Buffer.byteLength(text, "utf8")).toBe(n);
      expect(/^[\x20-\x7e]+$/.test(text)).toBe(true);
      expect(promptText(n)).toBe(text);
    }
  });

  it("rejects a length that is not a positive integer with invalid_argument", () => {
    for (const bad of [0, -1, 1.5]) {
      let error;
      try {
        promptText(bad);
      } catch (e) {
        error = e;
      }
      expect(error?.code).toBe("invalid_argument");
      expect(error?.message).toBe(`bench.prompt: prompt length must be a positive integer, got ${bad}`);
    }
  });
});
