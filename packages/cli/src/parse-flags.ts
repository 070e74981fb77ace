/**
 * Command-line parsing for every subcommand: node:util `parseArgs` with its errors turned into `UsageError`s, and
 * the number checks that name the flag and the accepted range. This file is not where flags are declared; each
 * command declares its own, and the shared sampling and loading flags live in `model-flags.ts`.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./cli-failure.js";

export type FlagSpec = NonNullable<ParseArgsConfig["options"]>;
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedFlags {
  readonly values: FlagValues;
  readonly positionals: string[];
}

/** Parses `args` against `options`; unknown flags, missing values and surplus positionals become `UsageError`s. */
export function parseFlags(command: string, args: readonly string[], options: FlagSpec, maxPositionals: number): ParsedFlags {
  let parsed: { values: FlagValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (e) {
    throw new UsageError(command, describeParseError(e));
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals.slice(maxPositionals).map((p) => JSON.stringify(p)).join(" ");
    const allowed = maxPositionals === 0 ? "no arguments" : `at most ${maxPositionals} argument${maxPositionals === 1 ? "" : "s"}`;
    throw new UsageError(command, `unexpected argument ${extra} (takes ${allowed})`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

/**
 * `--max-tokens -5` would read "-5" as a flag; joined as `--max-tokens=-5` it reaches the range check, which says
 * what the flag accepts.
 */
function joinNegativeValues(args: readonly string[], options: FlagSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    const name = arg.startsWith("--") ? arg.slice(2) : arg.length === 2 && arg.startsWith("-")
      ? Object.keys(options).find((k) => options[k].short === arg.slice(1))
      : undefined;
    if (name !== undefined && options[name]?.type === "string" && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function describeParseError(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  const quoted = /'([^']+)'/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && quoted !== undefined) return `unknown flag "${quoted}"`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && quoted !== undefined) {
    const flag = quoted.split(" ").find((part) => part.startsWith("--")) ?? quoted;
    if (/argument missing/.test(message)) return `flag "${flag}" needs a value`;
    if (/ambiguous/.test(message)) return `flag "${flag}" needs a value (write ${flag}=VALUE for a value that starts with "-")`;
    return `flag "${flag}" does not take a value`;
  }
  return message.split(". ")[0];
}

/** A string flag's value, or undefined when absent. */
export function stringFlag(values: FlagValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A repeatable string flag's values, [] when absent. */
export function listFlag(values: FlagValues, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
}

/** A boolean flag: true when given. */
export function boolFlag(values: FlagValues, name: string): boolean {
  return values[name] === true;
}

const integerPattern = /^\+?\d+$/;
const decimalPattern = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** An integer flag `>= min` (and `<= max` when given); absent gives undefined. */
export function integerFlag(command: string, values: FlagValues, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  const n = integerPattern.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new UsageError(command, `--${name} must be ${range}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * The accepted range of a decimal flag: `min` is required, `max` defaults to no upper bound, `minExclusive` (default
 * false) makes the lower bound open. `{ min: 0, minExclusive: true }` is "> 0".
 */
export interface DecimalRange {
  readonly min: number;
  readonly max?: number;
  readonly minExclusive?: boolean;
}

/** A finite decimal flag inside `range`; absent gives undefined. */
export function decimalFlag(command: string, values: FlagValues, name: string, range: DecimalRange): number | undefined {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  const n = decimalPattern.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  const max = range.max ?? Number.POSITIVE_INFINITY;
  const belowMin = range.minExclusive ? n <= range.min : n < range.min;
  if (!Number.isFinite(n) || belowMin || n > max) {
    const lower = range.minExclusive ? `> ${range.min}` : `>= ${range.min}`;
    const text = max === Number.POSITIVE_INFINITY
      ? `a number ${lower}`
      : `a number in ${range.minExclusive ? "(" : "["}${range.min}, ${max}]`;
    throw new UsageError(command, `--${name} must be ${text}, got ${JSON.stringify(raw)}`);
  }
  return n;
}
