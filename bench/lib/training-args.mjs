// Parses the command line of `node bench/training.mjs` into the training benchmark's settings. It only reads and
// validates flags; it runs nothing and knows nothing of the engines. Not the inference benchmark's flags (args.mjs).
import { InferenceError } from "@dappcore/inference";

/** Model shapes the training benchmark knows, in table order (their specs are in training-models.mjs). */
export const TRAINING_MODELS = ["small", "demo"];

/** Training modes, in table order. */
export const TRAINING_MODES = ["full", "lora"];

export const TRAINING_USAGE = `usage: node bench/training.mjs [options]     (npm run bench -- training [options])

  --quick              smoke test: the small model only, 1 thread, 1 warm-up + 2 timed steps
                       (results go to bench/.cache/training-quick.*)
  --models LIST        comma-separated model shapes out of small,demo (default: both)
  --modes LIST         comma-separated training modes out of full,lora (default: both)
  --threads LIST       comma-separated thread counts (default: 1,2; --quick: 1)
  --batch N            sequences per step, B (default: 8)
  --seq-len N          tokens per sequence, T (default: 256)
  --warmup N           untimed steps before the timed ones (default: 2; --quick: 1)
  --steps N            timed training steps per engine and configuration; medians are reported (default: 5; --quick: 2)
  --python PATH        the interpreter with PyTorch (default: $TORCH_REFERENCE_PYTHON or /usr/bin/python3)
  --torch-preload LIBS LD_PRELOAD for the PyTorch process, e.g. an optimised BLAS exporting sgemm_ where none is
                       installed for libblas.so.3 (default: none)
  --timeout S          seconds one engine may take for one configuration before it is stopped (default: 3600)
  --help               this text`;

/**
 * The training benchmark's settings from `argv` (without node and the script). Throws `InferenceError`
 * `invalid_argument` naming the flag for anything it cannot use.
 *
 * @example parseTrainingArgs(["--quick"]) // { quick: true, models: ["small"], modes: ["full", "lora"], threads: [1], ... }
 */
export function parseTrainingArgs(argv, env = process.env) {
  const quick = argv.includes("--quick");
  const settings = {
    quick,
    help: false,
    models: quick ? ["small"] : [...TRAINING_MODELS],
    modes: [...TRAINING_MODES],
    threads: quick ? [1] : [1, 2],
    batch: 8,
    seqLen: 256,
    warmup: quick ? 1 : 2,
    steps: quick ? 2 : 5,
    python: env.TORCH_REFERENCE_PYTHON || "/usr/bin/python3",
    torchPreload: "",
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
      case "--models":
        settings.models = pickList(flag, value(), TRAINING_MODELS, "model");
        break;
      case "--modes":
        settings.modes = pickList(flag, value(), TRAINING_MODES, "mode");
        break;
      case "--threads":
        settings.threads = [...new Set(value().split(",").map((s) => positiveInt(flag, s, 256)))];
        break;
      case "--batch":
        settings.batch = positiveInt(flag, value(), 1024);
        break;
      case "--seq-len":
        settings.seqLen = positiveInt(flag, value(), 4096);
        break;
      case "--warmup":
        settings.warmup = wholeNumber(flag, value(), 100);
        break;
      case "--steps":
        settings.steps = positiveInt(flag, value(), 1000);
        break;
      case "--python":
        settings.python = value();
        break;
      case "--torch-preload":
        settings.torchPreload = value();
        break;
      case "--timeout":
        settings.timeoutSec = positiveInt(flag, value(), 86_400);
        break;
      default:
        throw invalid(flag, `unknown option "${flag}" (see --help)`);
    }
  }
  if (settings.seqLen < 2) throw invalid("--seq-len", "--seq-len must be at least 2 (a target needs a next token)");
  if (settings.warmup < 1) {
    // The first-step loss both engines report is the warm-up's: taken before any update, from the same weights.
    throw invalid("--warmup", "--warmup must be at least 1 (the first, untimed step gives the losses compared)");
  }
  return settings;
}

function pickList(flag, text, known, what) {
  const asked = text.split(",").map((s) => s.trim().toLowerCase());
  for (const a of asked) {
    if (!known.includes(a)) throw invalid(flag, `unknown ${what} "${a}" (known: ${known.join(", ")})`);
  }
  return known.filter((k) => asked.includes(k));
}

function positiveInt(flag, text, max) {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw invalid(flag, `${flag} expects whole numbers from 1 to ${max}, got "${text}"`);
  }
  return n;
}

function wholeNumber(flag, text, max) {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n > max) {
    throw invalid(flag, `${flag} expects a whole number from 0 to ${max}, got "${text}"`);
  }
  return n;
}

function invalid(flag, message) {
  return new InferenceError({ code: "invalid_argument", op: "bench.training.args", message, details: { option: flag } });
}
