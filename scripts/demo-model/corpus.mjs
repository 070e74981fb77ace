// Writes the demo model's training corpus: the King James Bible, read from Debian's `bible-kjv` package, one chapter
// per JSONL document, split deterministically into train.jsonl and eval.jsonl (every 50th chapter is held out).
// It does not train anything and does not tokenise; scripts/demo-model/README.md describes the format and the split.
//
//   node scripts/demo-model/corpus.mjs <out-dir> [--eval-every=50] [--bible=/usr/bin/bible]
//
// Plain Node (no build, no dependencies) so that it runs before the packages are built. Importing the module runs
// nothing; `parseBible` and `writeCorpus` are exported for tests.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The verse range that covers the whole Bible in the `bible` command's spec syntax. */
export const WHOLE_BIBLE = "gen1:1-rev22:21";
/** Line width for `bible -l`: wider than any verse (the longest, Esther 8:9, is about 530 characters). */
const LINE_WIDTH = 100000;

/** A fatal problem with a message for the user; the command prints it and exits 1. */
export class CorpusError extends Error {
  name = "CorpusError";
}

/**
 * Parses the plain output of `bible -l<width> <range>`: for each chapter a blank line, a heading line (`Genesis 1`),
 * a blank line, then verses as `  <n> <text>` (continuation lines, if the text was wrapped, are joined back).
 * Returns one `{ book, chapter, verses }` per chapter, with whitespace inside verses collapsed to single spaces.
 */
export function parseBible(output) {
  const chapters = [];
  let current;
  let afterBlank = true;
  for (const raw of output.split("\n")) {
    const line = raw.replace(/\s+$/, "");
    if (line === "") {
      afterBlank = true;
      continue;
    }
    const verse = /^\s+(\d+) (.*)$/.exec(line);
    if (afterBlank && verse === null) {
      const heading = /^(.+) (\d+)$/.exec(line);
      if (heading === null) throw new CorpusError(`corpus: unexpected line in the bible output: ${JSON.stringify(line)}`);
      current = { book: heading[1], chapter: Number(heading[2]), verses: [] };
      chapters.push(current);
    } else if (current === undefined) {
      throw new CorpusError(`corpus: verse text before any chapter heading: ${JSON.stringify(line)}`);
    } else if (verse !== null) {
      current.verses.push(normalise(verse[2]));
    } else {
      // A wrapped verse: the line continues the previous one.
      const last = current.verses.length - 1;
      if (last < 0) throw new CorpusError(`corpus: text before the first verse of ${current.book} ${current.chapter}`);
      current.verses[last] = normalise(`${current.verses[last]} ${line}`);
    }
    afterBlank = false;
  }
  return chapters;
}

const normalise = (text) => text.replace(/\s+/g, " ").trim();

/** A chapter as one document: the heading on its own line, then one verse per line, no verse numbers. */
export const chapterText = (c) => [`${c.book} ${c.chapter}`, ...c.verses].join("\n");

/**
 * Splits chapters (in canonical order) into train and eval: chapter i (0-based) is held out when (i + 1) % evalEvery
 * is 0, i.e. the 50th, 100th, ... chapter of the Bible for the default 50.
 */
export function splitChapters(chapters, evalEvery = 50) {
  if (!Number.isInteger(evalEvery) || evalEvery < 2) throw new CorpusError(`corpus: --eval-every must be an integer of at least 2, got ${evalEvery}`);
  const train = [];
  const evalSet = [];
  chapters.forEach((c, i) => ((i + 1) % evalEvery === 0 ? evalSet : train).push(c));
  return { train, eval: evalSet };
}

/** Runs `bible` and returns its output; a missing command becomes a CorpusError that says how to install it. */
export function readBible(bible = "bible") {
  const r = spawnSync(bible, [`-l${LINE_WIDTH}`, WHOLE_BIBLE], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined) {
    if (r.error.code === "ENOENT") {
      throw new CorpusError(`corpus: the \`${bible}\` command was not found; install it with: apt-get install bible-kjv`);
    }
    throw new CorpusError(`corpus: cannot run \`${bible}\`: ${r.error.message}`);
  }
  if (r.status !== 0) throw new CorpusError(`corpus: \`${bible}\` exited with status ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Writes train.jsonl, eval.jsonl and corpus.json (counts and SHA-256 of each file) into `outDir`; returns the summary. */
export function writeCorpus(outDir, chapters, evalEvery = 50) {
  const { train, eval: evalSet } = splitChapters(chapters, evalEvery);
  mkdirSync(outDir, { recursive: true });
  const summary = { source: "bible-kjv (King James Version, public domain)", chapters: chapters.length, evalEvery };
  for (const [name, set] of [["train", train], ["eval", evalSet]]) {
    const body = set.map((c) => `${JSON.stringify({ text: chapterText(c) })}\n`).join("");
    writeFileSync(join(outDir, `${name}.jsonl`), body);
    summary[name] = {
      file: `${name}.jsonl`,
      documents: set.length,
      verses: set.reduce((n, c) => n + c.verses.length, 0),
      textBytes: set.reduce((n, c) => n + Buffer.byteLength(chapterText(c), "utf8"), 0),
      sha256: createHash("sha256").update(body).digest("hex"),
    };
  }
  writeFileSync(join(outDir, "corpus.json"), `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

function main(argv) {
  let outDir;
  let evalEvery = 50;
  let bible = "bible";
  for (const arg of argv) {
    if (arg.startsWith("--eval-every=")) evalEvery = Number(arg.slice("--eval-every=".length));
    else if (arg.startsWith("--bible=")) bible = arg.slice("--bible=".length);
    else if (arg.startsWith("--")) throw new CorpusError(`corpus: unknown option ${arg}`);
    else if (outDir === undefined) outDir = arg;
    else throw new CorpusError(`corpus: more than one output directory given (${outDir}, ${arg})`);
  }
  if (outDir === undefined) {
    throw new CorpusError("usage: node scripts/demo-model/corpus.mjs <out-dir> [--eval-every=50] [--bible=/usr/bin/bible]");
  }
  const chapters = parseBible(readBible(bible));
  if (chapters.length === 0) throw new CorpusError(`corpus: \`${bible}\` printed no chapters`);
  const summary = writeCorpus(resolve(outDir), chapters, evalEvery);
  console.error(
    `corpus: ${summary.chapters} chapters -> ${summary.train.documents} train (${summary.train.textBytes} bytes), ` +
      `${summary.eval.documents} eval (${summary.eval.textBytes} bytes) in ${resolve(outDir)}`,
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof CorpusError)) throw e;
    console.error(e.message);
    process.exit(1);
  }
}
