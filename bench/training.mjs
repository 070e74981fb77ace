// The training benchmark (issue 5, item 6): training tokens/s of a full step and a LoRA step of our trainer beside
// PyTorch on the same CPU, the same checkpoint and the same batch, at 1 and 2 threads, each engine in its own child
// process per configuration; prints a markdown table with the ratios ours / PyTorch, peak RSS and the first-step
// losses of both (which must agree), and saves it as bench/results/training-latest.md and .json (--quick runs go to
// bench/.cache/training-quick.* instead). It imports the built packages (`npm run build` first; `npm run bench`
// does). It asserts nothing about speed. The inference benchmark is run.mjs.
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runChild } from "./lib/child.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { runScriptChild } from "./lib/python-child.mjs";
import { commandLine, log, publishReport, settingsOrExit, timed, withoutRepoRoot } from "./lib/results.mjs";
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

const settings = settingsOrExit(parseTrainingArgs, TRAINING_USAGE);

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
      const ours = await timed(`${what} ours`, () => runChild(join(benchDir, "engines/train-ours.mjs"), common, settings.timeoutSec), stepRates);
      let torch;
      if (mode === "lora" && !existsSync(loraInitPath)) {
        torch = { ok: false, reason: "not run: it starts from the LoRA tensors our side writes, and our side failed" };
        log(`bench: ${what} PyTorch skipped: ${torch.reason}`);
      } else {
        torch = await timed(`${what} PyTorch`, () =>
          runScriptChild(settings.python, join(benchDir, "engines/train_torch.py"), common, settings.timeoutSec, torchEnv(threads)),
          stepRates,
        );
      }
      if (torch.ok && torch.torchVersion) torchVersion = torch.torchVersion;
      if (torch.ok && Array.isArray(torch.blas)) torchBlas = torch.blas;
      rows.push({
        model,
        mode,
        threads,
        ours: summarizeTraining(withoutRepoRoot(ours), tokensPerStep),
        torch: summarizeTraining(withoutRepoRoot(torch), tokensPerStep),
        oursSteps: ours.ok ? { warmup: ours.warmupSteps, timed: ours.steps } : undefined,
        torchSteps: torch.ok ? { warmup: torch.warmupSteps, timed: torch.steps } : undefined,
      });
    }
  }
}

machine.loadAverageEnd = describeMachine().loadAverage;
const report = {
  command: commandLine("training.mjs"),
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
await publishReport({ quick: settings.quick, prefix: "training-", markdown: renderTrainingMarkdown(report), json: report });

/** The progress note of a finished training run. */
function stepRates(result) {
  const steps = result.steps.map((x) => ((tokensPerStep * 1000) / x.ms).toFixed(0)).join(", ");
  return `tokens/s per step: ${steps}; first loss ${result.firstLoss}`;
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
