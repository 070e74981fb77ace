// The parent-side steps both benchmark scripts share (run.mjs and training.mjs): settings from the command line or
// the usage text and an exit, logging each engine run with its time, taking this checkout's path out of failure
// reasons, and printing and saving the report. It runs no engine itself (child.mjs, python-child.mjs) and formats
// no table (report.mjs, training-report.mjs).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** One progress line on stderr, so the table on stdout stays clean. */
export const log = (msg) => process.stderr.write(`${msg}\n`);

/**
 * `parse(argv)` of this process's arguments; on a typed error prints it and `usage` to stderr and exits 2, and on
 * --help prints `usage` to stdout and exits 0.
 *
 * @example const settings = settingsOrExit(parseArgs, USAGE);
 */
export function settingsOrExit(parse, usage) {
  let settings;
  try {
    settings = parse(process.argv.slice(2));
  } catch (e) {
    log(`bench: ${e.detail ?? e.message}\n\n${usage}`);
    process.exit(2);
  }
  if (settings.help) {
    console.log(usage);
    process.exit(0);
  }
  return settings;
}

/** The command line saved in the report: `node bench/<script> <args>`. @example commandLine("run.mjs") // "node bench/run.mjs --quick" */
export function commandLine(script) {
  return `node bench/${script} ${process.argv.slice(2).join(" ")}`.trim();
}

/**
 * Runs `fn` (one engine, one configuration), logging `what` before and after with the seconds taken: on success
 * with `describe(result)` in brackets, on failure with its reason. Returns `fn`'s result.
 */
export async function timed(what, fn, describe) {
  const t = performance.now();
  log(`bench: ${what} ...`);
  const result = await fn();
  const s = ((performance.now() - t) / 1000).toFixed(0);
  if (result.ok) {
    log(`bench: ${what} done in ${s} s (${describe(result)})`);
  } else {
    log(`bench: ${what} n/a after ${s} s: ${result.reason}`);
  }
  return result;
}

/** The result with this checkout's absolute path taken out of its reason, so saved reports do not name the machine. */
export function withoutRepoRoot(result) {
  if (result.ok) return result;
  return { ...result, reason: String(result.reason).split(repoRoot).join("") };
}

/**
 * Prints `markdown` to stdout and saves it and `json` as `<prefix>quick.*` in bench/.cache/ (`quick`) or
 * `<prefix>latest.*` in bench/results/; `base`, when given, replaces "quick" / "latest" in the file name.
 *
 * @example await publishReport({ quick: true, prefix: "training-", markdown, json: report }) // bench/.cache/training-quick.md, .json
 * @example await publishReport({ quick: false, prefix: "", base: "smollm2-360m-bf16-q8_0", markdown, json }) // bench/results/smollm2-360m-bf16-q8_0.md, .json
 */
export async function publishReport({ quick, prefix, base: baseName, markdown, json }) {
  const benchDir = fileURLToPath(new URL("../", import.meta.url));
  process.stdout.write(`\n${markdown}`);
  const outDir = quick ? join(benchDir, ".cache") : join(benchDir, "results");
  const base = `${prefix}${baseName ?? (quick ? "quick" : "latest")}`;
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, `${base}.md`), markdown);
  await writeFile(join(outDir, `${base}.json`), JSON.stringify(json, null, 2) + "\n");
  log(`bench: wrote ${join(outDir, `${base}.md`)} and ${base}.json`);
}
