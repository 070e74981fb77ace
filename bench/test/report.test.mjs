// Tests of bench/lib/report.mjs: medians per cell, ratios in the table, n/a cells with shared footnotes, the
// speed-up, memory, agreement and thread lines.
import { describe, expect, it } from "vitest";
import { renderMarkdown, speedupLines, summarize, threadWarnings, toJson } from "../lib/report.mjs";

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

function report(rows, threads = [1, 2]) {
  return {
    command: "node bench/run.mjs --quick",
    machine: { date: "2026-01-02T03:04:05.000Z", node: "v20.0.0", platform: "linux-x64", cpu: "Test CPU", cores: 2, memoryBytes: 2 ** 34, loadAverage: [0.5, 0.4, 0.3] },
    settings: { promptTokens: 4, genTokens: 3, runs: 3, llamaKv: "f16", threads },
    llamaVersion: "3.21.1",
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
    { label: "BF16", weights: "bf16", threads: 1, ours: summarize(engine([run()])), llama: llama(20, 1), budgetBytes: 160e6 },
    { label: "BF16", weights: "bf16", threads: 2, ours: summarize(engine([run({ decodeTokensPerSec: 18, coresBusyDecode: 1.05 })])), llama: llama(36, 2), budgetBytes: 160e6 },
    { label: "Q8_0", weights: "q8_0", threads: 1, ours: { ok: false, reason: "unsupported: no q8_0" }, llama: llama(30, 1), budgetBytes: 90e6 },
    { label: "Q8_0", weights: "q8_0", threads: 2, ours: { ok: false, reason: "unsupported: no q8_0" }, llama: { ok: false, reason: "boom" }, budgetBytes: 90e6 },
  ];
  const md = renderMarkdown(report(rows));

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

  it("says when ours stopped at EOS before the requested tokens", () => {
    const short = [{ label: "F32", weights: "f32", threads: 1, ours: summarize(engine([run({ generatedTokens: 2, tokens: [5, 6] })])), llama: llama(20, 1), budgetBytes: 1 }];
    expect(renderMarkdown(report(short, [1]))).toContain("F32 1t 2/3 (ours stopped at EOS after 2)");
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

describe("toJson", () => {
  it("leaves token ids out", () => {
    const json = toJson(report([{ label: "F32", weights: "f32", threads: 1, ours: summarize(engine([run()])), llama: { ok: false, reason: "x" }, budgetBytes: 1 }]));
    expect(json.rows[0].ours.tokens).toBeUndefined();
    expect(json.rows[0].ours.decode).toBe(10);
    expect(json.rows[0].llama).toEqual({ ok: false, reason: "x" });
  });
});
