// The flag-reading pieces both benchmarks' command lines share (args.mjs for run.mjs, training-args.mjs for
// training.mjs): the walk over argv with the flags both have (--quick, --help, --threads, --timeout) and unknown
// flags, and the checks of whole numbers and comma-separated choices, each failing with a typed `invalid_argument`
// error naming the flag. It knows neither benchmark's own flags nor any defaults.
import { InferenceError } from "@dappcore/inference";

/**
 * Walks `argv`, setting `settings.help` for --help / -h, `settings.threads` for --threads (distinct counts, 1 to 256)
 * and `settings.timeoutSec` for --timeout (1 to 86400 s), skipping --quick (the caller reads it up front) and
 * handing every other flag to `onFlag(flag, value)`, where `value()` takes the next argument (throwing if there is
 * none or it is a flag). `onFlag` returns false for a flag it does not know, which throws. Errors carry `op`.
 *
 * @example walkFlags(["--runs", "2"], settings, "bench.args", (flag, value) => flag === "--runs" && ((settings.runs = Number(value())), true))
 */
export function walkFlags(argv, settings, op, onFlag) {
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith("--")) throw invalidArgument(op, flag, `${flag} needs a value`);
      i++;
      return v;
    };
    if (flag === "--quick") continue;
    if (flag === "--help" || flag === "-h") {
      settings.help = true;
    } else if (flag === "--threads") {
      settings.threads = positiveIntList(op, flag, value(), 256);
    } else if (flag === "--timeout") {
      settings.timeoutSec = positiveInt(op, flag, value(), 86_400);
    } else if (!onFlag(flag, value)) {
      throw invalidArgument(op, flag, `unknown option "${flag}" (see --help)`);
    }
  }
}

/**
 * The entries of the comma-separated `text` (trimmed, lower-cased) out of `known`, in `known`'s order rather than
 * the order typed; throws naming the first unknown one as a `what`.
 *
 * @example pickList("bench.args", "--weights", "q8_0,f32", ["f32", "bf16", "q8_0"], "weight type") // ["f32", "q8_0"]
 */
export function pickList(op, flag, text, known, what) {
  const asked = text.split(",").map((s) => s.trim().toLowerCase());
  for (const a of asked) {
    if (!known.includes(a)) throw invalidArgument(op, flag, `unknown ${what} "${a}" (known: ${known.join(", ")})`);
  }
  return known.filter((k) => asked.includes(k));
}

/** The distinct whole numbers 1..`max` of the comma-separated `text`, in the order typed. */
export function positiveIntList(op, flag, text, max) {
  return [...new Set(text.split(",").map((s) => positiveInt(op, flag, s, max)))];
}

/** `text` as a whole number from 1 to `max`, or a typed error naming `flag`. */
export function positiveInt(op, flag, text, max) {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw invalidArgument(op, flag, `${flag} expects whole numbers from 1 to ${max}, got "${text}"`);
  }
  return n;
}

/** `text` as a whole number from 0 to `max`, or a typed error naming `flag`. */
export function wholeNumber(op, flag, text, max) {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n > max) {
    throw invalidArgument(op, flag, `${flag} expects a whole number from 0 to ${max}, got "${text}"`);
  }
  return n;
}

/** The `invalid_argument` error for `flag`, with `details.option` naming it. */
export function invalidArgument(op, flag, message) {
  return new InferenceError({ code: "invalid_argument", op, message, details: { option: flag } });
}
