/**
 * The options of `runBackendContract` and their validation. This file says what a backend's test file hands the kit
 * (how to load a model, which prompt to use, exercisers for extra capabilities, reasoned skips); it runs no checks.
 */
import type { Backend, GenerateOption, LoadOption, Message, Result, TextModel } from "@dappcore/inference";
import { ContractViolation } from "./contract-violation.js";
import { CONTRACT_CHECK_IDS, type ContractCheckId } from "./check-ids.js";

/** Runs one capability's own test against a freshly loaded model (the kit closes it afterwards). Reject to fail. */
export type CapabilityExerciser = (model: TextModel) => Promise<void>;

/** How the kit loads a model: forward `opts` to the backend (the probe check passes `withProbeBus(bus)`). */
export type ContractLoader = (...opts: LoadOption[]) => Promise<TextModel | Result<TextModel>>;

/** What a backend's test file passes to `runBackendContract` (and to `runContractCheck`). */
export interface BackendContractOptions {
  /**
   * Names the suite in test titles and violation messages.
   * @example name: "cpu (tiny llama)"
   */
  name: string;
  /**
   * Loads a fresh model. Called once per check; the kit closes what it loads. It must forward the load options it
   * is given (the `probe-events` check passes `withProbeBus(bus)`). May resolve to a `TextModel` or a `Result`.
   * @example load: (...opts) => backend.loadModel(dir, ...opts)
   */
  load: ContractLoader;
  /**
   * The backend under test. When given, its `capabilities()` count as claimed (as well as the loaded model's own
   * `capabilities()`). Default: none, only the model's claims count.
   * @example backend: cpuBackend
   */
  backend?: Backend;
  /**
   * The prompt of every generation. Under greedy decoding it must yield at least 3 tokens before EOS, and at least
   * one token with visible text (the stop-string check uses it). Default: `"The quick brown fox"`.
   * @example prompt: "Once upon a time"
   */
  prompt?: string;
  /**
   * Three or more prompts for `classify` and `batchGenerate`; each must yield at least one token under greedy
   * decoding. Default: `[prompt, "Hello", "One two three"]`.
   * @example prompts: ["a", "b", "c"]
   */
  prompts?: readonly string[];
  /**
   * The conversation of the chat check. Default: `[{ role: "user", content: "hi" }]`.
   * @example chatMessages: [{ role: "user", content: "Say hello" }]
   */
  chatMessages?: readonly Message[];
  /**
   * Options put before the kit's own on every generation, e.g. to keep a tiny random model away from EOS. The kit's
   * own options come after and win (`maxTokens`, `temperature` 0 where a check needs determinism, `signal`,
   * `logits`, stop lists). Default: none.
   * @example generateOptions: [withRepeatPenalty(1.0)]
   */
  generateOptions?: readonly GenerateOption[];
  /**
   * The token cap of the bounded checks (generate, chat, metrics, stop tokens). An integer in [4, 64]. Default: 8.
   * @example maxTokens: 16
   */
  maxTokens?: number;
  /**
   * Seed and temperature of the seeded-determinism check. Defaults: seed 1234, temperature 0.8.
   * @example sampling: { seed: 7, temperature: 1 }
   */
  sampling?: { seed?: number; temperature?: number };
  /**
   * Tests for capabilities the built-in checks do not exercise (e.g. `lora.inference`, `kv.snapshot`), keyed by
   * capability id. Each runs as its own test with a fresh model. A claimed capability with neither a built-in check
   * nor an exerciser fails the suite. Default: none.
   * @example exercisers: { "lora.inference": async (m) => { ... } }
   */
  exercisers?: Readonly<Record<string, CapabilityExerciser>>;
  /**
   * Checks to skip, by check id, each with its reason (non-empty). A check that exercises a claimed capability
   * cannot be skipped: the suite fails instead. Default: none.
   * @example skip: { abort: "the remote API cannot cancel a request" }
   */
  skip?: Readonly<Partial<Record<ContractCheckId, string>>>;
  /**
   * Per-test timeout in milliseconds for `runBackendContract`. Default: vitest's configured timeout.
   * @example timeoutMs: 60_000
   */
  timeoutMs?: number;
}

/** The options with defaults filled in and validated. */
export interface ResolvedContractOptions {
  readonly name: string;
  readonly load: ContractLoader;
  readonly backend: Backend | undefined;
  readonly prompt: string;
  readonly prompts: readonly string[];
  readonly chatMessages: readonly Message[];
  readonly generateOptions: readonly GenerateOption[];
  readonly maxTokens: number;
  readonly seed: number;
  readonly temperature: number;
  readonly exercisers: Readonly<Record<string, CapabilityExerciser>>;
  readonly skip: Readonly<Partial<Record<ContractCheckId, string>>>;
  readonly timeoutMs: number | undefined;
}

const DEFAULT_PROMPT = "The quick brown fox";

/**
 * Fills defaults and validates. Throws a `ContractViolation` (check `options`) naming the bad option: a missing
 * name or loader, an unknown skip id, a skip without a reason, a bad cap, seed or temperature.
 */
export function resolveContractOptions(options: BackendContractOptions): ResolvedContractOptions {
  const name = typeof options?.name === "string" && options.name.trim() !== "" ? options.name : "";
  const bad = (detail: string): never => {
    throw new ContractViolation(name || "unnamed backend", "options", detail);
  };
  if (name === "") bad("name must be a non-empty string");
  if (typeof options.load !== "function") bad("load must be a function that loads a fresh model");
  const prompt = options.prompt ?? DEFAULT_PROMPT;
  if (typeof prompt !== "string" || prompt === "") bad("prompt must be a non-empty string");
  const prompts = options.prompts ?? [prompt, "Hello", "One two three"];
  if (!Array.isArray(prompts) || prompts.length < 3 || prompts.some((p) => typeof p !== "string" || p === "")) {
    bad("prompts must be at least 3 non-empty strings");
  }
  const chatMessages = options.chatMessages ?? [{ role: "user", content: "hi" }];
  if (!Array.isArray(chatMessages) || chatMessages.length === 0) bad("chatMessages must be a non-empty array");
  const maxTokens = options.maxTokens ?? 8;
  if (!Number.isInteger(maxTokens) || maxTokens < 4 || maxTokens > 64) {
    bad(`maxTokens must be an integer in [4, 64], got ${maxTokens}`);
  }
  const seed = options.sampling?.seed ?? 1234;
  if (!Number.isSafeInteger(seed) || seed < 0) bad(`sampling.seed must be a non-negative integer, got ${seed}`);
  const temperature = options.sampling?.temperature ?? 0.8;
  if (!(Number.isFinite(temperature) && temperature > 0)) {
    bad(`sampling.temperature must be a finite number > 0, got ${temperature}`);
  }
  const exercisers = options.exercisers ?? {};
  for (const [id, fn] of Object.entries(exercisers)) {
    if (typeof fn !== "function") bad(`exercisers["${id}"] must be a function`);
  }
  const skip = options.skip ?? {};
  const known = new Set<string>(CONTRACT_CHECK_IDS);
  for (const [id, reason] of Object.entries(skip)) {
    if (!known.has(id)) bad(`skip names unknown check "${id}"; known checks: ${CONTRACT_CHECK_IDS.join(", ")}`);
    if (typeof reason !== "string" || reason.trim() === "") bad(`skip["${id}"] must state a reason`);
  }
  if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
    bad(`timeoutMs must be a positive number, got ${options.timeoutMs}`);
  }
  return {
    name,
    load: options.load,
    backend: options.backend,
    prompt,
    prompts: [...prompts],
    chatMessages: [...chatMessages],
    generateOptions: [...(options.generateOptions ?? [])],
    maxTokens,
    seed,
    temperature,
    exercisers: { ...exercisers },
    skip: { ...skip },
    timeoutMs: options.timeoutMs,
  };
}
