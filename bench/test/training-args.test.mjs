// Tests of bench/lib/training-args.mjs: defaults (the benchmark), --quick, overrides, and the typed error of
// every bad flag.
import { describe, expect, it } from "vitest";
import { parseTrainingArgs } from "../lib/training-args.mjs";

function errorOf(argv) {
  try {
    parseTrainingArgs(argv, {});
  } catch (e) {
    return e;
  }
  throw new Error(`parseTrainingArgs(${JSON.stringify(argv)}) did not throw`);
}

describe("parseTrainingArgs", () => {
  it("defaults to both models and modes at 1 and 2 threads, B = 8, T = 256, 2 warm-up and 5 timed steps", () => {
    expect(parseTrainingArgs([], {})).toEqual({
      quick: false,
      help: false,
      models: ["small", "demo"],
      modes: ["full", "lora"],
      threads: [1, 2],
      batch: 8,
      seqLen: 256,
      warmup: 2,
      steps: 5,
      python: "/usr/bin/python3",
      torchPreload: "",
      timeoutSec: 3600,
    });
  });

  it("--quick runs the small model at 1 thread with fewer steps; later flags still override it", () => {
    expect(parseTrainingArgs(["--quick"], {})).toMatchObject({ quick: true, models: ["small"], threads: [1], warmup: 1, steps: 2, batch: 8, seqLen: 256 });
    expect(parseTrainingArgs(["--quick", "--steps", "3", "--threads", "2"], {})).toMatchObject({ steps: 3, threads: [2] });
  });

  it("reads every option, keeps lists in table order and drops repeated thread counts", () => {
    const s = parseTrainingArgs(
      ["--models", "demo,small", "--modes", "LoRA", "--threads", "2,1,2", "--batch", "4", "--seq-len", "64", "--warmup", "1", "--steps", "3", "--python", "/opt/py", "--torch-preload", "/opt/libblas.so", "--timeout", "90", "--help"],
      {},
    );
    expect(s).toMatchObject({ models: ["small", "demo"], modes: ["lora"], threads: [2, 1], batch: 4, seqLen: 64, warmup: 1, steps: 3, python: "/opt/py", torchPreload: "/opt/libblas.so", timeoutSec: 90, help: true });
  });

  it("takes the interpreter from TORCH_REFERENCE_PYTHON, as the agreement tests do", () => {
    expect(parseTrainingArgs([], { TORCH_REFERENCE_PYTHON: "/venv/bin/python" }).python).toBe("/venv/bin/python");
  });

  it.each([
    [["--models", "big"], "--models", 'unknown model "big" (known: small, demo)'],
    [["--modes", "full,qlora"], "--modes", 'unknown mode "qlora" (known: full, lora)'],
    [["--threads", "0"], "--threads", '--threads expects whole numbers from 1 to 256, got "0"'],
    [["--batch", "2.5"], "--batch", '--batch expects whole numbers from 1 to 1024, got "2.5"'],
    [["--seq-len", "1"], "--seq-len", "--seq-len must be at least 2 (a target needs a next token)"],
    [["--warmup", "0"], "--warmup", "--warmup must be at least 1 (the first, untimed step gives the losses compared)"],
    [["--warmup", "-1"], "--warmup", '--warmup expects a whole number from 0 to 100, got "-1"'],
    [["--steps", "0"], "--steps", '--steps expects whole numbers from 1 to 1000, got "0"'],
    [["--timeout"], "--timeout", "--timeout needs a value"],
    [["--python", "--quick"], "--python", "--python needs a value"],
    [["--torch-preload"], "--torch-preload", "--torch-preload needs a value"],
    [["--weights", "bf16"], "--weights", 'unknown option "--weights" (see --help)'],
  ])("rejects %j", (argv, option, detail) => {
    const e = errorOf(argv);
    expect(e.code).toBe("invalid_argument");
    expect(e.detail).toBe(detail);
    expect(e.details).toEqual({ option });
  });
});
