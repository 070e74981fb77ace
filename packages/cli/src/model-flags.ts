/**
 * The flags that `generate` and `chat` share: where the model is and how to load it (--model, --backend,
 * --context-len, --threads, --quantization, --kv-cache) and how to sample (--max-tokens ... --stop), turned into the
 * contract's option objects with the
 * ranges checked up front, so a bad value is a usage error naming the flag rather than a failure after loading.
 * This file is not where the model is loaded (`load-model.ts`) or the tokens are streamed (`stream-tokens.ts`).
 */
import type { GenerateOptions } from "@dappcore/inference";
import { decimalFlag, integerFlag, listFlag, stringFlag, type FlagSpec, type FlagValues } from "./parse-flags.js";
import { UsageError } from "./cli-failure.js";

export const loadFlags: FlagSpec = {
  model: { type: "string", short: "m" },
  backend: { type: "string" },
  "context-len": { type: "string" },
  threads: { type: "string" },
  quantization: { type: "string" },
  "kv-cache": { type: "string" },
};

/** The values --quantization and --kv-cache take (the cpu backend's `quantization` and `kvCacheType`). */
export const quantizationValues = ["q8_0", "q4_0"] as const;
export const kvCacheValues = ["f32", "f16"] as const;

export const samplingFlags: FlagSpec = {
  "max-tokens": { type: "string", short: "n" },
  temperature: { type: "string", short: "t" },
  "top-k": { type: "string" },
  "top-p": { type: "string" },
  "min-p": { type: "string" },
  seed: { type: "string" },
  "repeat-penalty": { type: "string" },
  stop: { type: "string", multiple: true },
  metrics: { type: "boolean" },
};

/** Help text for the flags above, shared by `generate --help` and `chat --help`. */
export const modelFlagsHelp = `Model:
  -m, --model DIR          model directory (default: $INFERENCE_MODEL, else the bundled model)
      --backend NAME       pin a backend (see "inference backends"; default: automatic)
      --context-len N      KV-cache length in tokens, N >= 0 (default: 0 = the model's context length)
      --threads N          kernel threads, N >= 1 (default: the backend's choice; cpu: the cores available)
      --quantization Q     quantise the weights as they load: ${quantizationValues.join(" or ")} (cpu; a Hugging Face
                           directory)
      --kv-cache TYPE      KV cache values: ${kvCacheValues.join(" or ")} (cpu; default f32; f16 halves its memory)

Sampling:
  -n, --max-tokens N       cap on generated tokens, N >= 0 (default: 0 = until end of text or a full context)
  -t, --temperature T      T >= 0; 0 = greedy (default: the model's generation_config, else 0)
      --top-k K            keep the K most likely tokens, K >= 0; 0 = off
      --top-p P            nucleus sampling, P in [0, 1]; 0 or 1 = off
      --min-p P            drop tokens below P x the top probability, P in [0, 1]; 0 = off
      --seed S             sampler seed, S >= 0 (default: random)
      --repeat-penalty R   R > 0; 1 = none
      --stop STR           stop when the output contains STR (repeatable)
      --metrics            print prefill/decode speed, time to first token and counts to stderr at the end`;

/** What the user asked for about the model: its path as given (or undefined) and the load settings. */
export interface ModelRequest {
  readonly model: string | undefined;
  readonly backend: string | undefined;
  readonly contextLen: number | undefined;
  readonly threads: number | undefined;
  readonly quantization: (typeof quantizationValues)[number] | undefined;
  readonly kvCacheType: (typeof kvCacheValues)[number] | undefined;
}

export function modelRequestFrom(command: string, values: FlagValues): ModelRequest {
  const backend = stringFlag(values, "backend");
  if (backend !== undefined && backend.trim() === "") throw new UsageError(command, "--backend needs a backend name");
  const model = stringFlag(values, "model");
  if (model !== undefined && model.trim() === "") throw new UsageError(command, "--model needs a directory");
  return {
    model,
    backend,
    contextLen: integerFlag(command, values, "context-len", 0),
    threads: integerFlag(command, values, "threads", 1),
    quantization: choiceFlag(command, values, "quantization", quantizationValues),
    kvCacheType: choiceFlag(command, values, "kv-cache", kvCacheValues),
  };
}

/** The value of a flag that takes one of `choices` (case-insensitive), or undefined when it is absent. */
function choiceFlag<T extends string>(command: string, values: FlagValues, name: string, choices: readonly T[]): T | undefined {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  const choice = choices.find((c) => c === raw.toLowerCase());
  if (choice === undefined) throw new UsageError(command, `--${name} must be one of ${choices.join(", ")}, got ${JSON.stringify(raw)}`);
  return choice;
}

/** The generate options the flags set; unset flags stay unset so the model's generation_config can fill them. */
export function generateOptionsFrom(command: string, values: FlagValues): GenerateOptions {
  const options: GenerateOptions = {};
  const set = <K extends keyof GenerateOptions>(key: K, value: GenerateOptions[K] | undefined) => {
    if (value !== undefined) options[key] = value;
  };
  set("maxTokens", integerFlag(command, values, "max-tokens", 0));
  set("temperature", decimalFlag(command, values, "temperature", { min: 0 }));
  set("topK", integerFlag(command, values, "top-k", 0));
  set("topP", decimalFlag(command, values, "top-p", { min: 0, max: 1 }));
  set("minP", decimalFlag(command, values, "min-p", { min: 0, max: 1 }));
  set("seed", integerFlag(command, values, "seed", 0));
  set("repeatPenalty", decimalFlag(command, values, "repeat-penalty", { min: 0, minExclusive: true }));
  const stop = listFlag(values, "stop");
  if (stop.some((s) => s.length === 0)) throw new UsageError(command, "--stop needs a non-empty string");
  if (stop.length > 0) options.stop = stop;
  return options;
}
