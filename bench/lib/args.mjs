// Parses the command line of `node bench/run.mjs` into the benchmark's settings. It only reads and validates
// flags; it runs nothing and knows nothing of the engines.
import { invalidArgument, pickList, positiveInt, walkFlags } from "./cli-args.mjs";
import { DEFAULT_SHAPE, parseShape, SHAPE_PRESETS } from "./shapes.mjs";

const OP = "bench.args";

/** Weight types the benchmark knows, in table order. */
export const WEIGHT_TYPES = ["f32", "bf16", "q8_0", "q4_0"];

/** The weight types a run without --weights measures: the three (Q4_0 is asked for by name). */
export const DEFAULT_WEIGHT_TYPES = ["f32", "bf16", "q8_0"];

export const USAGE = `usage: node bench/run.mjs [options]     (npm run bench -- inference [options])

  --quick              smoke test: 32 prompt + 16 generated tokens, 1 run (results go to bench/.cache/)
  --shape NAME|SPEC    the model's shape (random weights): smollm2-135m (default), smollm2-360m, tinyllama-1.1b,
                       or a llama spec hidden=H,ffn=F,layers=L,heads=A,kv-heads=K[,vocab=V][,tied=0|1]
                       [,head-dim=D][,rope-theta=T][,seed=S] (defaults: vocab 32000, untied, head-dim H/A,
                       rope-theta 10000, seed 1; vocab at least 259). Results of a shape other than the default go
                       to bench/results/<shape>.md/.json (--quick: bench/.cache/<shape>-quick.*); other prompt or
                       generation lengths add -p<prompt>-g<generated> to the name, other weight types their
                       list (resultsName): only a full default run writes latest.*
  --weights LIST       comma-separated weight types out of f32,bf16,q8_0,q4_0 (default: f32,bf16,q8_0)
  --threads LIST       comma-separated thread counts (default: 1,2)
  --runs N             measured runs per engine process; medians are reported (default: 3; --quick: 1)
  --rounds N           processes per engine and configuration, the engines taking turns; the medians are over all
                       rounds' runs, so a noisy spell of the machine falls on both engines (default: 3; --quick: 1)
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
    weights: [...DEFAULT_WEIGHT_TYPES],
    threads: [1, 2],
    runs: quick ? 1 : 3,
    rounds: quick ? 1 : 3,
    promptTokens: defaultLengths(quick).promptTokens,
    genTokens: defaultLengths(quick).genTokens,
    llamaKv: "f16",
    timeoutSec: 3600,
    shape: { ...SHAPE_PRESETS[DEFAULT_SHAPE], custom: false },
  };
  walkFlags(argv, settings, OP, (flag, value) => {
    switch (flag) {
      case "--weights":
        settings.weights = pickList(OP, flag, value(), WEIGHT_TYPES, "weight type");
        return true;
      case "--runs":
        settings.runs = positiveInt(OP, flag, value(), 100);
        return true;
      case "--rounds":
        settings.rounds = positiveInt(OP, flag, value(), 20);
        return true;
      case "--prompt-tokens":
        settings.promptTokens = positiveInt(OP, flag, value(), 4096);
        return true;
      case "--gen-tokens":
        settings.genTokens = positiveInt(OP, flag, value(), 4096);
        return true;
      case "--shape":
        settings.shape = parseShape(OP, flag, value());
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
  const positions = settings.promptTokens + settings.genTokens;
  if (positions > settings.shape.spec.maxPositionEmbeddings) {
    throw invalidArgument(
      OP,
      "--prompt-tokens",
      `--prompt-tokens + --gen-tokens (${positions}) exceed the ${settings.shape.spec.maxPositionEmbeddings} positions ` +
        `of the ${settings.shape.name} shape`,
    );
  }
  return settings;
}

/** The prompt and generation lengths a run has unless told otherwise (--quick: shorter). */
function defaultLengths(quick) {
  return quick ? { promptTokens: 32, genTokens: 16 } : { promptTokens: 128, genTokens: 128 };
}

/**
 * The file name (without extension) a run's report is saved under, or undefined for latest.* (quick.* with --quick):
 * only the default shape at the default lengths with the default weight types keeps latest.*, so no partial run
 * overwrites the table the README shows. Otherwise: the shape's name, then -p<prompt>-g<generated> when the lengths
 * are not the defaults, then the weight types when they are not the default three, then -quick for --quick.
 *
 * @example resultsName(parseArgs(["--prompt-tokens", "2000", "--gen-tokens", "64"])) // "smollm2-135m-p2000-g64"
 * @example resultsName(parseArgs(["--shape", "tinyllama-1.1b", "--weights", "bf16,q8_0"])) // "tinyllama-1.1b-bf16-q8_0"
 */
export function resultsName(settings) {
  const d = defaultLengths(settings.quick);
  const lengths =
    settings.promptTokens !== d.promptTokens || settings.genTokens !== d.genTokens ? `-p${settings.promptTokens}-g${settings.genTokens}` : "";
  const defaultWeights =
    settings.weights.length === DEFAULT_WEIGHT_TYPES.length && DEFAULT_WEIGHT_TYPES.every((w) => settings.weights.includes(w));
  const weights = defaultWeights ? "" : `-${settings.weights.join("-")}`;
  if (settings.shape.name === DEFAULT_SHAPE && lengths === "" && weights === "") return undefined;
  return `${settings.shape.name}${lengths}${weights}${settings.quick ? "-quick" : ""}`;
}
