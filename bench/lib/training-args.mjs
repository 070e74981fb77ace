// Parses the command line of `node bench/training.mjs` into the training benchmark's settings. It only reads and
// validates flags; it runs nothing and knows nothing of the engines. Not the inference benchmark's flags (args.mjs).
import { invalidArgument, pickList, positiveInt, walkFlags, wholeNumber } from "./cli-args.mjs";

const OP = "bench.training.args";

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
  walkFlags(argv, settings, OP, (flag, value) => {
    switch (flag) {
      case "--models":
        settings.models = pickList(OP, flag, value(), TRAINING_MODELS, "model");
        return true;
      case "--modes":
        settings.modes = pickList(OP, flag, value(), TRAINING_MODES, "mode");
        return true;
      case "--batch":
        settings.batch = positiveInt(OP, flag, value(), 1024);
        return true;
      case "--seq-len":
        settings.seqLen = positiveInt(OP, flag, value(), 4096);
        return true;
      case "--warmup":
        settings.warmup = wholeNumber(OP, flag, value(), 100);
        return true;
      case "--steps":
        settings.steps = positiveInt(OP, flag, value(), 1000);
        return true;
      case "--python":
        settings.python = value();
        return true;
      case "--torch-preload":
        settings.torchPreload = value();
        return true;
      default:
        return false;
    }
  });
  if (settings.seqLen < 2) throw invalidArgument(OP, "--seq-len", "--seq-len must be at least 2 (a target needs a next token)");
  if (settings.warmup < 1) {
    // The first-step loss both engines report is the warm-up's: taken before any update, from the same weights.
    throw invalidArgument(OP, "--warmup", "--warmup must be at least 1 (the first, untimed step gives the losses compared)");
  }
  return settings;
}
