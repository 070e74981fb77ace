// Tests of bench/lib/args.mjs: defaults, --quick, and the typed error of every bad flag.
import { describe, expect, it } from "vitest";
import { parseArgs, resultsName } from "../lib/args.mjs";
import { SHAPE_PRESETS, SMOLLM2_135M_SHAPE } from "../lib/shapes.mjs";

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
      rounds: 3,
      promptTokens: 128,
      genTokens: 128,
      llamaKv: "f16",
      timeoutSec: 3600,
      shape: { name: "smollm2-135m", title: "SmolLM2-135M shape", spec: SMOLLM2_135M_SHAPE, custom: false },
    });
  });

  it("--rounds takes 1 to 20 processes per engine", () => {
    expect(parseArgs(["--rounds", "3"]).rounds).toBe(3);
    for (const bad of ["0", "21", "1.5", "x"]) {
      const e = errorOf(["--rounds", bad]);
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toContain("--rounds");
    }
  });

  it("--quick shortens the run, and later flags still override it", () => {
    const s = parseArgs(["--quick", "--runs", "2"]);
    expect(s).toMatchObject({ quick: true, runs: 2, rounds: 1, promptTokens: 32, genTokens: 16 });
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
    [["--weights", "q4_k"], "--weights", 'unknown weight type "q4_k" (known: f32, bf16, q8_0, q4_0)'],
    [["--threads", "0"], "--threads", '--threads expects whole numbers from 1 to 256, got "0"'],
    [["--threads", "1,x"], "--threads", '--threads expects whole numbers from 1 to 256, got "x"'],
    [["--runs", "1.5"], "--runs", '--runs expects whole numbers from 1 to 100, got "1.5"'],
    [["--runs"], "--runs", "--runs needs a value"],
    [["--runs", "--quick"], "--runs", "--runs needs a value"],
    [["--prompt-tokens", "5000"], "--prompt-tokens", '--prompt-tokens expects whole numbers from 1 to 4096, got "5000"'],
    [["--llama-kv", "q8_0"], "--llama-kv", '--llama-kv must be f16 or f32, got "q8_0"'],
    [["--timeout", "-1"], "--timeout", '--timeout expects whole numbers from 1 to 86400, got "-1"'],
    [["--gen-tokens", "1"], "--gen-tokens", "--gen-tokens must be at least 2 (decode speed is measured after the first token)"],
    [["--shape"], "--shape", "--shape needs a value"],
    [
      ["--shape", "llama-7b"],
      "--shape",
      'unknown shape "llama-7b" (known: smollm2-135m, smollm2-360m, tinyllama-1.1b, or a custom spec ' +
        "hidden=H,ffn=F,layers=L,heads=A,kv-heads=K[,vocab=V][,tied=0|1][,head-dim=D][,rope-theta=T][,seed=S])",
    ],
    [
      ["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,width=3"],
      "--shape",
      '--shape: unknown key "width" (known: hidden, ffn, layers, heads, kv-heads, vocab, tied, head-dim, rope-theta, seed)',
    ],
    [["--shape", "hidden=128,ffn=256,layers=2,heads=4"], "--shape", "--shape: a custom shape needs kv-heads"],
    [["--shape", "hidden=128,ffn=256"], "--shape", "--shape: a custom shape needs layers, heads, kv-heads"],
    [["--shape", "hidden=128,hidden=256,ffn=256,layers=2,heads=4,kv-heads=2"], "--shape", '--shape: key "hidden" given twice'],
    [["--shape", "hidden=128,ffn,layers=2,heads=4,kv-heads=2"], "--shape", '--shape: key "ffn" needs a value (ffn=...)'],
    [["--shape", "hidden=128,ffn=,layers=2,heads=4,kv-heads=2"], "--shape", '--shape: key "ffn" needs a value (ffn=...)'],
    [
      ["--shape", "hidden=128,,ffn=256,layers=2,heads=4,kv-heads=2"],
      "--shape",
      '--shape: empty entry in "hidden=128,,ffn=256,layers=2,heads=4,kv-heads=2" (entries are key=value, separated by commas)',
    ],
    [["--shape", "hidden=12.5,ffn=256,layers=2,heads=4,kv-heads=2"], "--shape", '--shape: hidden expects a whole number from 1 to 65536, got "12.5"'],
    [["--shape", "hidden=128,ffn=0,layers=2,heads=4,kv-heads=2"], "--shape", '--shape: ffn expects a whole number from 1 to 262144, got "0"'],
    [["--shape", "hidden=128,ffn=256,layers=-2,heads=4,kv-heads=2"], "--shape", '--shape: layers expects a whole number from 1 to 1024, got "-2"'],
    [["--shape", "hidden=128,ffn=256,layers=2,heads=x,kv-heads=2"], "--shape", '--shape: heads expects a whole number from 1 to 1024, got "x"'],
    [["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,head-dim=33"], "--shape", "--shape: head-dim must be even (rotary embeddings rotate pairs), got 33"],
    [["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,rope-theta=1e4"], "--shape", '--shape: rope-theta expects a whole number from 1 to 1000000000, got "1e4"'],
    [["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,seed=-1"], "--shape", '--shape: seed expects a whole number from 0 to 4294967295, got "-1"'],
    [["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,tied=yes"], "--shape", '--shape: tied must be 0 or 1, got "yes"'],
    [
      ["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,vocab=258"],
      "--shape",
      "--shape: vocab 258 is too small: the byte-level tokenizer the benchmark writes (one token per byte, so the prompt " +
        "is the same ids in both engines) has 259 tokens, so vocab must be at least 259",
    ],
    [["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=3"], "--shape", "--shape: heads (4) must be a multiple of kv-heads (3)"],
    [["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=8"], "--shape", "--shape: heads (4) must be a multiple of kv-heads (8)"],
    [["--shape", "hidden=100,ffn=256,layers=2,heads=3,kv-heads=1"], "--shape", "--shape: hidden (100) is not a multiple of heads (3); give head-dim"],
    [
      ["--shape", "tinyllama-1.1b", "--prompt-tokens", "2048"],
      "--prompt-tokens",
      "--prompt-tokens + --gen-tokens (2176) exceed the 2048 positions of the tinyllama-1.1b shape",
    ],
  ])("rejects %j with invalid_argument", (argv, option, message) => {
    const e = errorOf(argv);
    expect(e.code).toBe("invalid_argument");
    expect(e.op).toBe("bench.args");
    expect(e.detail).toBe(message);
    expect(e.message).toBe(`bench.args: ${message}`);
    expect(e.details).toEqual({ option });
  });

  describe("--shape", () => {
    it("names the presets, SmolLM2-135M by default", () => {
      expect(parseArgs([]).shape.spec).toBe(SMOLLM2_135M_SHAPE);
      expect(parseArgs(["--shape", "SmolLM2-360M"]).shape).toEqual({ ...SHAPE_PRESETS["smollm2-360m"], custom: false });
      expect(parseArgs(["--shape", "smollm2-360m"]).shape.spec).toMatchObject({
        architecture: "llama",
        hiddenSize: 960,
        intermediateSize: 2560,
        numLayers: 32,
        numHeads: 15,
        numKVHeads: 5,
        headDim: 64,
        vocabSize: 49152,
        tieWordEmbeddings: true,
        ropeTheta: 100000,
        maxPositionEmbeddings: 8192,
      });
      expect(parseArgs(["--shape", "tinyllama-1.1b"]).shape).toMatchObject({
        name: "tinyllama-1.1b",
        title: "TinyLlama-1.1B shape",
        spec: {
          hiddenSize: 2048,
          intermediateSize: 5632,
          numLayers: 22,
          numHeads: 32,
          numKVHeads: 4,
          headDim: 64,
          vocabSize: 32000,
          tieWordEmbeddings: false,
          ropeTheta: 10000,
          maxPositionEmbeddings: 2048,
        },
      });
    });

    it("gives every preset its own fixed seed", () => {
      const seeds = Object.values(SHAPE_PRESETS).map((p) => p.spec.seed);
      expect(new Set(seeds).size).toBe(seeds.length);
    });

    it("reads a custom spec with its defaults (vocab 32000, untied, head dim hidden/heads, rope theta 10000, seed 1)", () => {
      const { shape } = parseArgs(["--shape", "hidden=768,ffn=2048,layers=12,heads=12,kv-heads=4"]);
      expect(shape.custom).toBe(true);
      expect(shape.name).toBe("custom-h768-f2048-l12-a12-kv4");
      expect(shape.spec).toEqual({
        architecture: "llama",
        seed: 1,
        hiddenSize: 768,
        intermediateSize: 2048,
        numLayers: 12,
        numHeads: 12,
        numKVHeads: 4,
        headDim: 64,
        vocabSize: 32000,
        tieWordEmbeddings: false,
        maxPositionEmbeddings: 8192,
        ropeTheta: 10000,
      });
      expect(shape.title).toBe(
        "custom shape (hidden 768, FFN 2048, 12 layers, 12 heads, 4 KV heads, head dim 64, vocab 32000, untied, rope theta 10000)",
      );
    });

    it("reads every optional key, in any order, and names the shape by the values that differ from the defaults", () => {
      const { shape } = parseArgs([
        "--shape",
        " seed=7, tied=1,rope-theta=500000,head-dim=32,vocab=512,kv-heads=2,heads=4,layers=2,ffn=256,hidden=256",
      ]);
      expect(shape.spec).toMatchObject({ seed: 7, tieWordEmbeddings: true, ropeTheta: 500000, headDim: 32, vocabSize: 512, hiddenSize: 256 });
      expect(shape.name).toBe("custom-h256-f256-l2-a4-kv2-v512-tied-d32-rt500000-s7");
      const same = parseArgs(["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,vocab=32000,tied=0,head-dim=32,rope-theta=10000,seed=1"]);
      expect(same.shape.name).toBe("custom-h128-f256-l2-a4-kv2");
      expect(parseArgs(["--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,vocab=259,seed=0"]).shape.spec).toMatchObject({ vocabSize: 259, seed: 0 });
    });

    it("lets a head dim that does not divide hidden be given", () => {
      const { shape } = parseArgs(["--shape", "hidden=100,ffn=256,layers=2,heads=3,kv-heads=1,head-dim=32"]);
      expect(shape.spec.headDim).toBe(32);
      expect(shape.name).toBe("custom-h100-f256-l2-a3-kv1-d32");
    });

    it("fits TinyLlama's 2048 positions by default", () => {
      expect(parseArgs(["--shape", "tinyllama-1.1b", "--prompt-tokens", "1920"]).promptTokens).toBe(1920);
    });
  });
});

describe("resultsName", () => {
  it("keeps latest.* for the default shape at the default lengths, names everything else", () => {
    expect(resultsName(parseArgs([]))).toBeUndefined();
    expect(resultsName(parseArgs(["--quick"]))).toBeUndefined();
    expect(resultsName(parseArgs(["--weights", "q8_0,bf16,f32"]))).toBeUndefined();
    expect(resultsName(parseArgs(["--weights", "bf16"]))).toBe("smollm2-135m-bf16");
    expect(resultsName(parseArgs(["--weights", "q4_0"]))).toBe("smollm2-135m-q4_0");
    expect(resultsName(parseArgs(["--shape", "tinyllama-1.1b"]))).toBe("tinyllama-1.1b");
    expect(resultsName(parseArgs(["--shape", "tinyllama-1.1b", "--weights", "q8_0,bf16"]))).toBe("tinyllama-1.1b-bf16-q8_0");
    expect(resultsName(parseArgs(["--shape", "tinyllama-1.1b", "--quick"]))).toBe("tinyllama-1.1b-quick");
    expect(resultsName(parseArgs(["--prompt-tokens", "2000", "--gen-tokens", "64"]))).toBe("smollm2-135m-p2000-g64");
    expect(resultsName(parseArgs(["--prompt-tokens", "2000", "--gen-tokens", "64", "--weights", "q8_0"]))).toBe("smollm2-135m-p2000-g64-q8_0");
    expect(resultsName(parseArgs(["--quick", "--prompt-tokens", "128"]))).toBe("smollm2-135m-p128-g16-quick");
    expect(resultsName(parseArgs(["--shape", "smollm2-360m", "--gen-tokens", "32"]))).toBe("smollm2-360m-p128-g32");
  });
});
