// Learning-rate schedules: values at chosen steps computed by hand, and every bad option's typed error.
import { describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { constantSchedule, cosineSchedule, createSchedule, linearSchedule } from "../../src/training/schedule.js";

function expectInvalid(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InferenceError);
    expect((e as InferenceError).code).toBe("invalid_argument");
    expect((e as InferenceError).message).toMatch(message);
    return;
  }
  throw new Error("expected an invalid_argument error");
}

describe("constantSchedule", () => {
  it("is flat without warmup and ramps linearly with it", () => {
    const flat = constantSchedule({ lr: 0.01 });
    expect([0, 1, 1000].map(flat)).toEqual([0.01, 0.01, 0.01]);
    const warm = constantSchedule({ lr: 0.01, warmupSteps: 4 });
    expect([0, 1, 2, 3, 4, 50].map(warm)).toEqual([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01]);
  });
});

describe("cosineSchedule", () => {
  it("warms up, then follows half a cosine down to the floor and stays there", () => {
    const s = cosineSchedule({ lr: 1, warmupSteps: 2, totalSteps: 12, minLr: 0.1 });
    expect(s(0)).toBeCloseTo(0.5, 12);
    expect(s(1)).toBeCloseTo(1, 12);
    expect(s(2)).toBeCloseTo(1, 12); // start of decay
    expect(s(7)).toBeCloseTo(0.1 + 0.9 * 0.5, 12); // half way: cos(pi/2) = 0
    expect(s(4)).toBeCloseTo(0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * 0.2)), 12);
    expect(s(12)).toBeCloseTo(0.1, 12);
    expect(s(500)).toBeCloseTo(0.1, 12);
    for (let t = 3; t <= 12; t++) expect(s(t)).toBeLessThan(s(t - 1));
  });

  it("decays to 0 by default", () => {
    expect(cosineSchedule({ lr: 3e-4, totalSteps: 10 })(10)).toBe(0);
  });
});

describe("linearSchedule", () => {
  it("decays in a straight line to minLr", () => {
    const s = linearSchedule({ lr: 1e-3, totalSteps: 100 });
    expect(s(0)).toBeCloseTo(1e-3, 15);
    expect(s(50)).toBeCloseTo(5e-4, 15);
    expect(s(100)).toBe(0);
    expect(s(150)).toBe(0);
    const w = linearSchedule({ lr: 1, warmupSteps: 10, totalSteps: 20, minLr: 0.5 });
    expect(w(4)).toBeCloseTo(0.5, 12);
    expect(w(15)).toBeCloseTo(0.75, 12);
  });
});

describe("createSchedule", () => {
  it("dispatches by kind", () => {
    expect(createSchedule({ kind: "constant", lr: 2 })(3)).toBe(2);
    expect(createSchedule({ kind: "linear", lr: 2, totalSteps: 4 })(2)).toBe(1);
    expect(createSchedule({ kind: "cosine", lr: 2, totalSteps: 4 })(2)).toBeCloseTo(1, 12);
  });

  it("rejects every bad option with invalid_argument", () => {
    expectInvalid(() => createSchedule({ kind: "step" } as never), /unknown schedule "step"/);
    expectInvalid(() => constantSchedule({ lr: -1 }), /lr must be a finite number >= 0, got -1/);
    expectInvalid(() => constantSchedule({ lr: NaN }), /lr must be .* got NaN/);
    expectInvalid(() => constantSchedule({ lr: 1, warmupSteps: 1.5 }), /warmupSteps must be an integer >= 0, got 1.5/);
    expectInvalid(() => cosineSchedule({ lr: 1, totalSteps: 0 }), /totalSteps must be an integer > 0, got 0/);
    expectInvalid(() => cosineSchedule({ lr: 1, warmupSteps: 10, totalSteps: 5 }), /totalSteps \(5\) must be >= warmupSteps \(10\)/);
    expectInvalid(() => linearSchedule({ lr: 1, totalSteps: 5, minLr: 2 }), /minLr must be in \[0, lr = 1\], got 2/);
    expectInvalid(() => constantSchedule({ lr: 1 })(-1), /step must be an integer >= 0, got -1/);
    expectInvalid(() => cosineSchedule({ lr: 1, totalSteps: 3 })(0.5), /step must be an integer >= 0, got 0.5/);
  });
});
