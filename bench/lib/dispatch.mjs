// Decides what `npm run bench` runs: the inference benchmark (run.mjs), the training benchmark (training.mjs), or
// both one after the other. Pure: it maps the command line to scripts and their arguments and runs nothing
// (bench/all.mjs does). Not either benchmark's flag parser (args.mjs, training-args.mjs).
import { InferenceError } from "@dappcore/inference";

export const BENCHMARKS = { inference: "run.mjs", training: "training.mjs" };

/** Flags both benchmarks take with the same meaning, so they may be given to `npm run bench` for both at once. */
const SHARED = { "--quick": false, "--help": false, "-h": false, "--threads": true, "--timeout": true };

export const DISPATCH_USAGE = `usage: npm run bench -- [inference|training] [options]

  (nothing)            the inference benchmark, then the training benchmark
  inference ...        only the inference benchmark (bench/run.mjs; see: npm run bench -- inference --help)
  training ...         only the training benchmark (bench/training.mjs; see: npm run bench -- training --help)
  Without a benchmark's name, only the options both take are accepted: --quick, --threads LIST, --timeout S, --help.`;

/**
 * The scripts to run, in order, each with its arguments. Throws `InferenceError` `invalid_argument` for an option
 * only one benchmark takes given without that benchmark's name.
 *
 * @example planBench(["training", "--modes", "lora"]) // [{ name: "training", script: "training.mjs", args: ["--modes", "lora"] }]
 */
export function planBench(argv) {
  const [first, ...rest] = argv;
  if (first !== undefined && Object.hasOwn(BENCHMARKS, first)) return [{ name: first, script: BENCHMARKS[first], args: rest }];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (!Object.hasOwn(SHARED, flag)) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "bench.dispatch",
        message:
          `"${flag}" is not an option both benchmarks take: name the benchmark first ` +
          `(npm run bench -- inference ${flag} ... or npm run bench -- training ${flag} ...)`,
        details: { option: flag },
      });
    }
    if (SHARED[flag]) i++; // its value, checked by each benchmark's own parser
  }
  return Object.entries(BENCHMARKS).map(([name, script]) => ({ name, script, args: [...argv] }));
}
