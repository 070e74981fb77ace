// Tests of bench/lib/streaming.mjs: it compiles its loop, streams a small buffer on one thread and on two and gives
// finite positive rates; bad sizes are refused. Speed itself is never asserted.
import { describe, expect, it } from "vitest";
import { measureStreaming } from "../lib/streaming.mjs";

describe("measureStreaming", () => {
  it("measures one and two threads", async () => {
    const s = await measureStreaming({ megabytes: 4, runs: 3 });
    expect(s.runs).toBe(3);
    expect(s.megabytes).toBeCloseTo(4, 3);
    for (const v of [s.oneThreadGBs, s.twoThreadsGBs]) expect(Number.isFinite(v) && v > 0).toBe(true);
  });

  it("refuses an empty buffer or no runs", async () => {
    await expect(measureStreaming({ megabytes: 0 })).rejects.toThrow(RangeError);
    await expect(measureStreaming({ megabytes: 4, runs: 0 })).rejects.toThrow(RangeError);
  });
});
