// Parses the command line of `node bench/run.mjs` into the benchmark's settings. It only reads and validates
// flags; it runs nothing and knows nothing of the engines.
import { InferenceError } from "@dappcore/inference";

/** Weight types the benchmark knows, in table order. */
export const WEIGHT_TYPES = ["f32", "bf16", "q8_0"];

export const USAGE = `usage: node bench/run.mjs [options]     (npm run bench -- inference [options])

  --quick              smoke test: 32 prompt + 16 generated tokens, 1 run (results go to bench/.cache/)
  --weights LIST       comma-separated weight types out of f32,bf16,q8_0 (default: all three)
  --threads LIST       comma-separated thread counts (default: 1,2)
  --runs N             measured runs per engine and configuration; medians are reported (default: 3; --quick: 1)
  --prompt-tokens N    prompt length in tokens (default: 128; --quick: 32)
  --gen-tokens N       generated tokens (default: 128; --quick: 16)
  --llama-kv TYPE      llama.cpp KV cache type, f16 (its default) or f32 (default: f16)
  --timeout S          seconds one engine may take for one configuration before it is stopped (default: 3600)
  --help               this text`;

/**
 * The benchmark's settings from `argv` (without node and the script). Throws `InferenceError` `invalid_argument`
 * naming the flag for anything it cannot use.
 *
 * @example parseArgs(["--quick", "--weights", "bf16"]) // { quick: true, weights: ["bf16"], threads: [1, 2], ... }
 */
export function parseArgs(argv) {
  const quick = argv.includes("--quick");
  const settings = {
    quick,
    help: false,
    weights: [...WEIGHT_TYPES],
    threads: [1, 2],
    runs: quick ? 1 : 3,
    promptTokens: quick ? 32 : 128,
    genTokens: quick ? 16 : 128,
    llamaKv: "f16",
    timeoutSec: 3600,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith("--")) throw invalid(flag, `${flag} needs a value`);
      i++;
      return v;
    };
    switch (flag) {
      case "--quick":
        break;
      case "--help":
      case "-h":
        settings.help = true;
        break;
      case "--weights":
        settings.weights = parseWeights(flag, value());
        break;
      case "--threads":
        settings.threads = unique(value().split(",").map((s) => positiveInt(flag, s, 256)));
        break;
      case "--runs":
        settings.runs = positiveInt(flag, value(), 100);
        break;
      case "--prompt-tokens":
        settings.promptTokens = positiveInt(flag, value(), 4096);
        break;
      case "--gen-tokens":
        settings.genTokens = positiveInt(flag, value(), 4096);
        break;
      case "--llama-kv": {
        const v = value().toLowerCase();
        if (v !== "f16" && v !== "f32") throw invalid(flag, `--llama-kv must be f16 or f32, got "${v}"`);
        settings.llamaKv = v;
        break;
      }
      case "--timeout":
        settings.timeoutSec = positiveInt(flag, value(), 86_400);
        break;
      default:
        throw invalid(flag, `unknown option "${flag}" (see --help)`);
    }
  }
  if (settings.genTokens < 2) {
    throw invalid("--gen-tokens", "--gen-tokens must be at least 2 (decode speed is measured after the first token)");
  }
  return settings;
}

function parseWeights(flag, text) {
  const asked = text.split(",").map((s) => s.trim().toLowerCase());
  for (const w of asked) {
    if (!WEIGHT_TYPES.includes(w)) throw invalid(flag, `unknown weight type "${w}" (known: ${WEIGHT_TYPES.join(", ")})`);
  }
  // Table order, not the order typed.
  return WEIGHT_TYPES.filter((w) => asked.includes(w));
}

function positiveInt(flag, text, max) {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw invalid(flag, `${flag} expects whole numbers from 1 to ${max}, got "${text}"`);
  }
  return n;
}

function unique(values) {
  return [...new Set(values)];
}

function invalid(flag, message) {
  return new InferenceError({ code: "invalid_argument", op: "bench.args", message, details: { option: flag } });
}
