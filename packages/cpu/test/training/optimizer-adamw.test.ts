// AdamW and gradient clipping: one and two steps computed by hand from the torch.optim.AdamW update rule, state
// save/restore giving the same trajectory as an uninterrupted run, clip_grad_norm_'s arithmetic, the typed errors,
// and agreement with torch.optim.AdamW + clip_grad_norm_ over 5 steps when /usr/bin/python3 can import torch
// (skipped with the reason otherwise; with CI set, missing torch fails instead).
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { AdamW, clipGradNorm, type Parameter } from "../../src/training/optimizer.js";

function param(values: number[], grads: number[], name?: string): Parameter {
  return { ...(name === undefined ? {} : { name }), value: Float32Array.from(values), grad: Float32Array.from(grads) };
}

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

describe("AdamW", () => {
  it("matches two steps computed by hand", () => {
    const lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    const p = param([1, -2], [0.5, 0.25]);
    const opt = new AdamW([p], { lr, betas: [b1, b2], eps, weightDecay: wd });
    opt.step();
    // Step 1: m = (1-b1) g, v = (1-b2) g^2, m̂ = g, v̂ = g^2, update = lr * g / (|g| + eps) ≈ lr * sign(g).
    const step1 = [1, -2].map((x, i) => {
      const g = [0.5, 0.25][i] as number;
      const decayed = x * (1 - lr * wd);
      const m = (1 - b1) * g, v = (1 - b2) * g * g;
      return decayed - (lr / (1 - b1)) * m / (Math.sqrt(v) / Math.sqrt(1 - b2) + eps);
    });
    expect(p.value[0]).toBeCloseTo(step1[0] as number, 6);
    expect(p.value[1]).toBeCloseTo(step1[1] as number, 6);
    expect(p.value[0]).toBeCloseTo(0.99 - 0.1, 6);
    // Step 2 with a new gradient.
    p.grad.set([-1, 0]);
    opt.step();
    const g1 = [0.5, 0.25], g2 = [-1, 0];
    const step2 = step1.map((x, i) => {
      const m = b1 * (1 - b1) * (g1[i] as number) + (1 - b1) * (g2[i] as number);
      const v = b2 * (1 - b2) * (g1[i] as number) ** 2 + (1 - b2) * (g2[i] as number) ** 2;
      return x * (1 - lr * wd) - (lr / (1 - b1 ** 2)) * m / (Math.sqrt(v) / Math.sqrt(1 - b2 ** 2) + eps);
    });
    expect(p.value[0]).toBeCloseTo(step2[0] as number, 6);
    expect(p.value[1]).toBeCloseTo(step2[1] as number, 6);
    expect(opt.stepCount).toBe(2);
  });

  it("with weight decay and zero gradient only shrinks the values (decoupled decay)", () => {
    const p = param([2, -4], [0, 0]);
    new AdamW([p], { lr: 0.5, weightDecay: 0.2 }).step();
    expect(Array.from(p.value)).toEqual([2 * 0.9, -4 * 0.9].map(Math.fround));
  });

  it("resumes from a saved state exactly as an uninterrupted run", () => {
    const grads = [[0.3, -0.1, 2], [1, 1, -1], [-0.5, 0.2, 0], [0.1, 0.1, 0.1]];
    const a = param([1, 2, 3], [0, 0, 0]);
    const optA = new AdamW([a], { lr: 0.01 });
    for (const g of grads) {
      a.grad.set(g);
      optA.step();
    }
    const b = param([1, 2, 3], [0, 0, 0]);
    const optB = new AdamW([b], { lr: 0.01 });
    for (const g of grads.slice(0, 2)) {
      b.grad.set(g);
      optB.step();
    }
    const saved = optB.state();
    const c = param(Array.from(b.value), [0, 0, 0]);
    const optC = new AdamW([c], { lr: 0.01 });
    optC.loadState(saved);
    expect(optC.stepCount).toBe(2);
    for (const g of grads.slice(2)) {
      c.grad.set(g);
      optC.step();
    }
    expect(Array.from(c.value)).toEqual(Array.from(a.value));
    // The saved state is a copy: stepping B afterwards does not change it.
    optB.step();
    expect(saved.step).toBe(2);
  });

  it("zeroGrad clears every gradient", () => {
    const p = param([1], [3]);
    const q = param([1, 1], [4, 5]);
    new AdamW([p, q]).zeroGrad();
    expect([...p.grad, ...q.grad]).toEqual([0, 0, 0]);
  });

  it("rejects bad options, parameters and states with invalid_argument", () => {
    const p = param([1, 2], [0, 0], "w");
    expectInvalid(() => new AdamW([p], { lr: -1 }), /lr must be a finite number >= 0, got -1/);
    expectInvalid(() => new AdamW([p], { betas: [1, 0.999] }), /betas\[0\] must be .* < 1, got 1/);
    expectInvalid(() => new AdamW([p], { betas: [0.9, NaN] }), /betas\[1\] must be .*got NaN/);
    expectInvalid(() => new AdamW([p], { eps: -1e-8 }), /eps must be/);
    expectInvalid(() => new AdamW([p], { weightDecay: Infinity }), /weightDecay must be .*got Infinity/);
    expectInvalid(() => new AdamW([param([1, 2], [0], "w")]), /parameter 0 \(w\) has 2 values but 1 gradients/);
    const opt = new AdamW([p]);
    expectInvalid(() => (opt.lr = NaN), /lr must be/);
    expectInvalid(() => opt.loadState({ step: -1, m: [], v: [] }), /step must be an integer >= 0, got -1/);
    expectInvalid(() => opt.loadState({ step: 1, m: [], v: [] }), /state.m must hold 1 arrays, got 0/);
    expectInvalid(
      () => opt.loadState({ step: 1, m: [new Float32Array(3)], v: [new Float32Array(2)] }),
      /state.m\[0\] must be a Float32Array of 2 values for parameter 0 \(w\)/,
    );
  });
});

describe("clipGradNorm", () => {
  it("returns the global 2-norm and scales by maxNorm / (norm + 1e-6)", () => {
    const a = param([0, 0], [3, 0]);
    const b = param([0], [4]);
    const norm = clipGradNorm([a, b], 1);
    expect(norm).toBeCloseTo(5, 12);
    const coef = 1 / (5 + 1e-6);
    expect(a.grad[0]).toBeCloseTo(3 * coef, 6);
    expect(b.grad[0]).toBeCloseTo(4 * coef, 6);
  });

  it("leaves gradients under the limit unchanged", () => {
    const a = param([0, 0], [0.3, 0.4]);
    expect(clipGradNorm([a], 1)).toBeCloseTo(0.5, 7);
    expect(Array.from(a.grad)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });

  it("supports the infinity norm", () => {
    const a = param([0, 0], [-6, 2]);
    expect(clipGradNorm([a], 3, { normType: Infinity })).toBe(6);
    expect(a.grad[0]).toBeCloseTo(-3, 5);
  });

  it("rejects bad arguments and, when asked, a non-finite norm", () => {
    expectInvalid(() => clipGradNorm([param([0], [1])], 0), /maxNorm must be a finite number > 0, got 0/);
    expectInvalid(() => clipGradNorm([param([0], [1])], 1, { normType: -2 }), /normType must be > 0 or Infinity, got -2/);
    const p = param([0, 0], [NaN, 1]);
    expectInvalid(() => clipGradNorm([p], 1, { errorIfNonfinite: true }), /non-finite \(NaN\)/);
    expect(p.grad[1]).toBe(1);
    expect(Number.isNaN(clipGradNorm([p], 1))).toBe(true); // torch's default: no error, the norm says NaN
  });
});

const PYTHON = "/usr/bin/python3";
const probe = spawnSync(PYTHON, ["-c", "import torch"], { encoding: "utf8" });
const haveTorch = probe.status === 0;
const inCI = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";
const skipReason = haveTorch ? "" : `${PYTHON} cannot import torch (${(probe.error?.message ?? probe.stderr ?? "").trim().split("\n").pop()})`;

const TORCH_SCRIPT = `
import json, sys, torch
spec = json.load(sys.stdin)
params = [torch.nn.Parameter(torch.tensor(v, dtype=torch.float32)) for v in spec["values"]]
opt = torch.optim.AdamW(params, lr=spec["lr"], betas=tuple(spec["betas"]), eps=spec["eps"], weight_decay=spec["wd"])
norms = []
for step_grads in spec["grads"]:
    for p, g in zip(params, step_grads):
        p.grad = torch.tensor(g, dtype=torch.float32)
    norms.append(float(torch.nn.utils.clip_grad_norm_(params, spec["max_norm"])))
    opt.step()
print(json.dumps({"values": [p.detach().tolist() for p in params], "norms": norms}))
`;

describe.skipIf(!haveTorch && !inCI)(`AdamW against torch.optim.AdamW${skipReason === "" ? "" : ` (skipped: ${skipReason})`}`, () => {
  it("agrees over 5 steps with clipping on the same tensors", () => {
    let s = 12345;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const shapes = [6, 3, 10];
    const values = shapes.map((n) => Array.from({ length: n }, () => Math.fround(rand())));
    const grads = Array.from({ length: 5 }, () => shapes.map((n) => Array.from({ length: n }, () => Math.fround(rand() * 0.8))));
    const spec = { values, grads, lr: 0.05, betas: [0.9, 0.95], eps: 1e-8, wd: 0.1, max_norm: 1.0 };
    const run = spawnSync(PYTHON, ["-c", TORCH_SCRIPT], { input: JSON.stringify(spec), encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const theirs = JSON.parse(run.stdout) as { values: number[][]; norms: number[] };

    const params = values.map((v) => param(v, v.map(() => 0)));
    const opt = new AdamW(params, { lr: 0.05, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    const norms: number[] = [];
    for (const stepGrads of grads) {
      params.forEach((p, i) => p.grad.set(stepGrads[i] as number[]));
      norms.push(clipGradNorm(params, 1.0));
      opt.step();
    }
    norms.forEach((n, i) => expect(Math.abs(n - (theirs.norms[i] as number)) / n).toBeLessThan(1e-6));
    let maxRel = 0;
    params.forEach((p, i) =>
      p.value.forEach((x, j) => {
        const t = (theirs.values[i] as number[])[j] as number;
        maxRel = Math.max(maxRel, Math.abs(x - t) / Math.max(1e-3, Math.abs(t)));
      }),
    );
    expect(maxRel).toBeLessThan(1e-5);
  });
});
