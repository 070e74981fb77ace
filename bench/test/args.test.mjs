// Tests of bench/lib/args.mjs: defaults, --quick, and the typed error of every bad flag.
import { describe, expect, it } from "vitest";
import { parseArgs } from "../lib/args.mjs";

function errorOf(argv) {
  try {
    parseArgs(argv);
  } catch (e) {
    return e;
  }
  throw new Error(`parseArgs(${JSON.stringify(argv)}) did not throw`);
}

describe("parseArgs", () => {
  it("defaults to the issue's benchmark: all weights, 1 and 2 threads, 3 runs, 128 + 128 tokens, F16 KV", () => {
    expect(parseArgs([])).toEqual({
      quick: false,
      help: false,
      weights: ["f32", "bf16", "q8_0"],
      threads: [1, 2],
      runs: 3,
      promptTokens: 128,
      genTokens: 128,
      llamaKv: "f16",
      timeoutSec: 3600,
    });
  });

  it("--quick shortens the run, and later flags still override it", () => {
    const s = parseArgs(["--quick", "--runs", "2"]);
    expect(s).toMatchObject({ quick: true, runs: 2, promptTokens: 32, genTokens: 16 });
  });

  it("keeps weights in table order and drops repeated thread counts", () => {
    const s = parseArgs(["--weights", "Q8_0,f32", "--threads", "2,1,2", "--llama-kv", "F32", "--timeout", "60"]);
    expect(s.weights).toEqual(["f32", "q8_0"]);
    expect(s.threads).toEqual([2, 1]);
    expect(s.llamaKv).toBe("f32");
    expect(s.timeoutSec).toBe(60);
  });

  it("reads --help and the token counts", () => {
    expect(parseArgs(["--help", "--prompt-tokens", "64", "--gen-tokens", "8"])).toMatchObject({
      help: true,
      promptTokens: 64,
      genTokens: 8,
    });
  });

  it.each([
    [["--bogus"], "--bogus", 'unknown option "--bogus" (see --help)'],
    [["--weights", "q4_0"], "--weights", 'unknown weight type "q4_0" (known: f32, bf16, q8_0)'],
    [["--threads", "0"], "--threads", '--threads expects whole numbers from 1 to 256, got "0"'],
    [["--threads", "1,x"], "--threads", '--threads expects whole numbers from 1 to 256, got "x"'],
    [["--runs", "1.5"], "--runs", '--runs expects whole numbers from 1 to 100, got "1.5"'],
    [["--runs"], "--runs", "--runs needs a value"],
    [["--runs", "--quick"], "--runs", "--runs needs a value"],
    [["--prompt-tokens", "5000"], "--prompt-tokens", '--prompt-tokens expects whole numbers from 1 to 4096, got "5000"'],
    [["--llama-kv", "q8_0"], "--llama-kv", '--llama-kv must be f16 or f32, got "q8_0"'],
    [["--timeout", "-1"], "--timeout", '--timeout expects whole numbers from 1 to 86400, got "-1"'],
    [["--gen-tokens", "1"], "--gen-tokens", "--gen-tokens must be at least 2 (decode speed is measured after the first token)"],
  ])("rejects %j with invalid_argument", (argv, option, message) => {
    const e = errorOf(argv);
    expect(e.code).toBe("invalid_argument");
    expect(e.op).toBe("bench.args");
    expect(e.detail).toBe(message);
    expect(e.message).toBe(`bench.args: ${message}`);
    expect(e.details).toEqual({ option });
  });
});
