// The training benchmark (issue 5, item 6): training tokens/s of a full step and a LoRA step of our trainer beside
// PyTorch on the same CPU, the same checkpoint and the same batch, at 1 and 2 threads, each engine in its own child
// process per configuration; prints a markdown table with the ratios ours / PyTorch, peak RSS and the first-step
// losses of both (which must agree), and saves it as bench/results/training-latest.md and .json (--quick runs go to
// bench/.cache/training-quick.* instead). It imports the built packages (`npm run build` first; `npm run bench`
// does). It asserts nothing about speed. The inference benchmark is run.mjs.
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runChild } from "./lib/child.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { runScriptChild } from "./lib/python-child.mjs";
import { parseTrainingArgs, TRAINING_USAGE } from "./lib/training-args.mjs";
import {
  describeShape,
  ensureTrainingModels,
  TRAINING_LORA,
  TRAINING_MODEL_SPECS,
  TRAINING_OPTIMIZER,
  trainingBatch,
} from "./lib/training-models.mjs";
import { renderTrainingMarkdown, summarizeTraining } from "./lib/training-report.mjs";

const benchDir = fileURLToPath(new URL("./", import.meta.url));
const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const log = (msg) => process.stderr.write(`${msg}\n`);

let settings;
try {
  settings = parseTrainingArgs(process.argv.slice(2));
} catch (e) {
  log(`bench: ${e.detail ?? e.message}\n\n${TRAINING_USAGE}`);
  process.exit(2);
}
if (settings.help) {
  console.log(TRAINING_USAGE);
  process.exit(0);
}

const started = performance.now();
const machine = describeMachine();
const cacheDir = join(benchDir, ".cache");
const modelPaths = await ensureTrainingModels(cacheDir, settings.models, log);
const { batch: B, seqLen: T } = settings;
const tokensPerStep = B * T;

const jobs = settings.models.length * settings.modes.length * settings.threads.length;
let job = 0;
let torchVersion;
let torchBlas;
const rows = [];
for (const model of settings.models) {
  const spec = TRAINING_MODEL_SPECS[model];
  const tokens = trainingBatch(B, T, spec.vocabSize, 1);
  for (const mode of settings.modes) {
    for (const threads of settings.threads) {
      job++;
      const what = `[${job}/${jobs}] ${model} ${mode} ${threads}t`;
      const loraInitPath = join(cacheDir, "training", `${model}-lora-init.safetensors`);
      await rm(loraInitPath, { force: true });
      const common = {
        modelPath: modelPaths[model],
        mode,
        lora: TRAINING_LORA,
        threads,
        B,
        T,
        tokens,
        warmup: settings.warmup,
        steps: settings.steps,
        optimizer: TRAINING_OPTIMIZER,
        loraInitPath,
      };
      const ours = await timed(`${what} ours`, () => runChild(join(benchDir, "engines/train-ours.mjs"), common, settings.timeoutSec));
      let torch;
      if (mode === "lora" && !existsSync(loraInitPath)) {
        torch = { ok: false, reason: "not run: it starts from the LoRA tensors our side writes, and our side failed" };
        log(`bench: ${what} PyTorch skipped: ${torch.reason}`);
      } else {
        torch = await timed(`${what} PyTorch`, () =>
          runScriptChild(settings.python, join(benchDir, "engines/train_torch.py"), common, settings.timeoutSec, torchEnv(threads)),
        );
      }
      if (torch.ok && torch.torchVersion) torchVersion = torch.torchVersion;
      if (torch.ok && Array.isArray(torch.blas)) torchBlas = torch.blas;
      rows.push({
        model,
        mode,
        threads,
        ours: summarizeTraining(relative(ours), tokensPerStep),
        torch: summarizeTraining(relative(torch), tokensPerStep),
        oursSteps: ours.ok ? { warmup: ours.warmupSteps, timed: ours.steps } : undefined,
        torchSteps: torch.ok ? { warmup: torch.warmupSteps, timed: torch.steps } : undefined,
      });
    }
  }
}

machine.loadAverageEnd = describeMachine().loadAverage;
const report = {
  command: `node bench/training.mjs ${process.argv.slice(2).join(" ")}`.trim(),
  machine,
  settings,
  models: Object.fromEntries(settings.models.map((m) => [m, describeShape(TRAINING_MODEL_SPECS[m])])),
  lora: TRAINING_LORA,
  optimizer: TRAINING_OPTIMIZER,
  torchVersion,
  torchBlas,
  rows,
  elapsedSec: (performance.now() - started) / 1000,
};
const markdown = renderTrainingMarkdown(report);
process.stdout.write(`\n${markdown}`);
const outDir = settings.quick ? cacheDir : join(benchDir, "results");
const base = settings.quick ? "training-quick" : "training-latest";
await mkdir(outDir, { recursive: true });
await writeFile(join(outDir, `${base}.md`), markdown);
await writeFile(join(outDir, `${base}.json`), JSON.stringify(report, null, 2) + "\n");
log(`bench: wrote ${join(outDir, `${base}.md`)} and ${base}.json`);

async function timed(what, fn) {
  const t = performance.now();
  log(`bench: ${what} ...`);
  const result = await fn();
  const s = ((performance.now() - t) / 1000).toFixed(0);
  if (result.ok) {
    const steps = result.steps.map((x) => ((tokensPerStep * 1000) / x.ms).toFixed(0)).join(", ");
    log(`bench: ${what} done in ${s} s (tokens/s per step: ${steps}; first loss ${result.firstLoss})`);
  } else {
    log(`bench: ${what} n/a after ${s} s: ${result.reason}`);
  }
  return result;
}

/**
 * The PyTorch child's environment: every threading library it may use held to the row's thread count (an
 * optimised BLAS would otherwise start its own threads on every core), and --torch-preload.
 */
function torchEnv(threads) {
  const n = String(threads);
  const env = { OMP_NUM_THREADS: n, OPENBLAS_NUM_THREADS: n, MKL_NUM_THREADS: n, BLIS_NUM_THREADS: n };
  if (settings.torchPreload) env.LD_PRELOAD = settings.torchPreload;
  return env;
}

/** The result with this checkout's absolute path taken out of its reason, so saved reports do not name the machine. */
function relative(result) {
  if (result.ok) return result;
  return { ...result, reason: String(result.reason).split(repoRoot).join("") };
}
