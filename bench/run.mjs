// `npm run bench`: our `cpu` backend against llama.cpp on a model of SmolLM2-135M's shape (or another, --shape) with
// deterministic random weights, F32 / BF16 / Q8_0 at 1 and 2 threads, each engine in its own child process per
// configuration, after one child per engine that only imports it (the baseline RSS); prints a markdown table of
// prefill and decode speed, time to first token and peak RSS with the ratios ours / llama.cpp, and saves it as
// bench/results/latest.md and .json (another shape: bench/results/<shape>.*; --quick runs go to bench/.cache/).
// It imports the built packages (run `npm run build` first; `npm run bench` does). It asserts nothing about speed.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTokenizer } from "@dappcore/inference-cpu";
import { parseArgs, resultsName, USAGE } from "./lib/args.mjs";
import { runChild } from "./lib/child.mjs";
import { describeMachine } from "./lib/machine.mjs";
import { ensureModels, weightBytes } from "./lib/models.mjs";
import { promptText } from "./lib/prompt.mjs";
import { poolRounds, renderMarkdown, summarize, toJson } from "./lib/report.mjs";
import { commandLine, log, publishReport, settingsOrExit, timed, withoutRepoRoot } from "./lib/results.mjs";
import { kvCacheBytes as kvBytes, parameterCount } from "./lib/shapes.mjs";
import { measureStreaming } from "./lib/streaming.mjs";

const benchDir = fileURLToPath(new URL("./", import.meta.url));

const settings = settingsOrExit(parseArgs, USAGE);

const started = performance.now();
const machine = describeMachine();
const cacheDir = join(benchDir, ".cache");
const shape = settings.shape;
const paths = await ensureModels(cacheDir, shape, log);

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
// Ours keeps an F32 KV cache; llama.cpp the type --llama-kv names.
const kvCacheBytes = kvBytes(shape.spec, common.contextLen, 4);
const llamaKvCacheBytes = kvBytes(shape.spec, common.contextLen, settings.llamaKv === "f32" ? 4 : 2);

/** Our backend's variants per weight type: what it loads and with which quantisation. */
const oursVariants = {
  f32: [{ label: "F32", modelPath: paths.checkpoint.f32, weightsPath: paths.checkpoint.f32 }],
  bf16: [{ label: "BF16", modelPath: paths.checkpoint.bf16, weightsPath: paths.checkpoint.bf16 }],
  q8_0: [
    { label: "Q8_0", modelPath: paths.checkpoint.bf16, quantization: "q8_0", weightsPath: paths.gguf.q8_0 },
    { label: "Q8_0 (GGUF)", modelPath: paths.gguf.q8_0, weightsPath: paths.gguf.q8_0 },
  ],
  q4_0: [
    { label: "Q4_0", modelPath: paths.checkpoint.bf16, quantization: "q4_0", weightsPath: paths.gguf.q4_0 },
    { label: "Q4_0 (GGUF)", modelPath: paths.gguf.q4_0, weightsPath: paths.gguf.q4_0 },
  ],
};

// The fixed cost of each engine: a process that has only imported it (and, for llama.cpp, called getLlama).
const baselineConfig = { baselineOnly: true, threads: settings.threads[0], kvType: settings.llamaKv };
const baselineOf = async (engine, script) =>
  baselineSummary(await timed(`baseline RSS, ${engine}`, () => runChild(join(benchDir, script), baselineConfig, settings.timeoutSec), rss));
const baseline = { ours: await baselineOf("ours", "engines/ours.mjs"), llama: await baselineOf("llama.cpp", "engines/llama-cpp.mjs") };

// The machine's memory streaming on 1 and 2 threads, the roof of decode, at the start and at the end of the run.
const streamingNow = async (when) => {
  try {
    const s = await measureStreaming();
    log(`bench: memory streaming at the ${when}: 1 thread ${s.oneThreadGBs.toFixed(1)} GB/s, 2 threads ${s.twoThreadsGBs.toFixed(1)} GB/s`);
    return { ok: true, ...s };
  } catch (e) {
    log(`bench: memory streaming at the ${when} n/a: ${e instanceof Error ? e.message : String(e)}`);
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
};
const streaming = { start: await streamingNow("start") };

const jobs = settings.weights.length * settings.threads.length;
let job = 0;
const rows = [];
for (const weights of settings.weights) {
  for (const threads of settings.threads) {
    job++;
    // Each round runs llama.cpp, then each of ours' variants, in fresh processes; the runs of all rounds are pooled.
    const llamaRounds = [];
    const oursRounds = oursVariants[weights].map(() => []);
    for (let round = 1; round <= settings.rounds; round++) {
      const tag = settings.rounds > 1 ? ` round ${round}/${settings.rounds}` : "";
      llamaRounds.push(
        await timed(`[${job}/${jobs}] llama.cpp ${weights.toUpperCase()} ${threads}t${tag}`, () =>
          runChild(join(benchDir, "engines/llama-cpp.mjs"), { ...common, threads, modelPath: paths.gguf[weights], kvType: settings.llamaKv }, settings.timeoutSec),
          decodeRates,
        ),
      );
      for (const [i, variant] of oursVariants[weights].entries()) {
        oursRounds[i].push(
          await timed(`[${job}/${jobs}] ours ${variant.label} ${threads}t${tag}`, () =>
            runChild(
              join(benchDir, "engines/ours.mjs"),
              { ...common, threads, modelPath: variant.modelPath, quantization: variant.quantization },
              settings.timeoutSec,
            ),
            decodeRates,
          ),
        );
      }
    }
    const llamaResult = poolRounds(llamaRounds);
    for (const [i, variant] of oursVariants[weights].entries()) {
      const oursResult = poolRounds(oursRounds[i]);
      rows.push({
        label: variant.label,
        weights,
        threads,
        ours: summarize(withoutRepoRoot(oursResult)),
        llama: summarize(withoutRepoRoot(llamaResult)),
        weightsBytes: weightBytes(variant.weightsPath),
        budgetBytes: weightBytes(variant.weightsPath) + kvCacheBytes,
        llamaBudgetBytes: weightBytes(paths.gguf[weights]) + llamaKvCacheBytes,
        oursRuns: stripTokens(oursResult),
        llamaRuns: stripTokens(llamaResult),
      });
    }
  }
}

streaming.end = await streamingNow("end");
machine.loadAverageEnd = describeMachine().loadAverage;
const report = {
  command: commandLine("run.mjs"),
  machine,
  settings,
  llamaVersion: JSON.parse(readFileSync(new URL("../node_modules/node-llama-cpp/package.json", import.meta.url), "utf8")).version,
  model: { name: shape.name, title: shape.title, ...shape.spec, parameters: parameterCount(shape.spec), kvCacheBytes, llamaKvCacheBytes },
  baseline,
  streaming,
  rows,
  elapsedSec: (performance.now() - started) / 1000,
};
// The default shape at the default lengths keeps latest.* / quick.*; others are named by resultsName.
const base = resultsName(settings);
await publishReport({ quick: settings.quick, prefix: "", base, markdown: renderMarkdown(report), json: toJson(report) });

/** The progress note of a finished inference run. */
function decodeRates(result) {
  return `decode tok/s per run: ${result.runs.map((r) => (r.decodeTokensPerSec ?? 0).toFixed(1)).join(", ")}`;
}

/** The progress note of a baseline child. */
function rss(result) {
  return `peak RSS ${(result.peakRssBytes / 1e6).toFixed(0)} MB`;
}

/** A baseline child's result as the report keeps it: `{ ok, rssBytes }` or `{ ok: false, reason }`. */
function baselineSummary(result) {
  const r = withoutRepoRoot(result);
  return r.ok ? { ok: true, rssBytes: r.peakRssBytes } : { ok: false, reason: r.reason };
}

/** Per-run figures without the token ids, for the JSON. */
function stripTokens(result) {
  if (!result.ok) return undefined;
  return result.runs.map(({ tokens, ...rest }) => rest);
}
