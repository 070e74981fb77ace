// Tests of scripts/demo-model/corpus.mjs, the demo model's corpus builder: parsing `bible` output into chapters, the
// held-out split, the JSONL it writes, and each command-line error (a missing `bible` says how to install it). The
// whole-Bible run is checked only where Debian's `bible` command is installed (apt-get install bible-kjv).
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

interface Chapter {
  book: string;
  chapter: number;
  verses: string[];
}
interface CorpusModule {
  parseBible(output: string): Chapter[];
  splitChapters(chapters: Chapter[], evalEvery?: number): { train: Chapter[]; eval: Chapter[] };
  chapterText(chapter: Chapter): string;
  writeCorpus(outDir: string, chapters: Chapter[], evalEvery?: number): Record<string, unknown>;
  CorpusError: new (message: string) => Error;
}

const SCRIPT = fileURLToPath(new URL("../../../../scripts/demo-model/corpus.mjs", import.meta.url));
const corpus = (await import(SCRIPT)) as CorpusModule;
const work = mkdtempSync(join(tmpdir(), "demo-corpus-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// The shape `bible -l<width> <range>` prints, with a wrapped verse, a double space and trailing spaces.
const SAMPLE = [
  "",
  "Genesis 1",
  "",
  "  1 In the beginning God created the heaven and the earth.",
  "  2 And the earth was without form, and void; and darkness was upon the face of",
  "the deep. And the Spirit of God moved upon the face of the waters. ",
  "",
  "Song of Solomon 2",
  "",
  "  1 I am the rose of Sharon,  and the lily of the valleys.",
  "",
  "1 John 4",
  "",
  "  8 He that loveth not knoweth not God; for God is love.   ",
  "",
].join("\n");

const run = (...args: string[]) => spawnSync(process.execPath, [SCRIPT, ...args], { encoding: "utf8" });

describe("corpus.mjs parsing and split", () => {
  it("parses chapters, joins wrapped verses and normalises whitespace", () => {
    expect(corpus.parseBible(SAMPLE)).toEqual([
      {
        book: "Genesis",
        chapter: 1,
        verses: [
          "In the beginning God created the heaven and the earth.",
          "And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.",
        ],
      },
      { book: "Song of Solomon", chapter: 2, verses: ["I am the rose of Sharon, and the lily of the valleys."] },
      { book: "1 John", chapter: 4, verses: ["He that loveth not knoweth not God; for God is love."] },
    ]);
  });

  it("writes a chapter as its heading and one verse per line, without verse numbers", () => {
    const [genesis] = corpus.parseBible(SAMPLE);
    expect(corpus.chapterText(genesis!)).toBe(
      "Genesis 1\nIn the beginning God created the heaven and the earth.\nAnd the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.",
    );
  });

  it("holds out every n-th chapter", () => {
    const chapters = Array.from({ length: 7 }, (_, i) => ({ book: "Psalms", chapter: i + 1, verses: ["Selah."] }));
    const { train, eval: held } = corpus.splitChapters(chapters, 3);
    expect(held.map((c) => c.chapter)).toEqual([3, 6]);
    expect(train.map((c) => c.chapter)).toEqual([1, 2, 4, 5, 7]);
    expect(() => corpus.splitChapters(chapters, 1)).toThrow(/--eval-every must be an integer of at least 2, got 1/);
  });

  it("writes train.jsonl, eval.jsonl and corpus.json", () => {
    const out = join(work, "sample");
    const summary = corpus.writeCorpus(out, corpus.parseBible(SAMPLE), 2);
    const read = (f: string) => readFileSync(join(out, f), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as { text: string });
    expect(read("train.jsonl").map((d) => d.text.split("\n")[0])).toEqual(["Genesis 1", "1 John 4"]);
    expect(read("eval.jsonl")).toEqual([{ text: "Song of Solomon 2\nI am the rose of Sharon, and the lily of the valleys." }]);
    expect(JSON.parse(readFileSync(join(out, "corpus.json"), "utf8"))).toEqual(summary);
    expect(summary).toMatchObject({ chapters: 3, evalEvery: 2, train: { documents: 2, verses: 3 }, eval: { documents: 1, verses: 1 } });
  });

  it("rejects output it does not understand", () => {
    expect(() => corpus.parseBible("\nnot a heading\n")).toThrow(corpus.CorpusError);
    expect(() => corpus.parseBible("\nnot a heading\n")).toThrow(/corpus: unexpected line in the bible output: "not a heading"/);
    expect(() => corpus.parseBible("  1 In the beginning")).toThrow(/corpus: verse text before any chapter heading/);
    expect(() => corpus.parseBible("\nGenesis 1\n\n  1 In the beginning\n\nExodus 1\nwrapped text")).toThrow(
      /corpus: text before the first verse of Exodus 1/,
    );
  });
});

describe("corpus.mjs command line", () => {
  it("says how to install bible when the command is missing", () => {
    const r = run(join(work, "none"), "--bible=/nonexistent/bible");
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe("corpus: the `/nonexistent/bible` command was not found; install it with: apt-get install bible-kjv");
    expect(existsSync(join(work, "none"))).toBe(false);
  });

  it("reports a bible command that fails or prints nothing", () => {
    const failing = join(work, "failing-bible");
    writeFileSync(failing, "#!/bin/sh\necho 'no data file' >&2\nexit 3\n");
    chmodSync(failing, 0o755);
    const r = run(join(work, "out"), `--bible=${failing}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`corpus: \`${failing}\` exited with status 3: no data file`);
    const silent = join(work, "silent-bible");
    writeFileSync(silent, "#!/bin/sh\nexit 0\n");
    chmodSync(silent, 0o755);
    expect(run(join(work, "out"), `--bible=${silent}`).stderr).toContain(`corpus: \`${silent}\` printed no chapters`);
  });

  it("rejects bad arguments with usage", () => {
    expect(run().stderr).toContain("usage: node scripts/demo-model/corpus.mjs <out-dir>");
    expect(run().status).toBe(1);
    expect(run(join(work, "x"), "--frobnicate").stderr).toContain("corpus: unknown option --frobnicate");
    expect(run(join(work, "x"), join(work, "y")).stderr).toContain("corpus: more than one output directory given");
  });
});

describe.skipIf(!existsSync("/usr/bin/bible"))("corpus.mjs on the whole Bible (needs /usr/bin/bible: apt-get install bible-kjv)", () => {
  it("writes 1166 train and 23 eval chapters covering all 31102 verses", () => {
    const out = join(work, "kjv");
    const r = run(out, "--bible=/usr/bin/bible");
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, "corpus.json"), "utf8")) as {
      chapters: number;
      train: { documents: number; verses: number };
      eval: { documents: number; verses: number };
    };
    expect(summary.chapters).toBe(1189);
    expect(summary.train.documents).toBe(1166);
    expect(summary.eval.documents).toBe(23);
    expect(summary.train.verses + summary.eval.verses).toBe(31102);
    const evalDocs = readFileSync(join(out, "eval.jsonl"), "utf8").trimEnd().split("\n").map((l) => (JSON.parse(l) as { text: string }).text);
    expect(evalDocs[0]!.startsWith("Genesis 50\nAnd Joseph fell upon his father's face")).toBe(true);
    for (const doc of evalDocs) expect(doc).not.toMatch(/ {2}|^\s|\s$|\n\d/);
  });
});
