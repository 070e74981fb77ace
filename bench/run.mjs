// `npm run bench`: our `cpu` backend against llama.cpp on a model of SmolLM2-135M's shape with deterministic random
// weights, F32 / BF16 / Q8_0 at 1 and 2 threads, each engine in its own child process per configuration; prints a
// markdown table of prefill and decode speed, time to first token and peak RSS with the ratios ours / llama.cpp,
// and saves it as bench/results/latest.md and .json (--quick runs go to bench/.cache/ instead).
// It imports the built packages (run `npm run build` first; `npm run bench` does). It asserts nothing about speed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTokenizer } from "@dappcore/inference-cpu";
import { parseArgs, USAGE } from "./lib/args.mjs";
import { runChild } from "./lib/child.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { ensureModels, SMOLLM2_135M_SHAPE, weightBytes } from "./lib/models.mjs";
import { promptText } from "./lib/prompt.mjs";
import { renderMarkdown, summarize, toJson } from "./lib/report.mjs";
import { commandLine, log, publishReport, settingsOrExit, timed, withoutRepoRoot } from "./lib/results.mjs";

const benchDir = fileURLToPath(new URL("./", import.meta.url));

const settings = settingsOrExit(parseArgs, USAGE);

const started = performance.now();
const machine = describeMachine();
const cacheDir = join(benchDir, ".cache");
const paths = await ensureModels(cacheDir, log);

// The prompt as our tokenizer encodes it; both engines check their own tokenization against these ids.
const prompt = promptText(settings.promptTokens);
const promptIds = (await loadTokenizer(paths.checkpoint.bf16)).encode(prompt, { addSpecialTokens: true });
if (promptIds.length !== settings.promptTokens) {
  log(`bench: the ${settings.promptTokens}-byte prompt encodes to ${promptIds.length} tokens; expected one token per byte`);
  process.exit(1);
}
const warmupTokens = Math.min(16, settings.promptTokens);
const common = {
  threads: 0,
  contextLen: settings.promptTokens + settings.genTokens,
  prompt,
  promptIds,
  genTokens: settings.genTokens,
  runs: settings.runs,
  warmup: { prompt: prompt.slice(0, warmupTokens), promptTokens: warmupTokens, genTokens: Math.min(4, settings.genTokens) },
};
const kvCacheBytes =
  2 * SMOLLM2_135M_SHAPE.numLayers * SMOLLM2_135M_SHAPE.numKVHeads * SMOLLM2_135M_SHAPE.headDim * common.contextLen * 4;

/** Our backend's variants per weight type: what it loads and with which quantisation. */
const oursVariants = {
  f32: [{ label: "F32", modelPath: paths.checkpoint.f32, weightsPath: paths.checkpoint.f32 }],
  bf16: [{ label: "BF16", modelPath: paths.checkpoint.bf16, weightsPath: paths.checkpoint.bf16 }],
  q8_0: [
    { label: "Q8_0", modelPath: paths.checkpoint.bf16, quantization: "q8_0", weightsPath: paths.gguf.q8_0 },
    { label: "Q8_0 (GGUF)", modelPath: paths.gguf.q8_0, weightsPath: paths.gguf.q8_0 },
  ],
};

const jobs = settings.weights.length * settings.threads.length;
let job = 0;
const rows = [];
for (const weights of settings.weights) {
  for (const threads of settings.threads) {
    job++;
    const llamaResult = await timed(`[${job}/${jobs}] llama.cpp ${weights.toUpperCase()} ${threads}t`, () =>
      runChild(join(benchDir, "engines/llama-cpp.mjs"), { ...common, threads, modelPath: paths.gguf[weights], kvType: settings.llamaKv }, settings.timeoutSec),
      decodeRates,
    );
    for (const variant of oursVariants[weights]) {
      const oursResult = await timed(`[${job}/${jobs}] ours ${variant.label} ${threads}t`, () =>
        runChild(
          join(benchDir, "engines/ours.mjs"),
          { ...common, threads, modelPath: variant.modelPath, quantization: variant.quantization },
          settings.timeoutSec,
        ),
        decodeRates,
      );
      rows.push({
        label: variant.label,
        weights,
        threads,
        ours: summarize(withoutRepoRoot(oursResult)),
        llama: summarize(withoutRepoRoot(llamaResult)),
        budgetBytes: weightBytes(variant.weightsPath) + kvCacheBytes,
        oursRuns: stripTokens(oursResult),
        llamaRuns: stripTokens(llamaResult),
      });
    }
  }
}

machine.loadAverageEnd = describeMachine().loadAverage;
const report = {
  command: commandLine("run.mjs"),
  machine,
  settings,
  llamaVersion: JSON.parse(readFileSync(new URL("../node_modules/node-llama-cpp/package.json", import.meta.url), "utf8")).version,
  model: { ...SMOLLM2_135M_SHAPE, kvCacheBytes },
  rows,
  elapsedSec: (performance.now() - started) / 1000,
};
await publishReport({ quick: settings.quick, prefix: "", markdown: renderMarkdown(report), json: toJson(report) });

/** The progress note of a finished inference run. */
function decodeRates(result) {
  return `decode tok/s per run: ${result.runs.map((r) => (r.decodeTokensPerSec ?? 0).toFixed(1)).join(", ")}`;
}

/** Per-run figures without the token ids, for the JSON. */
function stripTokens(result) {
  if (!result.ok) return undefined;
  return result.runs.map(({ tokens, ...rest }) => rest);
}
