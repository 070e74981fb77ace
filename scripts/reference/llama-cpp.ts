/**
 * The llama.cpp reference harness: runs a GGUF file in llama.cpp (through node-llama-cpp 3.21.1, prebuilt CPU
 * binaries) and returns what our engine is compared against: the log-softmax over the vocabulary at every position
 * of an input, and greedy continuations. It is the only producer of llama.cpp reference data; it is not part of any
 * published package and never runs our engine.
 *
 * llama.cpp settings and why:
 * - `getLlama({ gpu: false, build: "never" })`: the CPU backend from the prebuilt binaries; never compiles, so the
 *   reference is the same on every machine of one platform.
 * - `maxThreads: 1` (Llama) and `threads: 1` (context): one thread, set explicitly. Results then do not depend on the
 *   machine's core count or on how llama.cpp splits rows between threads.
 * - `experimentalKvCacheKeyType`/`ValueType: "F32"`: the KV cache in F32 (llama.cpp defaults to F16, which rounds keys
 *   and values to 11 bits and would alone exceed a 1e-4 tolerance on log-probs). `kvType: "F16"` asks for F16, to
 *   compare with our F16 cache (llama.cpp then also rounds the queries and the attention probabilities to F16 for
 *   its F16 dot products, which ours keep in float32).
 * - `flashAttention: false`: the plain attention path (softmax in F32 over the whole row) rather than the fused kernel.
 * - `swaFullCache: true`: sliding-window models (gemma3) keep the whole context in cache; masking alone applies the
 *   window, so the result is the same and no cache eviction happens mid-input.
 * - `batchSize` = the input length, `sequences: 1`, `contextSize` = input + continuation: the whole input is one
 *   batch of one sequence, so one forward pass computes the logits of every position.
 * - Sampling: `temperature: 0` makes node-llama-cpp's sampler chain only the greedy sampler (plus no token bias and
 *   no repeat penalty: none are passed), which selects without changing the logits; top-k/top-p/min-p are not in a
 *   greedy chain. `generateNext.probabilities` then returns node-llama-cpp's own softmax of the raw logits (float32,
 *   max-subtracted, `expf`, divided by the sum): temperature 1, nothing filtered.
 * Log-probabilities are the logarithm of those float32 probabilities. Where one underflows float32 (log-prob below
 * about -103), a second pass with the logits divided by a temperature recovers it (see UNDERFLOW_TEMPERATURE);
 * that pass uses topK 0 (the whole vocabulary), topP 2 (node-llama-cpp then adds no top-p sampler) and minP 0
 * (no min-p sampler), so only the temperature touches the logits.
 */
import { getLlama, LlamaLogLevel, type Llama, type LlamaModel, type Token } from "node-llama-cpp";

let llamaPromise: Promise<Llama> | undefined;

/** The one Llama instance of this process: CPU only, prebuilt binaries, one thread, errors-only logging. */
function llamaInstance(): Promise<Llama> {
  llamaPromise ??= getLlama({
    gpu: false,
    build: "never",
    maxThreads: 1,
    // LLAMA_CPP_LOG_LEVEL=warn (or info, debug) shows llama.cpp's own messages when a model fails to load.
    logLevel: (process.env.LLAMA_CPP_LOG_LEVEL as LlamaLogLevel | undefined) ?? LlamaLogLevel.error,
    progressLogs: false,
  });
  return llamaPromise;
}

/** Disposes the Llama instance (call from `afterAll` when a test file is done with llama.cpp). */
export async function closeLlamaCpp(): Promise<void> {
  if (llamaPromise === undefined) return;
  const llama = await llamaPromise;
  llamaPromise = undefined;
  await llama.dispose();
}

/** llama.cpp's KV cache type: "F32" (the default here) or "F16" (llama.cpp's own default). */
export type KVType = "F32" | "F16";

async function withSequence<T>(
  ggufPath: string,
  tokens: readonly number[],
  contextSize: number,
  batchSize: number,
  kvType: KVType,
  fn: (seq: import("node-llama-cpp").LlamaContextSequence, model: LlamaModel) => Promise<T>,
): Promise<T> {
  const llama = await llamaInstance();
  const model = await llama.loadModel({ modelPath: ggufPath, gpuLayers: 0 });
  try {
    const nVocab = vocabSize(model);
    const bad = tokens.find((t) => t >= nVocab);
    if (bad !== undefined) throw new Error(`llama-cpp harness: token id ${bad} is outside the vocabulary of ${nVocab}`);
    const context = await model.createContext({
      contextSize,
      batchSize,
      sequences: 1,
      threads: 1,
      flashAttention: false,
      swaFullCache: true,
      experimentalKvCacheKeyType: kvType,
      experimentalKvCacheValueType: kvType,
    });
    try {
      const seq = context.getSequence();
      try {
        return await fn(seq, model);
      } finally {
        seq.dispose();
      }
    } finally {
      await context.dispose();
    }
  } finally {
    await model.dispose();
  }
}

function checkTokens(tokens: readonly number[], op: string): void {
  if (tokens.length === 0) throw new Error(`${op}: tokens must not be empty`);
  for (const t of tokens) if (!Number.isInteger(t) || t < 0) throw new Error(`${op}: invalid token id ${t}`);
}

/**
 * The log-softmax over the whole vocabulary of llama.cpp's logits after each input token: element i is
 * log p(next token | tokens[0..i]), a Float32Array of the vocabulary size.
 */
export async function llamaCppLogProbs(
  ggufPath: string,
  tokens: readonly number[],
  /** `temperedPass: true` computes every entry through the underflow-recovery pass (to test that pass). */
  opts: { temperedPass?: boolean; kvType?: KVType } = {},
): Promise<Float32Array[]> {
  checkTokens(tokens, "llamaCppLogProbs");
  return withSequence(ggufPath, tokens, tokens.length + 1, tokens.length, opts.kvType ?? "F32", async (seq, model) => {
    const nVocab = vocabSize(model);
    const exact = await probabilityRows(seq, tokens, nVocab, { temperature: 0 });
    const rows = exact.map((probs) => Float32Array.from(probs, (p) => Math.log(p)));
    if (!opts.temperedPass && !rows.some((row) => row.some((v) => v === Number.NEGATIVE_INFINITY))) return rows;
    // Some probabilities underflowed float32. Evaluate again with the logits divided by UNDERFLOW_TEMPERATURE (no
    // top-k/top-p/min-p filter) and recover only those entries: log p(i) = T * (log pT(i) - log pT(top)) + log p(top).
    await seq.clearHistory();
    const tempered = await probabilityRows(seq, tokens, nVocab, {
      temperature: UNDERFLOW_TEMPERATURE,
      topK: 0,
      topP: 2,
      minP: 0,
      seed: 1,
    });
    rows.forEach((row, i) => {
      let top = 0;
      for (let j = 1; j < nVocab; j++) if (row[j] > row[top]) top = j;
      const logTop = Math.log(tempered[i][top]);
      for (let j = 0; j < nVocab; j++) {
        if ((row[j] === Number.NEGATIVE_INFINITY || (opts.temperedPass && j !== top)) && tempered[i][j] > 0) {
          row[j] = UNDERFLOW_TEMPERATURE * (Math.log(tempered[i][j]) - logTop) + row[top];
        }
      }
    });
    return rows;
  });
}

/**
 * The temperature of the second pass that recovers log-probs below float32's range (about -103): spreads of up to
 * ~1600 nats are recovered, with an absolute error about this many times float32 rounding of the log (~1e-5).
 */
const UNDERFLOW_TEMPERATURE = 16;

type SampleOptions = { temperature: number; topK?: number; topP?: number; minP?: number; seed?: number };

/** node-llama-cpp's softmax over the vocabulary after every input token, as dense arrays indexed by token id. */
async function probabilityRows(
  seq: import("node-llama-cpp").LlamaContextSequence,
  tokens: readonly number[],
  nVocab: number,
  options: SampleOptions,
): Promise<Float64Array[]> {
  const ask = { generateNext: { probabilities: true, options } };
  const outputs = await seq.controlledEvaluate(tokens.map((t) => [t as Token, ask]));
  return tokens.map((_, i) => {
    const probs = outputs[i]?.next.probabilities;
    if (probs === undefined || probs.size !== nVocab) {
      throw new Error(`llamaCppLogProbs: expected ${nVocab} probabilities at position ${i}, got ${probs?.size ?? "none"}`);
    }
    const row = new Float64Array(nVocab);
    for (const [id, p] of probs) row[id] = p;
    return row;
  });
}

function vocabSize(model: LlamaModel): number {
  const tokens = model.fileInfo.metadata.tokenizer?.ggml?.tokens;
  if (!Array.isArray(tokens)) throw new Error("llama-cpp harness: the GGUF has no tokenizer.ggml.tokens");
  return tokens.length;
}

/** llama.cpp's greedy continuation of `tokens`: `n` token ids (it does not stop at end-of-generation tokens). */
export async function llamaCppGreedy(
  ggufPath: string,
  tokens: readonly number[],
  n: number,
  opts: { kvType?: KVType } = {},
): Promise<number[]> {
  checkTokens(tokens, "llamaCppGreedy");
  if (!Number.isInteger(n) || n < 0) throw new Error(`llamaCppGreedy: n must be a non-negative integer, got ${n}`);
  if (n === 0) return [];
  return withSequence(ggufPath, tokens, tokens.length + n, tokens.length, opts.kvType ?? "F32", async (seq) => {
    const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
    const out: number[] = [];
    let input: [Token, typeof greedy][] = tokens.map((t, i) => [t as Token, i === tokens.length - 1 ? greedy : {}] as [Token, typeof greedy]);
    while (out.length < n) {
      const results = await seq.controlledEvaluate(input);
      const next = results[input.length - 1]?.next.token;
      if (next === undefined || next === null) throw new Error(`llamaCppGreedy: llama.cpp produced no token at step ${out.length}`);
      out.push(next);
      input = [[next, greedy]];
    }
    return out;
  });
}
