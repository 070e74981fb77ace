// Tests of bench/lib/report.mjs: medians per cell, ratios in the table, n/a cells with shared footnotes, the
// speed-up, memory (raw and less the baseline RSS), agreement and thread lines, the shape in the title.
import { describe, expect, it } from "vitest";
import { baselineLines, memoryRatios, poolRounds, renderMarkdown, speedupLines, streamingLines, summarize, threadWarnings, toJson } from "../lib/report.mjs";
import { parameterCount, SHAPE_PRESETS, SMOLLM2_135M_SHAPE } from "../lib/shapes.mjs";

const run = (over = {}) => ({
  promptTokens: 4,
  generatedTokens: 3,
  prefillTokensPerSec: 100,
  decodeTokensPerSec: 10,
  timeToFirstTokenMs: 40,
  coresBusyDecode: 1,
  tokens: [5, 6, 7],
  ...over,
});

const engine = (runs, rss = 200e6) => ({ ok: true, runs, peakRssBytes: rss });

const model = (preset = SHAPE_PRESETS["smollm2-135m"]) => ({
  name: preset.name,
  title: preset.title,
  ...preset.spec,
  parameters: parameterCount(preset.spec),
  kvCacheBytes: 5.5e6,
  llamaKvCacheBytes: 2.75e6,
});

function report(rows, threads = [1, 2], baseline = { ours: { ok: true, rssBytes: 50e6 }, llama: { ok: true, rssBytes: 40e6 } }) {
  return {
    command: "node bench/run.mjs --quick",
    machine: { date: "2026-01-02T03:04:05.000Z", node: "v20.0.0", platform: "linux-x64", cpu: "Test CPU", cores: 2, memoryBytes: 2 ** 34, loadAverage: [0.5, 0.4, 0.3] },
    settings: { promptTokens: 4, genTokens: 3, runs: 3, llamaKv: "f16", threads },
    llamaVersion: "3.21.1",
    model: model(),
    baseline,
    rows,
    elapsedSec: 12.3,
  };
}

describe("summarize", () => {
  it("takes medians over runs and keeps the first run's tokens", () => {
    const s = summarize(
      engine([
        run({ decodeTokensPerSec: 30, prefillTokensPerSec: 90, tokens: [1] }),
        run({ decodeTokensPerSec: 10, prefillTokensPerSec: 300 }),
        run({ decodeTokensPerSec: 20, prefillTokensPerSec: 100, generatedTokens: 2 }),
      ]),
    );
    expect(s).toMatchObject({ ok: true, runs: 3, decode: 20, prefill: 100, ttftMs: 40, rssBytes: 200e6, generatedTokens: 2, tokens: [1] });
    expect(s.capiDecode).toBeUndefined();
  });

  it("passes a failure's reason through", () => {
    expect(summarize({ ok: false, reason: "unsupported: no threads" })).toEqual({ ok: false, reason: "unsupported: no threads" });
    expect(summarize(undefined)).toEqual({ ok: false, reason: "no result" });
  });
});

describe("renderMarkdown", () => {
  const llama = (decode, threads) =>
    summarize(engine([run({ decodeTokensPerSec: decode, prefillTokensPerSec: 400, capiDecodeTokensPerSec: decode * 2, capiPrefillTokensPerSec: 500, coresBusyDecode: threads })], 100e6));
  const rows = [
    { label: "BF16", weights: "bf16", threads: 1, ours: summarize(engine([run()])), llama: llama(20, 1), budgetBytes: 160e6, llamaBudgetBytes: 120e6 },
    { label: "BF16", weights: "bf16", threads: 2, ours: summarize(engine([run({ decodeTokensPerSec: 18, coresBusyDecode: 1.05 })])), llama: llama(36, 2), budgetBytes: 160e6, llamaBudgetBytes: 120e6 },
    { label: "Q8_0", weights: "q8_0", threads: 1, ours: { ok: false, reason: "unsupported: no q8_0" }, llama: llama(30, 1), budgetBytes: 90e6, llamaBudgetBytes: 30e6 },
    { label: "Q8_0", weights: "q8_0", threads: 2, ours: { ok: false, reason: "unsupported: no q8_0" }, llama: { ok: false, reason: "boom" }, budgetBytes: 90e6, llamaBudgetBytes: 30e6 },
  ];
  const md = renderMarkdown(report(rows));

  it("names the shape and its parameter count in the title, and describes it under the machine line", () => {
    expect(md.startsWith("## `cpu` backend vs llama.cpp, SmolLM2-135M shape, 134.5M parameters (random weights)\n")).toBe(true);
    expect(md).toContain(
      "Shape `smollm2-135m`: llama, hidden 576, FFN 1536, 30 layers, 9 heads, 3 KV heads, head dim 64, vocab 49152, tied, " +
        "rope theta 100000; 134,515,008 parameters, weights drawn with seed 135. KV cache for 7 positions: ours F32 5.50 MB, llama.cpp F16 2.75 MB.",
    );
    const tiny = report([]);
    tiny.model = model(SHAPE_PRESETS["tinyllama-1.1b"]);
    expect(renderMarkdown(tiny)).toContain("## `cpu` backend vs llama.cpp, TinyLlama-1.1B shape, 1.10B parameters (random weights)");
  });

  it("prints the header line with the date, Node, CPU and cores", () => {
    expect(md).toContain("2026-01-02 · Node v20.0.0 · linux-x64 · CPU: Test CPU · 2 cores · 16 GiB · load average at start 0.5 / 0.4 / 0.3");
    expect(md).toContain("`node bench/run.mjs --quick` took 12 s");
    const withEnd = report([]);
    withEnd.machine = { ...withEnd.machine, loadAverageEnd: [1.5, 1, 0.75] };
    expect(renderMarkdown(withEnd)).toContain("load average at start 0.5 / 0.4 / 0.3, at end 1.5 / 1 / 0.75 · `node");
  });

  it("prints each row with ratios ours / llama.cpp", () => {
    expect(md).toContain("| BF16 | 1 | 100 | 400 | 0.25x | 10.0 | 20.0 | 0.50x | 40.0 | 40.0 | 200 | 100 | 2.00x |");
    expect(md).toContain("| BF16 | 2 | 100 | 400 | 0.25x | 18.0 | 36.0 | 0.50x |");
  });

  it("compares with llama.cpp's C API counters in a second table", () => {
    expect(md).toContain("| BF16 | 1 | 500 | 0.20x | 40.0 | 0.25x |");
  });

  it("marks cells it could not measure with one footnote per distinct reason", () => {
    expect(md).toContain("| Q8_0 | 1 | n/a [1] | 400 |");
    expect(md).toContain("| Q8_0 | 2 | n/a [1] | n/a [2] | - |");
    expect(md).toContain("- [1] ours Q8_0 1t, ours Q8_0 2t: unsupported: no q8_0");
    expect(md).toContain("- [2] llama.cpp Q8_0 2t: boom");
  });

  it("prints the thread speed-up, memory, agreement and cores lines", () => {
    expect(md).toContain("2-thread / 1-thread decode speed-up, ours: BF16 1.80x, Q8_0 -");
    expect(md).toContain("2-thread / 1-thread decode speed-up, llama.cpp: BF16 1.80x, Q8_0 -");
    expect(md).toContain("Ours' peak RSS / (weights in memory + F32 KV cache): BF16 1t 1.25x, BF16 2t 1.25x");
    expect(md).toContain("Greedy tokens identical to llama.cpp's from the start (run 1): BF16 1t 3/3, BF16 2t 3/3");
    expect(md).toContain("Cores busy during decode, ours / llama.cpp: BF16 1t 1.00 / 1.00, BF16 2t 1.05 / 2.00");
    expect(md).toContain("Warning: ours BF16 at 2 threads kept 1.05 cores busy while decoding");
  });

  it("keeps the raw RSS line and adds the baseline RSS and each engine's RSS less the baseline", () => {
    expect(md).toContain(
      "Ours' peak RSS / (weights in memory + F32 KV cache): BF16 1t 1.25x, BF16 2t 1.25x (weights: the safetensors or GGUF bytes of the type the engine computes with).",
    );
    expect(md).toContain(
      "Baseline RSS of a Node process that has only imported the engine (ours: the package and `new CpuBackend()`; " +
        "llama.cpp: node-llama-cpp and `getLlama`, no model): ours 50 MB, llama.cpp 40 MB.",
    );
    // (200 - 50) / 160 and (100 - 40) / 120, (100 - 40) / 30
    expect(md).toContain("Ours' (peak RSS − baseline) / (weights in memory + F32 KV cache): BF16 1t 0.94x, BF16 2t 0.94x.");
    expect(md).toContain("llama.cpp's (peak RSS − baseline) / (GGUF weights + F16 KV cache): BF16 1t 0.50x, BF16 2t 0.50x, Q8_0 1t 2.00x.");
    const raw = md.indexOf("Ours' peak RSS");
    expect(raw).toBeLessThan(md.indexOf("Baseline RSS"));
  });

  it("says when ours stopped at EOS before the requested tokens", () => {
    const short = [{ label: "F32", weights: "f32", threads: 1, ours: summarize(engine([run({ generatedTokens: 2, tokens: [5, 6] })])), llama: llama(20, 1), budgetBytes: 1 }];
    expect(renderMarkdown(report(short, [1]))).toContain("F32 1t 2/3 (ours stopped at EOS after 2)");
  });
});

describe("baselineLines and memoryRatios", () => {
  const ok = (rss) => ({ ok: true, rssBytes: rss });
  const row = (label, ours, llama) => ({ label, threads: 1, ours, llama, budgetBytes: 100e6, llamaBudgetBytes: 80e6 });

  it("leaves llama.cpp's GGUF rows out (it ran once per weight type) and says n/a for a failed baseline", () => {
    const rows = [row("Q8_0", ok(150e6), ok(120e6)), row("Q8_0 (GGUF)", ok(140e6), ok(120e6))];
    const lines = baselineLines({ ours: ok(55e6), llama: { ok: false, reason: "could not load node-llama-cpp" } }, rows, "f32");
    expect(lines[0]).toContain("ours 55 MB, llama.cpp n/a (could not load node-llama-cpp).");
    expect(lines[1]).toBe("Ours' (peak RSS − baseline) / (weights in memory + F32 KV cache): Q8_0 1t 0.95x, Q8_0 (GGUF) 1t 0.85x.");
    expect(lines[2]).toBe("llama.cpp's (peak RSS − baseline) / (GGUF weights + F32 KV cache): Q8_0 1t -.");
  });

  it("prints - when no row ran, and handles a report without a baseline", () => {
    const lines = baselineLines(undefined, [row("F32", { ok: false, reason: "load failed: out_of_memory" }, { ok: false, reason: "x" })], "f16");
    expect(lines).toEqual([
      expect.stringContaining("ours n/a (not measured), llama.cpp n/a (not measured)."),
      "Ours' (peak RSS − baseline) / (weights in memory + F32 KV cache): -.",
      "llama.cpp's (peak RSS − baseline) / (GGUF weights + F16 KV cache): -.",
    ]);
  });

  it("computes the raw and net ratios of a row", () => {
    expect(memoryRatios(row("F32", ok(150e6), ok(120e6)), { ours: ok(50e6), llama: ok(40e6) })).toEqual({ ours: 1.5, oursNet: 1, llamaNet: 1 });
    expect(memoryRatios(row("F32", { ok: false, reason: "x" }, ok(120e6)), { ours: ok(50e6), llama: { ok: false, reason: "y" } })).toEqual({
      ours: undefined,
      oursNet: undefined,
      llamaNet: undefined,
    });
  });
});

describe("a load failure", () => {
  it("shows n/a with its reason, as a rejected option does", () => {
    const failed = { ok: false, reason: "load failed: out_of_memory: the model needs 4.4 GB, above the 4 GiB WebAssembly limit" };
    const rows = [{ label: "F32", weights: "f32", threads: 1, ours: summarize(failed), llama: summarize(engine([run()])), budgetBytes: 4.4e9, llamaBudgetBytes: 4.4e9 }];
    const md = renderMarkdown(report(rows, [1]));
    expect(md).toContain("| F32 | 1 | n/a [1] | 100 | - |");
    expect(md).toContain("- [1] ours F32 1t: load failed: out_of_memory: the model needs 4.4 GB, above the 4 GiB WebAssembly limit");
  });
});

describe("speedupLines and threadWarnings", () => {
  it("needs two thread counts", () => {
    expect(speedupLines([], [2])).toEqual(["Thread speed-up: not measured (one thread count, 2)."]);
  });

  it("warns only for multi-thread rows that kept about one core busy", () => {
    const busy = { ok: true, coresDecode: 1.9 };
    const idle = { ok: true, coresDecode: 1.0 };
    expect(threadWarnings([{ label: "F32", threads: 2, ours: busy }, { label: "F32", threads: 1, ours: idle }])).toEqual([]);
    expect(threadWarnings([{ label: "F32", threads: 2, ours: idle }])).toHaveLength(1);
  });
});

describe("streamingLines", () => {
  const s = (one, two) => ({ ok: true, megabytes: 270, runs: 7, oneThreadGBs: one, twoThreadsGBs: two });
  const row = (label, threads, decode) => ({ label, threads, weightsBytes: 100e6, ours: { ok: true, decode } });

  it("gives the roof at the start and end, its 2t/1t ratio, and each row's decode streaming against its mean", () => {
    const [roof, rows] = streamingLines({ start: s(20, 30), end: s(22, 33) }, [row("BF16", 1, 180), row("BF16", 2, 252), { label: "F32", threads: 1, weightsBytes: 1, ours: { ok: false, reason: "x" } }]);
    expect(roof).toContain("at the start / end of this run: 1 thread 20.0 / 22.0 GB/s, 2 threads 30.0 / 33.0 GB/s; 2 threads stream 1.50x / 1.50x what 1 thread does.");
    expect(roof).toContain("128-bit loads over 270 MB, medians of 7");
    // 100 MB × 180 tok/s = 18 GB/s against a mean of 21; 100 MB × 252 = 25.2 against 31.5.
    expect(rows).toBe(
      "Ours' decode streamed (weights × decode tok/s, KV cache not counted; the fraction is of the mean streaming of that thread count, above 1 where the machine gave more during the row than during the measurements): BF16 1t 18.0 GB/s (0.86 of it), BF16 2t 25.2 GB/s (0.80 of it).",
    );
  });

  it("uses what was measured, says when nothing was, and is silent for reports without streaming", () => {
    const [roof] = streamingLines({ start: { ok: false, reason: "no compiler" }, end: s(20, 30) }, [row("BF16", 1, 200)]);
    expect(roof).toContain("1 thread - / 20.0 GB/s");
    expect(streamingLines({ start: { ok: false, reason: "no compiler" }, end: { ok: false, reason: "no compiler" } }, [])).toEqual([
      "Memory streaming: not measured (no compiler).",
    ]);
    expect(streamingLines(undefined, [])).toEqual([]);
  });
});

describe("toJson", () => {
  it("leaves token ids out", () => {
    const json = toJson(report([{ label: "F32", weights: "f32", threads: 1, ours: summarize(engine([run()])), llama: { ok: false, reason: "x" }, budgetBytes: 1 }]));
    expect(json.rows[0].ours.tokens).toBeUndefined();
    expect(json.rows[0].ours.decode).toBe(10);
    expect(json.rows[0].llama).toEqual({ ok: false, reason: "x" });
  });

  it("keeps the model, the baseline RSS and each row's RSS ratios", () => {
    const rows = [{ label: "F32", weights: "f32", threads: 1, ours: summarize(engine([run()])), llama: summarize(engine([run()], 100e6)), budgetBytes: 100e6, llamaBudgetBytes: 50e6 }];
    const json = toJson(report(rows));
    expect(json.model).toMatchObject({ name: "smollm2-135m", hiddenSize: SMOLLM2_135M_SHAPE.hiddenSize, parameters: 134515008 });
    expect(json.baseline).toEqual({ ours: { ok: true, rssBytes: 50e6 }, llama: { ok: true, rssBytes: 40e6 } });
    expect(json.rows[0].rssRatios).toEqual({ ours: 2, oursNet: 1.5, llamaNet: 1.2 });
  });
});

describe("poolRounds", () => {
  const run = (decode) => ({ decodeTokensPerSec: decode, prefillTokensPerSec: 1, timeToFirstTokenMs: 1, generatedTokens: 4, tokens: [1, 2] });
  it("pools every round's runs in order and keeps the largest peak RSS", () => {
    const pooled = poolRounds([
      { ok: true, runs: [run(10), run(11)], peakRssBytes: 5 },
      { ok: true, runs: [run(30)], peakRssBytes: 9 },
    ]);
    expect(pooled.runs.map((r) => r.decodeTokensPerSec)).toEqual([10, 11, 30]);
    expect(pooled.peakRssBytes).toBe(9);
    expect(summarize(pooled).decode).toBe(11);
  });
  it("reports the first failed round instead", () => {
    const failed = { ok: false, reason: "load failed: out_of_memory" };
    expect(poolRounds([{ ok: true, runs: [run(1)], peakRssBytes: 1 }, failed, { ok: false, reason: "later" }])).toBe(failed);
  });
});
