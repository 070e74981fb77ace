// Parses the command line of `node bench/run.mjs` into the benchmark's settings. It only reads and validates
// flags; it runs nothing and knows nothing of the engines.
import { invalidArgument, pickList, positiveInt, walkFlags } from "./cli-args.mjs";

const OP = "bench.args";

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
  walkFlags(argv, settings, OP, (flag, value) => {
    switch (flag) {
      case "--weights":
        settings.weights = pickList(OP, flag, value(), WEIGHT_TYPES, "weight type");
        return true;
      case "--runs":
        settings.runs = positiveInt(OP, flag, value(), 100);
        return true;
      case "--prompt-tokens":
        settings.promptTokens = positiveInt(OP, flag, value(), 4096);
        return true;
      case "--gen-tokens":
        settings.genTokens = positiveInt(OP, flag, value(), 4096);
        return true;
      case "--llama-kv": {
        const v = value().toLowerCase();
        if (v !== "f16" && v !== "f32") throw invalidArgument(OP, flag, `--llama-kv must be f16 or f32, got "${v}"`);
        settings.llamaKv = v;
        return true;
      }
      default:
        return false;
    }
  });
  if (settings.genTokens < 2) {
    throw invalidArgument(OP, "--gen-tokens", "--gen-tokens must be at least 2 (decode speed is measured after the first token)");
  }
  return settings;
}
