/**
 * The decode loops of the cpu backend: one stream (prefill, then sample and step one token at a time), classify
 * (prefill only) and batchGenerate (several sequences decoded together). Buffers are allocated once per model or
 * per KV cache and reused by every request after (`scratchOf`), never per token. Not the engine (see ../engine) and
 * not the sampler (see ../sampling).
 */
import {
  InferenceError,
  type BatchResult,
  type ClassifyResult,
  type GenerateConfig,
  type GenerateMetrics,
  type ProbeBus,
  type Token,
} from "@dappcore/inference";
import type { Transformer } from "../engine/transformer.js";
import type { KVCache } from "../engine/kv-cache.js";
import type { GenerationDefaults } from "../loader/config.js";
import type { Tokenizer } from "../text/tokenizer.js";
import { createSampler, type Sampler } from "../sampling/sampler.js";
import { createRng } from "../sampling/rng.js";
import { MetricsRecorder } from "./metrics.js";
import { resolveSampling } from "./sampling-config.js";
import { StopHolder, type HeldToken } from "./stop-holder.js";
import { aborted } from "./slot-pool.js";
import { TokenProbes } from "./probe-events.js";

/**
 * Checkpoints often pad the embedding matrix past the tokenizer's vocabulary (Qwen: 151936 rows, 151669 tokens). A
 * sampled id in the padding has no text: it is emitted with "" as Hugging Face's decode does, never as an error.
 */
export interface DecodeContext {
  readonly transformer: Transformer;
  readonly tokenizer: Tokenizer;
  readonly generation: GenerationDefaults;
  readonly eosIds: readonly number[];
  readonly contextLen: number;
  readonly probeBus: ProbeBus | undefined;
}

/** A request's logits (V) and token history (prompt then generated ids), reused by the next request on its cache. */
interface CacheScratch {
  readonly logits: Float32Array; // (V)
  readonly history: Int32Array; // (capacity)
}

const samplers = new WeakMap<Transformer, Sampler>();
const cacheScratch = new WeakMap<KVCache, CacheScratch>();

/**
 * The model's sampler, made once: its scratch (about 28 bytes a vocabulary entry: 1.4 MB at 49,152) is used only
 * inside one synchronous `sample` call, so every request of the model, concurrent ones included, can share it. Made
 * per request, those buffers were garbage the JavaScript heap barely notices (it counts them as external memory)
 * and kept resident, a few MB after a few requests.
 */
function samplerOf(transformer: Transformer): Sampler {
  let sampler = samplers.get(transformer);
  if (sampler === undefined) {
    sampler = createSampler(transformer.config.vocabSize);
    samplers.set(transformer, sampler);
  }
  return sampler;
}

/** The logits and history buffers of requests on `cache` (one request at a time uses a cache), made once. */
function scratchOf(transformer: Transformer, cache: KVCache): CacheScratch {
  let scratch = cacheScratch.get(cache);
  if (scratch === undefined) {
    scratch = { logits: new Float32Array(transformer.config.vocabSize), history: new Int32Array(cache.capacity) };
    cacheScratch.set(cache, scratch);
  }
  return scratch;
}

/** Streams the tokens of one request; returns its metrics when done. */
export async function* runDecode(
  ctx: DecodeContext,
  cache: KVCache,
  promptIds: readonly number[],
  config: GenerateConfig,
  op: string,
  isClosed: () => boolean,
): AsyncGenerator<Token, GenerateMetrics> {
  const probes = ctx.probeBus
    ? new TokenProbes(ctx.probeBus, ctx.tokenizer, ctx.transformer.config.vocabSize, nextRequestId())
    : undefined;
  const state = { generated: 0 };
  probes?.started();
  try {
    const metrics = yield* decodeTokens(ctx, cache, promptIds, config, op, isClosed, probes, state);
    probes?.ended(promptIds.length, state.generated, cache.length, cache.capacity);
    return metrics;
  } catch (e) {
    probes?.ended(promptIds.length, state.generated, cache.length, cache.capacity, e ?? new Error("unknown failure"));
    throw e;
  }
}

async function* decodeTokens(
  ctx: DecodeContext,
  cache: KVCache,
  promptIds: readonly number[],
  config: GenerateConfig,
  op: string,
  isClosed: () => boolean,
  probes: TokenProbes | undefined,
  state: { generated: number },
): AsyncGenerator<Token, GenerateMetrics> {
  const { transformer, tokenizer } = ctx;
  const { logits, history } = scratchOf(transformer, cache); // (V), (capacity)
  const sampling = resolveSampling(config, ctx.generation);
  const sampler = samplerOf(transformer);
  const rng = createRng(config.seed);
  history.set(promptIds);
  let length = promptIds.length;
  const stopIds = new Set([...ctx.eosIds, ...config.stopTokens]);
  const holder = new StopHolder(config.stop);
  const decoder = tokenizer.createDecoder();
  const metrics = new MetricsRecorder();
  const maxTokens = config.maxTokens || Number.POSITIVE_INFINITY;
  const step = new Int32Array(1);

  checkLive(op, config.signal, isClosed);
  transformer.forward(promptIds, cache, logits);
  metrics.prefillDone(promptIds.length);
  for (;;) {
    await nextTurn();
    checkLive(op, config.signal, isClosed);
    const id = sampler.sample(logits, sampling, history, length, rng);
    if (stopIds.has(id)) break;
    history[length++] = id;
    const generated = ++state.generated;
    const text = id < tokenizer.vocabSize ? decoder.push(id) : "";
    probes?.emit(id, text, logits, promptIds.length, generated);
    const token: HeldToken = config.logits ? { id, text, logits: logits.slice() } : { id, text };
    const { emit, stopped } = holder.push(token);
    for (const t of emit) {
      metrics.tokenEmitted();
      yield t;
    }
    if (stopped) return metrics.finish();
    if (generated >= maxTokens || cache.length >= cache.capacity) break;
    step[0] = id;
    transformer.forward(step, cache, logits);
  }
  for (const t of holder.flush()) {
    metrics.tokenEmitted();
    yield t;
  }
  return metrics.finish();
}

let requestCounter = 0;
function nextRequestId(): string {
  return `cpu-${++requestCounter}`;
}

/** Prefill only: one forward pass per prompt and the token sampled at its last position. */
export function runClassify(
  ctx: DecodeContext,
  cache: KVCache,
  prompts: readonly (readonly number[])[],
  config: GenerateConfig,
): { results: ClassifyResult[]; metrics: GenerateMetrics } {
  const { transformer, tokenizer } = ctx;
  const { logits } = scratchOf(transformer, cache); // (V)
  const sampling = resolveSampling(config, ctx.generation);
  const sampler = samplerOf(transformer);
  const rng = createRng(config.seed);
  const metrics = new MetricsRecorder();
  const results: ClassifyResult[] = [];
  let promptTokens = 0;
  for (const ids of prompts) {
    if (config.signal?.aborted) throw aborted("cpu.classify", config.signal);
    cache.reset();
    transformer.forward(ids, cache, logits);
    promptTokens += ids.length;
    const id = sampler.sample(logits, sampling, ids, ids.length, rng);
    const token: Token = { id, text: id < tokenizer.vocabSize ? tokenizer.decode([id]) : "" };
    results.push(config.logits ? { token, logits: logits.slice() } : { token });
  }
  cache.reset();
  metrics.prefillDone(promptTokens);
  for (let i = 0; i < results.length; i++) metrics.tokenEmitted();
  return { results, metrics: metrics.finish() };
}

interface Sequence {
  readonly index: number;
  readonly promptLength: number;
  readonly cache: KVCache;
  readonly history: Int32Array;
  length: number;
  generated: number;
  readonly holder: StopHolder;
  readonly decoder: ReturnType<Tokenizer["createDecoder"]>;
  readonly rng: ReturnType<typeof createRng>;
  readonly tokens: Token[];
  done: boolean;
}

/** Decodes several prompts together; a prompt that fails gets its own error and the others go on. */
export async function runBatchDecode(
  ctx: DecodeContext,
  prompts: readonly ({ ids: number[]; error?: undefined } | { ids?: undefined; error: InferenceError })[],
  config: GenerateConfig,
): Promise<{ results: BatchResult[]; metrics: GenerateMetrics }> {
  const op = "cpu.batchGenerate";
  const { transformer, tokenizer } = ctx;
  const vocab = transformer.config.vocabSize;
  const sampling = resolveSampling(config, ctx.generation);
  const sampler = samplerOf(transformer);
  const stopIds = new Set([...ctx.eosIds, ...config.stopTokens]);
  const maxTokens = config.maxTokens || Number.POSITIVE_INFINITY;
  const metrics = new MetricsRecorder();
  const errors: (InferenceError | undefined)[] = prompts.map((p) => p.error);
  const sequences: Sequence[] = [];
  const logitsOne = new Float32Array(vocab); // (V)
  let promptTokens = 0;

  const accept = (seq: Sequence, logits: Float32Array) => {
    const id = sampler.sample(logits, sampling, seq.history, seq.length, seq.rng);
    if (stopIds.has(id)) return void (seq.done = true);
    seq.history[seq.length++] = id;
    seq.generated++;
    const text = id < tokenizer.vocabSize ? seq.decoder.push(id) : "";
    const { emit, stopped } = seq.holder.push(config.logits ? { id, text, logits: logits.slice() } : { id, text });
    for (const t of emit) {
      seq.tokens.push(t);
      metrics.tokenEmitted();
    }
    if (stopped) return void (seq.done = true);
    if (seq.generated >= maxTokens || seq.cache.length >= seq.cache.capacity) {
      for (const t of seq.holder.flush()) {
        seq.tokens.push(t);
        metrics.tokenEmitted();
      }
      seq.done = true;
    }
  };

  for (let i = 0; i < prompts.length; i++) {
    const ids = prompts[i].ids;
    if (!ids) continue;
    if (config.signal?.aborted) {
      errors[i] = aborted(op, config.signal);
      continue;
    }
    const cache = transformer.createCache(ctx.contextLen);
    const history = new Int32Array(ctx.contextLen);
    history.set(ids);
    const seed = config.seed === undefined ? undefined : config.seed + i;
    const seq: Sequence = {
      index: i,
      promptLength: ids.length,
      cache,
      history,
      length: ids.length,
      generated: 0,
      holder: new StopHolder(config.stop),
      decoder: tokenizer.createDecoder(),
      rng: createRng(seed),
      tokens: [],
      done: false,
    };
    try {
      transformer.forward(ids, cache, logitsOne);
      promptTokens += ids.length;
      accept(seq, logitsOne);
      sequences.push(seq);
    } catch (e) {
      errors[i] = e instanceof InferenceError ? e : new InferenceError({ code: "internal", op, message: "prefill failed", cause: e });
    }
    await nextTurn();
  }
  metrics.prefillDone(promptTokens);

  const batchLogits = new Float32Array(sequences.length * vocab); // (B, V)
  const stepTokens = new Int32Array(sequences.length); // (B)
  for (;;) {
    const live = sequences.filter((s) => !s.done);
    if (live.length === 0) break;
    await nextTurn();
    if (config.signal?.aborted) {
      for (const s of live) {
        errors[s.index] = aborted(op, config.signal);
        s.done = true;
      }
      break;
    }
    for (let b = 0; b < live.length; b++) stepTokens[b] = live[b].history[live[b].length - 1];
    transformer.forwardBatch(
      stepTokens.subarray(0, live.length),
      live.map((s) => s.cache),
      batchLogits.subarray(0, live.length * vocab),
    );
    for (let b = 0; b < live.length; b++) accept(live[b], batchLogits.subarray(b * vocab, (b + 1) * vocab));
  }

  const results: BatchResult[] = prompts.map((_, i) => {
    const seq = sequences.find((s) => s.index === i);
    const tokens = seq ? seq.tokens : [];
    const error = errors[i];
    return error ? { tokens, error } : { tokens };
  });
  return { results, metrics: metrics.finish() };
}

function checkLive(op: string, signal: AbortSignal | undefined, isClosed: () => boolean): void {
  if (signal?.aborted) throw aborted(op, signal);
  if (isClosed()) throw new InferenceError({ code: "closed", op, message: "model was closed during generation" });
}

/** Lets timers and abort events run between tokens; the engine's work is synchronous. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
