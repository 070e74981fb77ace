// Tests of bench/lib/dispatch.mjs: what `npm run bench` runs for each command line, and the typed error for an
// option only one benchmark takes.
import { describe, expect, it } from "vitest";
import { planBench } from "../lib/dispatch.mjs";

describe("planBench", () => {
  it("runs both benchmarks, inference first, with no arguments or only shared ones", () => {
    expect(planBench([])).toEqual([
      { name: "inference", script: "run.mjs", args: [] },
      { name: "training", script: "training.mjs", args: [] },
    ]);
    const plan = planBench(["--quick", "--threads", "1", "--timeout", "60"]);
    expect(plan.map((p) => p.script)).toEqual(["run.mjs", "training.mjs"]);
    expect(plan[1].args).toEqual(["--quick", "--threads", "1", "--timeout", "60"]);
  });

  it("runs only the benchmark named first, with the rest of the arguments", () => {
    expect(planBench(["training", "--modes", "lora"])).toEqual([{ name: "training", script: "training.mjs", args: ["--modes", "lora"] }]);
    expect(planBench(["inference", "--weights", "bf16"])).toEqual([{ name: "inference", script: "run.mjs", args: ["--weights", "bf16"] }]);
    expect(planBench(["inference", "--shape", "smollm2-360m"])).toEqual([
      { name: "inference", script: "run.mjs", args: ["--shape", "smollm2-360m"] },
    ]);
  });

  it("rejects an option of one benchmark given for both, naming it", () => {
    let error;
    try {
      planBench(["--quick", "--weights", "bf16"]);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "invalid_argument", details: { option: "--weights" } });
    expect(error.detail).toBe(
      '"--weights" is not an option both benchmarks take: name the benchmark first (npm run bench -- inference --weights ... or npm run bench -- training --weights ...)',
    );
  });

  it("does not mistake a shared option's value for an option", () => {
    expect(planBench(["--threads", "2"])).toHaveLength(2);
  });
});
