// Turns the engines' per-run results into the benchmark report: medians per cell, ratios ours / llama.cpp, and the
// markdown tables printed and saved by run.mjs. Pure functions of their inputs: no I/O, no timing.
import { footnotes, machineLine, mb, ms, rate, times } from "./format.mjs";
import { describeShape, formatParameters } from "./shapes.mjs";
import { commonPrefix, median, ratio } from "./stats.mjs";

/**
 * The medians of one engine's runs in one configuration, or `{ ok: false, reason }` as the engine reported it.
 * `tokens` are the ids of the first run (for the agreement check).
 */
/**
 * One result from the rounds of one engine and configuration: every round's runs in order and the largest peak RSS;
 * the first failed round's result when any failed (a row is only reported when every round ran).
 */
export function poolRounds(results) {
  const failed = results.find((r) => !r.ok);
  if (failed !== undefined) return failed;
  return { ...results[0], runs: results.flatMap((r) => r.runs), peakRssBytes: Math.max(...results.map((r) => r.peakRssBytes)) };
}

/** How the medians were taken: runs per process, and processes per engine (rounds) when more than one. */
function mediansOf(settings) {
  const runs = `${settings.runs} run${settings.runs === 1 ? "" : "s"}`;
  const rounds = settings.rounds ?? 1;
  if (rounds === 1) return `Medians of ${runs} after one warm-up, each engine in its own process per row.`;
  return (
    `Medians of ${rounds * settings.runs} runs: ${rounds} rounds in which the engines take turns, each round a fresh ` +
    `process per engine running one warm-up and ${runs}.`
  );
}

export function summarize(result) {
  if (!result || !result.ok) return { ok: false, reason: result?.reason ?? "no result" };
  const runs = result.runs;
  const pick = (key) => median(runs.map((r) => r[key]));
  return {
    ok: true,
    runs: runs.length,
    prefill: pick("prefillTokensPerSec"),
    decode: pick("decodeTokensPerSec"),
    ttftMs: pick("timeToFirstTokenMs"),
    capiPrefill: pick("capiPrefillTokensPerSec"),
    capiDecode: pick("capiDecodeTokensPerSec"),
    coresDecode: pick("coresBusyDecode"),
    rssBytes: result.peakRssBytes,
    generatedTokens: Math.min(...runs.map((r) => r.generatedTokens)),
    tokens: runs[0]?.tokens ?? [],
  };
}


/**
 * The markdown report. `report` holds `machine`, `settings`, `llamaVersion`, `model` (the shape's `name`, `title`,
 * spec fields, `parameters`, `kvCacheBytes` and `llamaKvCacheBytes`), `baseline` (`ours` and `llama`, each
 * `{ ok, rssBytes }` or `{ ok: false, reason }`), `rows` (each with `label`, `weights`, `threads`, `ours`, `llama`
 * summaries and the `budgetBytes` / `llamaBudgetBytes` each engine's RSS is measured against) and `elapsedSec`.
 */
export function renderMarkdown(report) {
  const { settings, rows } = report;
  const notes = footnotes();
  const cell = (summary, value, engine, row) =>
    notes.cell(summary, value, `${engine} ${row.label} ${row.threads}t`);
  const both = (row, f) => (row.ours.ok && row.llama.ok ? f(row.ours, row.llama) : undefined);

  const lines = [];
  const { model } = report;
  lines.push(`## \`cpu\` backend vs llama.cpp, ${model.title}, ${formatParameters(model.parameters)} parameters (random weights)`);
  lines.push("");
  lines.push(machineLine(report));
  lines.push("");
  lines.push(
    `Shape \`${model.name}\`: ${model.architecture}, ${describeShape(model)}; ${model.parameters.toLocaleString("en-US")} ` +
      `parameters, weights drawn with seed ${model.seed}. KV cache for ${settings.promptTokens + settings.genTokens} ` +
      `positions: ours F32 ${kvMb(model.kvCacheBytes)} MB, llama.cpp ${settings.llamaKv.toUpperCase()} ${kvMb(model.llamaKvCacheBytes)} MB.`,
  );
  lines.push("");
  lines.push(
    `Prompt ${settings.promptTokens} tokens, then ${settings.genTokens} generated, greedy. ${mediansOf(settings)} ` +
      `llama.cpp: node-llama-cpp ${report.llamaVersion} (prebuilt CPU binaries) on the GGUF our converter writes ` +
      `from the same weights, batch size >= the prompt, KV cache ${settings.llamaKv.toUpperCase()}, flash attention auto. ` +
      `Ours: the checkpoint directory (Q8_0, Q4_0: the BF16 checkpoint quantised at load, and the GGUF read directly).`,
  );
  lines.push("");
  lines.push(
    "| weights | threads | ours prefill tok/s | llama.cpp prefill tok/s | ratio | ours decode tok/s | llama.cpp decode tok/s | ratio | TTFT ours ms | TTFT llama.cpp ms | peak RSS ours MB | peak RSS llama.cpp MB | RSS ratio |",
  );
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    const o = (f) => cell(row.ours, f, "ours", row);
    const l = (f) => cell(row.llama, f, "llama.cpp", row);
    lines.push(
      `| ${row.label} | ${row.threads} | ${o((s) => rate(s.prefill))} | ${l((s) => rate(s.prefill))} | ` +
        `${times(both(row, (a, b) => ratio(a.prefill, b.prefill)))} | ${o((s) => rate(s.decode))} | ` +
        `${l((s) => rate(s.decode))} | ${times(both(row, (a, b) => ratio(a.decode, b.decode)))} | ` +
        `${o((s) => ms(s.ttftMs))} | ${l((s) => ms(s.ttftMs))} | ${o((s) => mb(s.rssBytes))} | ` +
        `${l((s) => mb(s.rssBytes))} | ${times(both(row, (a, b) => ratio(a.rssBytes, b.rssBytes)))} |`,
    );
  }
  lines.push("");
  lines.push("llama.cpp's own counters (`llama_perf_context`: the C API figure, without node-llama-cpp's JS loop):");
  lines.push("");
  lines.push("| weights | threads | C API prefill tok/s | ours / C API prefill | C API decode tok/s | ours / C API decode |");
  lines.push("|---|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    const l = (f) => cell(row.llama, f, "llama.cpp", row);
    lines.push(
      `| ${row.label} | ${row.threads} | ${l((s) => rate(s.capiPrefill))} | ` +
        `${times(both(row, (a, b) => ratio(a.prefill, b.capiPrefill)))} | ${l((s) => rate(s.capiDecode))} | ` +
        `${times(both(row, (a, b) => ratio(a.decode, b.capiDecode)))} |`,
    );
  }
  const paragraphs = [
    ...speedupLines(rows, settings.threads),
    ...streamingLines(report.streaming, rows),
    memoryLine(rows),
    ...baselineLines(report.baseline, rows, settings.llamaKv),
    agreementLine(rows),
    coresLine(rows),
  ];
  for (const paragraph of paragraphs) {
    lines.push("", paragraph);
  }
  const idle = threadWarnings(rows);
  if (idle.length > 0) lines.push("", ...idle);
  lines.push(...notes.lines());
  return lines.join("\n") + "\n";
}

/** A KV cache's size in MB: whole MB from 10 MB, else two decimals (a small shape's cache is well under 1 MB). */
const kvMb = (bytes) => (bytes >= 10e6 ? mb(bytes) : (bytes / 1e6).toFixed(2));

/** "2-thread / 1-thread decode speed-up" per engine and weights, when both thread counts ran. */
export function speedupLines(rows, threads) {
  if (threads.length < 2) return [`Thread speed-up: not measured (one thread count, ${threads[0]}).`];
  const lo = Math.min(...threads);
  const hi = Math.max(...threads);
  const labels = [...new Set(rows.map((r) => r.label))];
  const out = [];
  for (const engine of ["ours", "llama"]) {
    const parts = labels.map((label) => {
      if (engine === "llama" && label.includes("(GGUF)")) return undefined;
      const at = (t) => rows.find((r) => r.label === label && r.threads === t)?.[engine];
      const a = at(hi);
      const b = at(lo);
      const v = a?.ok && b?.ok ? ratio(a.decode, b.decode) : undefined;
      return `${label} ${times(v)}`;
    });
    out.push(
      `${hi}-thread / ${lo}-thread decode speed-up, ${engine === "ours" ? "ours" : "llama.cpp"}: ` +
        parts.filter((p) => p !== undefined).join(", "),
    );
  }
  return out;
}

/**
 * The machine's memory streaming (lib/streaming.mjs) at the start and end of the run, a gauge of what memory gives
 * decode and of what a second thread can add to it, and what ours' decode streamed: the row's weight bytes × decode
 * tok/s (each token reads every weight once; the KV cache is not counted), as a fraction of the streaming of the same
 * thread count. None when the run measured no streaming (a report of an older run).
 */
export function streamingLines(streaming, rows) {
  if (streaming === undefined) return [];
  const { start, end } = streaming;
  const ok = [start, end].filter((s) => s?.ok);
  if (ok.length === 0) return [`Memory streaming: not measured (${start?.reason ?? end?.reason ?? "no figures"}).`];
  const both = (f) => [start, end].map((s) => (s?.ok ? f(s) : "-")).join(" / ");
  const gb = (v) => v.toFixed(1);
  const mean = (f) => ok.reduce((sum, s) => sum + f(s), 0) / ok.length;
  const roof = { 1: mean((s) => s.oneThreadGBs), 2: mean((s) => s.twoThreadsGBs) };
  const parts = rows
    .filter((r) => r.ours.ok && r.weightsBytes > 0 && roof[r.threads] !== undefined)
    .map((r) => {
      const gbs = (r.weightsBytes * r.ours.decode) / 1e9;
      return `${r.label} ${r.threads}t ${gb(gbs)} GB/s (${(gbs / roof[r.threads]).toFixed(2)} of it)`;
    });
  return [
    `Memory streaming from WebAssembly (128-bit loads over ${ok[0].megabytes.toFixed(0)} MB, medians of ${ok[0].runs}), ` +
      `at the start / end of this run: 1 thread ${both((s) => gb(s.oneThreadGBs))} GB/s, 2 threads ` +
      `${both((s) => gb(s.twoThreadsGBs))} GB/s; 2 threads stream ${both((s) => times(s.twoThreadsGBs / s.oneThreadGBs))} ` +
      "what 1 thread does. Decode reads every weight once per token, so this gauges what memory gives it, and what a " +
      "second thread can add where decode is memory-bound; on a shared VM it moves with the neighbours, between the " +
      "two measurements and during the rows.",
    `Ours' decode streamed (weights × decode tok/s, KV cache not counted; the fraction is of the mean streaming of ` +
      `that thread count, above 1 where the machine gave more during the row than during the measurements): ` +
      `${parts.length ? parts.join(", ") : "-"}.`,
  ];
}

/** Ours' peak RSS against the weights' bytes plus an F32 KV cache (the target is <= 1.3x). */
function memoryLine(rows) {
  const parts = rows
    .filter((r) => r.ours.ok && r.budgetBytes > 0)
    .map((r) => `${r.label} ${r.threads}t ${times(ratio(r.ours.rssBytes, r.budgetBytes))}`);
  return (
    "Ours' peak RSS / (weights in memory + F32 KV cache): " + (parts.length ? parts.join(", ") : "-") +
    " (weights: the safetensors or GGUF bytes of the type the engine computes with)."
  );
}

/**
 * Each engine's peak RSS less the baseline RSS of a Node process that has only imported it, against the row's
 * budget (weights + KV cache): `ours` is the raw ratio of memoryLine, `oursNet` and `llamaNet` the engines' own
 * overhead. Each is undefined where it was not measured (the engine failed, or its baseline did).
 */
export function memoryRatios(row, baseline) {
  const net = (summary, base, budget) =>
    summary.ok && base?.ok && budget > 0 ? ratio(summary.rssBytes - base.rssBytes, budget) : undefined;
  return {
    ours: row.ours.ok && row.budgetBytes > 0 ? ratio(row.ours.rssBytes, row.budgetBytes) : undefined,
    oursNet: net(row.ours, baseline?.ours, row.budgetBytes),
    llamaNet: net(row.llama, baseline?.llama, row.llamaBudgetBytes),
  };
}

/**
 * The baseline RSS of each engine (a process that has only imported it) and each engine's (peak RSS - baseline)
 * against weights + its own KV cache. llama.cpp runs once per weight type, so its "(GGUF)" rows are left out.
 */
export function baselineLines(baseline, rows, llamaKv) {
  const base = (b) => (b?.ok ? `${mb(b.rssBytes)} MB` : `n/a (${b?.reason ?? "not measured"})`);
  const out = [
    `Baseline RSS of a Node process that has only imported the engine (ours: the package and \`new CpuBackend()\`; ` +
      `llama.cpp: node-llama-cpp and \`getLlama\`, no model): ours ${base(baseline?.ours)}, llama.cpp ${base(baseline?.llama)}.`,
  ];
  const parts = (engine, key) =>
    rows
      .filter((r) => r[engine].ok && !(engine === "llama" && r.label.includes("(GGUF)")))
      .map((r) => `${r.label} ${r.threads}t ${times(memoryRatios(r, baseline)[key])}`);
  const list = (p) => (p.length ? p.join(", ") : "-");
  out.push(`Ours' (peak RSS − baseline) / (weights in memory + F32 KV cache): ${list(parts("ours", "oursNet"))}.`);
  out.push(
    `llama.cpp's (peak RSS − baseline) / (GGUF weights + ${llamaKv.toUpperCase()} KV cache): ${list(parts("llama", "llamaNet"))}.`,
  );
  return out;
}

/** How many greedy tokens ours and llama.cpp agree on (first run), a sanity check that both ran the same model. */
function agreementLine(rows) {
  const parts = rows
    .filter((r) => r.ours.ok && r.llama.ok)
    .map((r) => {
      const short = r.ours.generatedTokens < r.llama.generatedTokens ? ` (ours stopped at EOS after ${r.ours.generatedTokens})` : "";
      return `${r.label} ${r.threads}t ${commonPrefix(r.ours.tokens, r.llama.tokens)}/${r.llama.tokens.length}${short}`;
    });
  return "Greedy tokens identical to llama.cpp's from the start (run 1): " + (parts.length ? parts.join(", ") : "-");
}

/** CPU time / wall time during decode: how many cores each engine kept busy (llama.cpp's threads spin while waiting). */
function coresLine(rows) {
  const parts = rows.map((r) => {
    const f = (s) => (s.ok && s.coresDecode !== undefined ? s.coresDecode.toFixed(2) : "-");
    return `${r.label} ${r.threads}t ${f(r.ours)} / ${f(r.llama)}`;
  });
  return "Cores busy during decode, ours / llama.cpp: " + parts.join(", ");
}

/**
 * Rows where ours ran with several threads but kept little more than one core busy while decoding: the thread
 * count was accepted but, by this measure, not applied.
 */
export function threadWarnings(rows) {
  return rows
    .filter((r) => r.threads >= 2 && r.ours.ok && r.ours.coresDecode !== undefined && r.ours.coresDecode < 1.3)
    .map(
      (r) =>
        `Warning: ours ${r.label} at ${r.threads} threads kept ${r.ours.coresDecode.toFixed(2)} cores busy while ` +
        "decoding: the thread count looks unused (or the machine was busy).",
    );
}

/**
 * The JSON saved beside the markdown: settings, machine, model, baseline RSS, and every cell's summary (token ids
 * left out) with the row's `rssRatios` (memoryRatios: raw and less the baseline).
 */
export function toJson(report) {
  const strip = (s) => (s.ok ? { ...s, tokens: undefined } : s);
  return {
    ...report,
    rows: report.rows.map((r) => ({ ...r, ours: strip(r.ours), llama: strip(r.llama), rssRatios: memoryRatios(r, report.baseline) })),
  };
}
