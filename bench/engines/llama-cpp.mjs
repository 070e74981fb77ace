// Child process: runs llama.cpp (node-llama-cpp 3.21.1, prebuilt CPU binaries) on one GGUF file and thread count,
// the same prompt token ids and greedy generation as our backend, and sends per-run figures and its own peak RSS to
// the parent (lib/child.mjs). Two sets of timings per run:
// - end to end, as a node-llama-cpp user sees them: prefill = evaluating the prompt until the first token is
//   sampled, decode = the remaining tokens through its JS generation loop (`LlamaContextSequence.evaluate`);
// - llama.cpp's own counters (`llama_perf_context_print`: prompt eval and eval), i.e. the C API figure without
//   node-llama-cpp's per-token JS overhead.
// Settings: `threads` for both the Llama instance and the context; batch size >= the prompt, so the prompt is one
// batch; KV cache F16 (llama.cpp's default) unless --llama-kv f32; flash attention left at node-llama-cpp's
// default ("auto"). A fresh context per run, so each run's counters are its own. With `baselineOnly` it loads no
// model: it reports the peak RSS of a process that has only imported node-llama-cpp and called `getLlama` with these
// options. Not the orchestrator (run.mjs).
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { childMain, peakRssBytes } from "../lib/child.mjs";

const logLines = [];

await childMain(async (config) => {
  const { modelPath, threads, contextLen, prompt, promptIds, genTokens, runs, warmup, kvType } = config;
  const llama = await getLlama({
    gpu: false,
    build: "never",
    maxThreads: threads,
    // Info level is needed to receive llama_perf_context_print; only errors are shown.
    logLevel: LlamaLogLevel.info,
    logger: (level, message) => {
      if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) process.stderr.write(`llama.cpp: ${message}\n`);
      else logLines.push(message);
    },
    progressLogs: false,
  });
  if (config.baselineOnly) {
    const peak = peakRssBytes();
    await llama.dispose();
    return { ok: true, peakRssBytes: peak };
  }
  const loadStart = performance.now();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const loadMs = performance.now() - loadStart;
  try {
    const tokenized = model.tokenize(prompt);
    const mismatch = tokenized.findIndex((t, i) => t !== promptIds[i]);
    if (tokenized.length !== promptIds.length || mismatch >= 0) {
      return {
        ok: false,
        reason: `llama.cpp tokenizes the prompt into ${tokenized.length} tokens, ours into ${promptIds.length}` +
          (mismatch >= 0 ? ` (first difference at token ${mismatch})` : ""),
      };
    }
    const contextOptions = {
      contextSize: contextLen,
      batchSize: Math.min(contextLen, Math.max(promptIds.length, 128)),
      sequences: 1,
      threads,
      performanceTracking: true,
      experimentalKvCacheKeyType: kvType.toUpperCase(),
      experimentalKvCacheValueType: kvType.toUpperCase(),
    };
    await generateOnce(model, contextOptions, promptIds.slice(0, warmup.promptTokens), warmup.genTokens);
    const measured = [];
    for (let r = 0; r < runs; r++) measured.push(await generateOnce(model, contextOptions, promptIds, genTokens));
    return {
      ok: true,
      loadMs,
      flashAttention: String(measured[0]?.flashAttention ?? "auto"),
      runs: measured,
      peakRssBytes: peakRssBytes(),
    };
  } finally {
    await model.dispose();
    await llama.dispose();
  }
});

/** One greedy generation of `genTokens` tokens after `ids`, in a fresh context. */
async function generateOnce(model, contextOptions, ids, genTokens) {
  const context = await model.createContext(contextOptions);
  try {
    const sequence = context.getSequence();
    const tokens = [];
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    let cpu1;
    let wall1 = 0;
    for await (const token of sequence.evaluate(ids, { temperature: 0 })) {
      if (tokens.length === 0) {
        cpu1 = process.cpuUsage();
        wall1 = performance.now();
      }
      tokens.push(token);
      if (tokens.length >= genTokens) break;
    }
    const cpu2 = process.cpuUsage();
    const wall2 = performance.now();
    const capi = await perfCounters(context);
    const prefillMs = wall1 - wall0;
    const decodeMs = wall2 - wall1;
    return {
      promptTokens: ids.length,
      generatedTokens: tokens.length,
      prefillTokensPerSec: prefillMs > 0 ? (ids.length * 1000) / prefillMs : undefined,
      decodeTokensPerSec: decodeMs > 0 && tokens.length > 1 ? ((tokens.length - 1) * 1000) / decodeMs : undefined,
      timeToFirstTokenMs: prefillMs,
      capiPrefillTokensPerSec: capi.prefillTokensPerSec,
      capiDecodeTokensPerSec: capi.decodeTokensPerSec,
      coresBusyPrefill: cpu1 ? coresBusy(cpu0, cpu1, prefillMs) : undefined,
      coresBusyDecode: cpu1 ? coresBusy(cpu1, cpu2, decodeMs) : undefined,
      flashAttention: context.flashAttention,
      tokens,
    };
  } finally {
    await context.dispose();
  }
}

/**
 * llama.cpp's own prompt-eval and eval rates for this context, parsed from `llama_perf_context_print`. The lines
 * arrive through the logger asynchronously, so this waits (up to 2 s) for the eval line.
 */
async function perfCounters(context) {
  const from = logLines.length;
  await context.printTimings();
  const deadline = performance.now() + 2000;
  let prefill;
  let decode;
  for (;;) {
    for (const line of logLines.slice(from)) {
      const p = /prompt eval time\s*=\s*([\d.]+) ms\s*\/\s*(\d+) tokens/.exec(line);
      if (p) prefill = rate(p);
      const d = /(?<!prompt )eval time\s*=\s*([\d.]+) ms\s*\/\s*(\d+) runs/.exec(line);
      if (d) decode = rate(d);
    }
    if (decode !== undefined || performance.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { prefillTokensPerSec: prefill, decodeTokensPerSec: decode };
}

function rate(match) {
  const ms = Number(match[1]);
  const n = Number(match[2]);
  return ms > 0 && n > 0 ? (n * 1000) / ms : undefined;
}

function coresBusy(from, to, wallMs) {
  if (wallMs <= 0) return undefined;
  return (to.user - from.user + (to.system - from.system)) / 1000 / wallMs;
}
