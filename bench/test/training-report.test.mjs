// Tests of bench/lib/training-report.mjs: medians per cell, ratios ours / PyTorch, the first-step loss agreement,
// n/a cells with shared footnotes, the speed-up and cores lines, and the BLAS warning.
import { describe, expect, it } from "vitest";
import {
  describeBlas,
  lossAgreementLine,
  relativeDifference,
  renderTrainingMarkdown,
  summarizeTraining,
  trainingSpeedupLines,
} from "../lib/training-report.mjs";

const step = (ms, loss = 7.5, parts = [ms / 4, ms / 2, ms / 4]) => ({ ms, forwardMs: parts[0], backwardMs: parts[1], optimizerMs: parts[2], loss });
const engine = (steps, over = {}) => ({ ok: true, steps, firstLoss: 7.7, trainableParams: 3_430_000, coresBusy: 1, peakRssBytes: 200e6, kernels: "wasm", ...over });
const TOKENS = 2048;

function report(rows, over = {}) {
  return {
    command: "node bench/training.mjs --quick",
    machine: { date: "2026-01-02T03:04:05.000Z", node: "v20.0.0", platform: "linux-x64", cpu: "Test CPU", cores: 2, memoryBytes: 2 ** 34, loadAverage: [0.5, 0.4, 0.3] },
    settings: { batch: 8, seqLen: 256, warmup: 2, steps: 3, threads: [1, 2] },
    models: { small: "llama, hidden 256, tied, F32" },
    lora: { rank: 8, alpha: 16, targetKeys: ["q_proj", "v_proj"] },
    optimizer: { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 },
    torchVersion: "1.13.0",
    torchBlas: ["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"],
    rows,
    elapsedSec: 61.4,
    ...over,
  };
}

describe("summarizeTraining", () => {
  it("takes medians of the timed steps and turns step time into tokens/s", () => {
    const s = summarizeTraining(engine([step(1000, 7.6), step(500, 7.5), step(2000, 7.4)]), TOKENS);
    expect(s).toMatchObject({ ok: true, steps: 3, tokensPerSec: 2048, stepMs: 1000, forwardMs: 250, backwardMs: 500, optimizerMs: 250, firstLoss: 7.7, lastLoss: 7.4, rssBytes: 200e6, kernels: "wasm", coresBusy: 1 });
  });

  it("passes a failure's reason through and refuses a result without timed steps", () => {
    expect(summarizeTraining({ ok: false, reason: "unsupported: x" }, TOKENS)).toEqual({ ok: false, reason: "unsupported: x" });
    expect(summarizeTraining(undefined, TOKENS)).toEqual({ ok: false, reason: "no result" });
    expect(summarizeTraining(engine([]), TOKENS)).toEqual({ ok: false, reason: "the engine reported no timed steps" });
  });
});

describe("relativeDifference and lossAgreementLine", () => {
  it("is |a - b| / |b| for finite numbers only", () => {
    expect(relativeDifference(1.0001, 1)).toBeCloseTo(1e-4, 12);
    expect(relativeDifference(1, 0)).toBeUndefined();
    expect(relativeDifference(undefined, 1)).toBeUndefined();
    expect(relativeDifference(NaN, 1)).toBeUndefined();
  });

  const row = (a, b, threads = 1) => ({ model: "small", mode: "full", threads, ours: { ok: true, firstLoss: a }, torch: { ok: true, firstLoss: b } });
  it("says the losses agree when every row is within 1e-4 relative", () => {
    expect(lossAgreementLine([row(7.7, 7.7000005), row(7.7, 7.7, 2)])).toBe(
      "First-step losses agree within 1.0e-4 relative in all 2 rows (largest difference 6.5e-8).",
    );
  });

  it("warns, naming the rows, when they do not", () => {
    expect(lossAgreementLine([row(7.7, 7.7), row(7.8, 7.7, 2)])).toBe(
      "Warning: first-step losses differ by more than 1.0e-4 relative in 1 of 2 rows (small full 2t 1.3e-2): the engines did not compute the same thing.",
    );
    expect(lossAgreementLine([row(NaN, 7.7)])).toContain("in 1 of 1 rows (small full 1t -)");
    expect(lossAgreementLine([{ ...row(1, 1), torch: { ok: false, reason: "x" } }])).toBe(
      "First-step loss agreement: not checked (no row where both engines ran).",
    );
  });
});

describe("describeBlas", () => {
  it("names the library kind and flags Debian's reference BLAS", () => {
    expect(describeBlas(["/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"])).toEqual({
      label: "reference BLAS (/usr/lib/x86_64-linux-gnu/blas/libblas.so.3)",
      reference: true,
    });
    expect(describeBlas(["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"]).reference).toBe(false);
    expect(describeBlas(["/opt/intel/libmkl_rt.so.2"]).label).toBe("MKL (/opt/intel/libmkl_rt.so.2)");
    expect(describeBlas([])).toEqual({ label: "unknown (no BLAS library found in the process)", reference: false });
  });
});

describe("renderTrainingMarkdown", () => {
  const rows = [
    {
      model: "small",
      mode: "full",
      threads: 1,
      ours: summarizeTraining(engine([step(1000)], { firstLoss: 7.7 }), TOKENS),
      torch: summarizeTraining(engine([step(4000)], { firstLoss: 7.7000002, peakRssBytes: 400e6, coresBusy: 0.98 }), TOKENS),
    },
    {
      model: "small",
      mode: "full",
      threads: 2,
      ours: summarizeTraining(engine([step(600)], { coresBusy: 1.8 }), TOKENS),
      torch: summarizeTraining(engine([step(2000)], { firstLoss: 7.7000002, peakRssBytes: 400e6, coresBusy: 1.9 }), TOKENS),
    },
    {
      model: "small",
      mode: "lora",
      threads: 1,
      ours: summarizeTraining(engine([step(400)], { trainableParams: 28_672 }), TOKENS),
      torch: { ok: false, reason: "the engine process ended without a result (exit code 3): train_torch: cannot import torch" },
    },
    {
      model: "small",
      mode: "lora",
      threads: 2,
      ours: { ok: false, reason: "invalid_argument: threads" },
      torch: { ok: false, reason: "the engine process ended without a result (exit code 3): train_torch: cannot import torch" },
    },
  ];
  const md = renderTrainingMarkdown(report(rows));

  it("prints the header with the machine, the settings and PyTorch's BLAS", () => {
    expect(md).toContain("2026-01-02 · Node v20.0.0 · linux-x64 · CPU: Test CPU · 2 cores · 16 GiB · load average at start 0.5 / 0.4 / 0.3");
    expect(md).toContain("`node bench/training.mjs --quick` took 61 s");
    expect(md).toContain("Batch B = 8 sequences of T = 256 tokens (2048 tokens a step");
    expect(md).toContain("LoRA: rank 8, alpha 16, on q_proj and v_proj");
    expect(md).toContain("Medians of 3 timed steps after 2 warm-up steps");
    expect(md).toContain("(wasm kernels)");
    expect(md).toContain("PyTorch 1.13.0: float32");
    expect(md).toContain("its BLAS: OpenBLAS (/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3).");
    expect(md).not.toContain("Warning: PyTorch ran its matrix products on the reference BLAS");
  });

  it("prints each row with tokens/s, the ratio ours / PyTorch and peak RSS", () => {
    expect(md).toContain("| small | full | 1 | 3.43 M | 2048 | 512 | 4.00x | 200 | 400 | 0.50x |");
    expect(md).toContain("| small | full | 2 | 3.43 M | 3413 | 1024 | 3.33x | 200 | 400 | 0.50x |");
  });

  it("prints the step parts and both first-step losses with their relative difference", () => {
    expect(md).toContain("| small | full | 1 | 250 / 500 / 250 | 1000 / 2000 / 1000 | 7.700000 | 7.700000 | 2.6e-8 |");
    expect(md).toContain("First-step losses agree within 1.0e-4 relative in all 2 rows (largest difference 2.6e-8).");
  });

  it("marks cells it could not measure with one footnote per distinct reason", () => {
    expect(md).toContain("| small | lora | 1 | 28.7 k | 5120 | n/a [1] | - | 200 | n/a [1] | - |");
    expect(md).toContain("| small | lora | 2 | - | n/a [2] | n/a [1] | - |");
    expect(md).toContain("- [1] PyTorch small lora 1t, PyTorch small lora 2t: the engine process ended without a result (exit code 3): train_torch: cannot import torch");
    expect(md).toContain("- [2] ours small lora 2t: invalid_argument: threads");
  });

  it("prints the thread speed-up and cores lines", () => {
    expect(md).toContain("2-thread / 1-thread training speed-up, ours: small full 1.67x, small lora -");
    expect(md).toContain("2-thread / 1-thread training speed-up, PyTorch: small full 2.00x, small lora -");
    expect(md).toContain("Cores busy during the timed steps, ours / PyTorch: small full 1t 1.00 / 0.98, small full 2t 1.80 / 1.90, small lora 1t 1.00 / -");
    expect(trainingSpeedupLines([], [1])).toEqual(["Thread speed-up: not measured (one thread count, 1)."]);
  });

  it("warns when PyTorch ran on the reference BLAS", () => {
    const ref = renderTrainingMarkdown(report(rows, { torchBlas: ["/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"] }));
    expect(ref).toContain("its BLAS: reference BLAS (/usr/lib/x86_64-linux-gnu/blas/libblas.so.3).");
    expect(ref).toContain("Warning: PyTorch ran its matrix products on the reference BLAS");
    expect(ref).toContain("`apt-get install libopenblas0-pthread`");
  });

  it("names the LD_PRELOAD PyTorch ran with, and then does not warn about the reference BLAS also loaded", () => {
    const blas = ["/usr/lib/x86_64-linux-gnu/blas/libblas.so.3", "/opt/scipy.libs/libscipy_openblas-1.so"];
    const settings = { batch: 8, seqLen: 256, warmup: 2, steps: 3, threads: [1, 2], torchPreload: "/tmp/shim.so" };
    const pre = renderTrainingMarkdown(report(rows, { torchBlas: blas, settings }));
    expect(pre).toContain(`its BLAS: reference BLAS + OpenBLAS (${blas.join(", ")}), with LD_PRELOAD=/tmp/shim.so.`);
    expect(pre).not.toContain("Warning: PyTorch ran its matrix products on the reference BLAS");
  });
});
