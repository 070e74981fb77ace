// Child process: runs our `cpu` backend (the built @dappcore/inference-cpu) on one model and thread count, times a
// warm-up and then `runs` greedy generations, and sends the per-run figures and its own peak RSS to the parent
// (lib/child.mjs). Timings are the backend's own `metrics()`; this file adds no timer of its own to them. With
// `baselineOnly` it loads no model: it reports the peak RSS of a process that has only imported the package and made
// a `CpuBackend`, the fixed cost the report subtracts to show the engine's own memory overhead.
// Not the orchestrator (run.mjs) and not the llama.cpp side (llama-cpp.mjs).
import { withMaxTokens, withTemperature } from "@dappcore/inference";
import { CpuBackend } from "@dappcore/inference-cpu";
import { childMain, describeError, peakRssBytes } from "../lib/child.mjs";

/** The bits `info().quantBits` reports for each quantisation, to check a requested one was applied. */
const QUANT_BITS = { q8_0: 8, q4_0: 4 };

await childMain(async (config) => {
  const { modelPath, threads, quantization, contextLen, prompt, promptIds, genTokens, runs, warmup } = config;
  const backend = new CpuBackend();
  if (config.baselineOnly) return { ok: true, peakRssBytes: peakRssBytes() };
  const loadOptions = { contextLen, threads };
  if (quantization) loadOptions.quantization = quantization;
  const loadStart = performance.now();
  let loaded;
  try {
    loaded = await backend.loadModel(modelPath, loadOptions);
  } catch (e) {
    loaded = { ok: false, error: e };
  }
  const loadMs = performance.now() - loadStart;
  // A rejected option and a model that does not fit (out_of_memory: WebAssembly's 4 GiB) both end the row here.
  if (!loaded.ok) return { ok: false, reason: `load failed: ${describeError(loaded.error)}` };
  const model = loaded.value;
  try {
    const info = model.info();
    if (quantization && info.quantBits !== QUANT_BITS[quantization]) {
      // An option the backend accepted but did not apply would make this row a mislabelled BF16 row.
      return {
        ok: false,
        reason: `load accepted quantization "${quantization}" but info().quantBits is ${info.quantBits} (not applied)`,
      };
    }
    await generateOnce(model, warmup.prompt, warmup.genTokens);
    const measured = [];
    for (let r = 0; r < runs; r++) {
      const run = await generateOnce(model, prompt, genTokens);
      if (run.promptTokens !== promptIds.length) {
        return {
          ok: false,
          reason: `our tokenizer made ${run.promptTokens} prompt tokens, expected ${promptIds.length}`,
        };
      }
      measured.push(run);
    }
    return {
      ok: true,
      loadMs,
      quantBits: info.quantBits,
      runs: measured,
      peakRssBytes: peakRssBytes(),
    };
  } finally {
    await model.close();
  }
});

/** One greedy generation; the backend's metrics plus the token ids and how busy the CPU cores were. */
async function generateOnce(model, prompt, genTokens) {
  const ids = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let cpu1;
  let wall1 = 0;
  for await (const token of model.generate(prompt, withMaxTokens(genTokens), withTemperature(0))) {
    if (ids.length === 0) {
      cpu1 = process.cpuUsage();
      wall1 = performance.now();
    }
    ids.push(token.id);
  }
  const err = model.err();
  if (!err.ok) throw err.error;
  const cpu2 = process.cpuUsage();
  const wall2 = performance.now();
  const m = model.metrics();
  return {
    promptTokens: m.promptTokens,
    generatedTokens: m.generatedTokens,
    prefillTokensPerSec: m.prefillTokensPerSec,
    decodeTokensPerSec: m.decodeTokensPerSec,
    timeToFirstTokenMs: m.timeToFirstTokenMs,
    coresBusyPrefill: cpu1 ? coresBusy(cpu0, cpu1, wall1 - wall0) : undefined,
    coresBusyDecode: cpu1 ? coresBusy(cpu1, cpu2, wall2 - wall1) : undefined,
    tokens: ids,
  };
}

/** CPU time over wall time: about 1 when one core worked, about 2 when two did. */
function coresBusy(from, to, wallMs) {
  if (wallMs <= 0) return undefined;
  const cpuMs = (to.user - from.user + (to.system - from.system)) / 1000;
  return cpuMs / wallMs;
}
