// Turns the training engines' per-step results into the training benchmark's report: medians per cell, ratios
// ours / PyTorch, the first-step loss agreement, and the markdown printed and saved by training.mjs. Pure functions
// of their inputs: no I/O, no timing. Not the inference benchmark's report (report.mjs).
import { footnotes, machineLine, mb, ms, rate, times } from "./format.mjs";
import { median, ratio } from "./stats.mjs";

/** The largest relative difference of the first-step losses that counts as "the same computation". */
export const LOSS_TOLERANCE = 1e-4;

/**
 * The medians of one engine's timed steps in one configuration (`tokensPerStep` = B·T), or `{ ok: false, reason }`
 * as the engine reported it.
 *
 * @example summarizeTraining({ ok: true, steps: [{ ms: 500, loss: 7.6 }], firstLoss: 7.7, peakRssBytes: 1e8 }, 2048).tokensPerSec // 4096
 */
export function summarizeTraining(result, tokensPerStep) {
  if (!result || !result.ok) return { ok: false, reason: result?.reason ?? "no result" };
  const steps = Array.isArray(result.steps) ? result.steps : [];
  if (steps.length === 0) return { ok: false, reason: "the engine reported no timed steps" };
  const pick = (key) => median(steps.map((s) => s[key]));
  return {
    ok: true,
    steps: steps.length,
    tokensPerSec: median(steps.map((s) => (s.ms > 0 ? (tokensPerStep * 1000) / s.ms : undefined))),
    stepMs: pick("ms"),
    forwardMs: pick("forwardMs"),
    backwardMs: pick("backwardMs"),
    optimizerMs: pick("optimizerMs"),
    firstLoss: result.firstLoss,
    lastLoss: steps[steps.length - 1].loss,
    trainableParams: result.trainableParams,
    coresBusy: result.coresBusy ?? undefined,
    rssBytes: result.peakRssBytes,
    kernels: result.kernels,
  };
}

/**
 * What the BLAS libraries PyTorch ran on are, from their real paths: `{ label, reference }`, where `reference` is
 * true for the unoptimised reference BLAS (Debian's libblas3, the default when no optimised BLAS is installed).
 *
 * @example describeBlas(["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"]) // { label: "OpenBLAS", reference: false }
 */
export function describeBlas(paths) {
  if (!Array.isArray(paths) || paths.length === 0) return { label: "unknown (no BLAS library found in the process)", reference: false };
  const kinds = paths.map((p) => {
    const lower = p.toLowerCase();
    if (lower.includes("openblas")) return "OpenBLAS";
    if (lower.includes("blis")) return "BLIS";
    if (lower.includes("mkl")) return "MKL";
    if (lower.includes("atlas")) return "ATLAS";
    if (/\/blas\/libblas\.so/.test(lower)) return "reference BLAS";
    return p.slice(p.lastIndexOf("/") + 1);
  });
  const unique = [...new Set(kinds)];
  return { label: `${unique.join(" + ")} (${paths.join(", ")})`, reference: unique.includes("reference BLAS") && unique.length === 1 };
}

/** |a − b| / |b| for finite numbers (b ≠ 0); undefined otherwise. */
export function relativeDifference(a, b) {
  if (typeof a !== "number" || typeof b !== "number" || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return undefined;
  return Math.abs(a - b) / Math.abs(b);
}

const loss = (v) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(6) : "-");
const sci = (v) => (v === undefined ? "-" : v === 0 ? "0" : v.toExponential(1));
const count = (v) => (typeof v === "number" ? (v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : String(v)) : "-");

/**
 * The markdown report. `report` holds `command`, `machine`, `settings`, `models` (name → spec line), `lora`,
 * `optimizer`, `torchVersion`, `rows` (each with `model`, `mode`, `threads`, and `ours` and `torch` summaries) and
 * `elapsedSec`.
 */
export function renderTrainingMarkdown(report) {
  const { settings, rows } = report;
  const notes = footnotes();
  const cell = (summary, value, engine, row) =>
    notes.cell(summary, value, `${engine} ${row.model} ${row.mode} ${row.threads}t`);
  const both = (row, f) => (row.ours.ok && row.torch.ok ? f(row.ours, row.torch) : undefined);
  const tokens = settings.batch * settings.seqLen;

  const lines = [];
  lines.push("## Training: `cpu` backend vs PyTorch, one training step");
  lines.push("");
  lines.push(machineLine(report));
  lines.push("");
  const modelLines = Object.entries(report.models).map(([name, shape]) => `${name}: ${shape}`);
  lines.push(
    `Models (deterministic random weights): ${modelLines.join("; ")}. Batch B = ${settings.batch} sequences of ` +
      `T = ${settings.seqLen} tokens (${tokens} tokens a step; tokens/s = B·T / step time), every next-token target ` +
      `counted. A step is forward + loss + backward + clip to gradient norm ${report.optimizer.maxGradNorm} + AdamW ` +
      `(lr ${report.optimizer.lr}, betas ${report.optimizer.betas.join("/")}, weight decay ${report.optimizer.weightDecay}) ` +
      `+ zero grad. Full: every tensor trains; LoRA: rank ${report.lora.rank}, alpha ${report.lora.alpha}, on ` +
      `${report.lora.targetKeys.join(" and ")}, base frozen, both sides starting from the same A and B. Medians of ` +
      `${settings.steps} timed step${settings.steps === 1 ? "" : "s"} after ${settings.warmup} warm-up ` +
      `step${settings.warmup === 1 ? "" : "s"}, each engine in its own process per row. Ours: TrainableTransformer ` +
      `(${kernelsOf(rows)} kernels), AdamW and clipGradNorm of packages/cpu. PyTorch ${report.torchVersion ?? "(not run)"}: ` +
      `float32, the Hugging Face-faithful model of scripts/reference/torch_reference.py (eager attention), ` +
      `torch.optim.AdamW, torch.set_num_threads = the row's threads; its BLAS: ${report.torchBlas ? describeBlas(report.torchBlas).label : "-"}` +
      (settings.torchPreload ? `, with LD_PRELOAD=${settings.torchPreload}.` : "."),
  );
  if (report.torchBlas && describeBlas(report.torchBlas).reference && !settings.torchPreload) {
    lines.push("");
    lines.push(
      "Warning: PyTorch ran its matrix products on the reference BLAS (netlib, unoptimised: Debian's libblas3, what " +
        "python3-torch gets when no optimised BLAS is installed), several times slower than OpenBLAS or MKL, so these " +
        "ratios flatter ours. For a fair comparison install an optimised BLAS for it (Debian: `apt-get install " +
        "libopenblas0-pthread`, which update-alternatives selects for libblas.so.3) and run again.",
    );
  }
  lines.push("");
  lines.push(
    "| model | mode | threads | trainable params | ours tok/s | PyTorch tok/s | ratio | peak RSS ours MB | peak RSS PyTorch MB | RSS ratio |",
  );
  lines.push("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    const o = (f) => cell(row.ours, f, "ours", row);
    const t = (f) => cell(row.torch, f, "PyTorch", row);
    const params = row.ours.ok ? row.ours.trainableParams : row.torch.ok ? row.torch.trainableParams : undefined;
    lines.push(
      `| ${row.model} | ${row.mode} | ${row.threads} | ${count(params)} | ${o((s) => rate(s.tokensPerSec))} | ` +
        `${t((s) => rate(s.tokensPerSec))} | ${times(both(row, (a, b) => ratio(a.tokensPerSec, b.tokensPerSec)))} | ` +
        `${o((s) => mb(s.rssBytes))} | ${t((s) => mb(s.rssBytes))} | ${times(both(row, (a, b) => ratio(a.rssBytes, b.rssBytes)))} |`,
    );
  }
  lines.push("");
  lines.push("Median time of each part of a step, in ms, and the loss of the first (warm-up) step, before any update:");
  lines.push("");
  lines.push(
    "| model | mode | threads | ours forward / backward / optimizer | PyTorch forward / backward / optimizer | first loss ours | first loss PyTorch | relative difference |",
  );
  lines.push("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    const o = (f) => cell(row.ours, f, "ours", row);
    const t = (f) => cell(row.torch, f, "PyTorch", row);
    const parts = (s) => `${ms(s.forwardMs)} / ${ms(s.backwardMs)} / ${ms(s.optimizerMs)}`;
    lines.push(
      `| ${row.model} | ${row.mode} | ${row.threads} | ${o(parts)} | ${t(parts)} | ${o((s) => loss(s.firstLoss))} | ` +
        `${t((s) => loss(s.firstLoss))} | ${sci(both(row, (a, b) => relativeDifference(a.firstLoss, b.firstLoss)))} |`,
    );
  }
  for (const paragraph of [lossAgreementLine(rows), ...trainingSpeedupLines(rows, settings.threads), trainingCoresLine(rows)]) {
    lines.push("", paragraph);
  }
  lines.push(...notes.lines());
  return lines.join("\n") + "\n";
}

function kernelsOf(rows) {
  const kinds = [...new Set(rows.filter((r) => r.ours.ok && r.ours.kernels).map((r) => r.ours.kernels))];
  return kinds.length > 0 ? kinds.join(", ") : "-";
}

/**
 * Whether both engines computed the same first-step loss (within LOSS_TOLERANCE relative) in every row where both
 * ran: the check that they trained the same model on the same batch.
 */
export function lossAgreementLine(rows) {
  const compared = rows
    .filter((r) => r.ours.ok && r.torch.ok)
    .map((r) => ({ where: `${r.model} ${r.mode} ${r.threads}t`, d: relativeDifference(r.ours.firstLoss, r.torch.firstLoss) }));
  if (compared.length === 0) return "First-step loss agreement: not checked (no row where both engines ran).";
  const off = compared.filter((c) => c.d === undefined || !(c.d <= LOSS_TOLERANCE));
  const worst = Math.max(...compared.map((c) => (c.d === undefined ? Infinity : c.d)));
  if (off.length === 0) {
    return `First-step losses agree within ${sci(LOSS_TOLERANCE)} relative in all ${compared.length} rows (largest difference ${sci(worst)}).`;
  }
  return (
    `Warning: first-step losses differ by more than ${sci(LOSS_TOLERANCE)} relative in ${off.length} of ` +
    `${compared.length} rows (${off.map((c) => `${c.where} ${sci(c.d)}`).join(", ")}): the engines did not compute the same thing.`
  );
}

/** "2-thread / 1-thread training speed-up" per engine, per model and mode, when two thread counts ran. */
export function trainingSpeedupLines(rows, threads) {
  if (threads.length < 2) return [`Thread speed-up: not measured (one thread count, ${threads[0]}).`];
  const lo = Math.min(...threads);
  const hi = Math.max(...threads);
  const keys = [...new Set(rows.map((r) => `${r.model} ${r.mode}`))];
  return ["ours", "torch"].map((engine) => {
    const parts = keys.map((key) => {
      const at = (t) => rows.find((r) => `${r.model} ${r.mode}` === key && r.threads === t)?.[engine];
      const a = at(hi);
      const b = at(lo);
      return `${key} ${times(a?.ok && b?.ok ? ratio(a.tokensPerSec, b.tokensPerSec) : undefined)}`;
    });
    return `${hi}-thread / ${lo}-thread training speed-up, ${engine === "ours" ? "ours" : "PyTorch"}: ${parts.join(", ")}`;
  });
}

/** CPU time / wall time over the timed steps: how many cores each engine kept busy. */
export function trainingCoresLine(rows) {
  const f = (s) => (s.ok && typeof s.coresBusy === "number" ? s.coresBusy.toFixed(2) : "-");
  return "Cores busy during the timed steps, ours / PyTorch: " + rows.map((r) => `${r.model} ${r.mode} ${r.threads}t ${f(r.ours)} / ${f(r.torch)}`).join(", ");
}
