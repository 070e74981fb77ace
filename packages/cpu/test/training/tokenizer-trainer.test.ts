// Tests of the byte-level BPE trainer: the trained merges, made into tokenizer.json by byteLevelTokenizer and loaded by
// the package's tokenizer, round-trip text exactly and reproduce the trainer's own segmentation; determinism and the
// documented tie-break; special tokens; every option error. The full King James corpus check runs only where Debian's
// `bible` command is installed (apt-get install bible-kjv).
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { isInferenceError } from "@dappcore/inference";
import { byteLevelTokenizer } from "../../src/checkpoint/byte-level-tokenizer.js";
import { createTokenizer, type Tokenizer } from "../../src/text/tokenizer.js";
import { trainByteLevelBPE, type ByteLevelBPE } from "../../src/training/tokenizer-trainer.js";

const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

// Public domain: Genesis 1:1-5 and Psalm 23:1-4 (King James Version), and the opening of the Gettysburg Address.
const PUBLIC_DOMAIN = [
  "Genesis 1\nIn the beginning God created the heaven and the earth.\n" +
    "And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.\n" +
    "And God said, Let there be light: and there was light.\n" +
    "And God saw the light, that it was good: and God divided the light from the darkness.\n" +
    "And God called the light Day, and the darkness he called Night. And the evening and the morning were the first day.",
  "Psalms 23\nThe LORD is my shepherd; I shall not want.\nHe maketh me to lie down in green pastures: he leadeth me beside the still waters.\n" +
    "He restoreth my soul: he leadeth me in the paths of righteousness for his name's sake.\n" +
    "Yea, though I walk through the valley of the shadow of death, I will fear no evil: for thou art with me; thy rod and thy staff they comfort me.",
  "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, " +
    "and dedicated to the proposition that all men are created equal.\nNow we are engaged in a great civil war, testing whether " +
    "that nation, or any nation so conceived and so dedicated, can long endure. We're met on a great battle-field of that war (1863).",
];

// Text the trainer never saw: other scripts, emoji, odd whitespace, contractions, digits.
const UNSEEN = [
  "héllo wörld — naïve café, Ελληνικά, русский 😀👍🏽 中文",
  "   leading spaces, runs    of     spaces\t\ttabs\n\n\nnewlines\r\n  trailing   ",
  "I'm sure they'LL say we've 12345 3.14159 $1,000.00",
  "",
];

function tokenizerOf(bpe: ByteLevelBPE): Tokenizer {
  const files = byteLevelTokenizer(bpe.merges, bpe.specialTokens);
  expect(files.vocabSize).toBe(bpe.vocabSize);
  return createTokenizer(files.tokenizer, files.tokenizerConfig);
}

function expectInferenceError(fn: () => unknown, code: string, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(isInferenceError(thrown)).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  expect((thrown as Error).message).toMatch(message);
}

describe("trainByteLevelBPE on a small public-domain text", () => {
  const bpe = trainByteLevelBPE(PUBLIC_DOMAIN, { vocabSize: 380, specialTokens: SPECIALS });
  const tok = tokenizerOf(bpe);

  it("fills the vocabulary it was asked for and reports its counts", () => {
    expect(bpe.vocabSize).toBe(380);
    expect(tok.vocabSize).toBe(380);
    expect(bpe.merges.length).toBeGreaterThanOrEqual(380 - 256 - SPECIALS.length);
    expect(bpe.byteCount).toBe(PUBLIC_DOMAIN.reduce((n, t) => n + Buffer.byteLength(t), 0));
    expect(bpe.uniqueWordCount).toBeLessThan(bpe.wordCount);
    expect(bpe.tokenCount).toBeLessThan(bpe.byteCount);
    for (const s of SPECIALS) expect(tok.specialTokenIds.has(tok.tokenToId(s)!)).toBe(true);
    expect(tok.tokenToId("<|endoftext|>")).toBe(380 - SPECIALS.length);
  });

  it("spells merges in the GPT-2 byte alphabet", () => {
    // " the" is the most frequent word of this text; a space is Ġ and a newline Ċ in that alphabet.
    expect(bpe.merges.some(([a, b]) => a + b === "Ġthe")).toBe(true);
    expect(bpe.merges.flat().join("")).not.toMatch(/[ \n]/);
  });

  it("round-trips the training text and unseen text exactly through tokenizer.json", () => {
    for (const text of [...PUBLIC_DOMAIN, PUBLIC_DOMAIN.join("\n\n"), ...UNSEEN]) {
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
  });

  it("segments the training text as the tokenizer does (same token count)", () => {
    const encoded = PUBLIC_DOMAIN.reduce((n, t) => n + tok.encode(t).length, 0);
    expect(encoded).toBe(bpe.tokenCount);
  });

  it("encodes the common words of the text as single tokens", () => {
    for (const word of [" the", " God", " and", " light", "And"]) {
      expect(tok.encode(word), word).toHaveLength(1);
      expect(tok.decode(tok.encode(word))).toBe(word);
    }
  });

  it("is deterministic and does not depend on the order of the texts", () => {
    const again = trainByteLevelBPE([...PUBLIC_DOMAIN].reverse(), { vocabSize: 380, specialTokens: SPECIALS });
    expect(again.merges).toEqual(bpe.merges);
  });
});

describe("trainByteLevelBPE rules", () => {
  it("breaks ties by the lower left token id, then the lower right token id", () => {
    // Every pair occurs once: (a,b) beats (c,d) on the left id (97 < 99), (a,b) beats (a,c) on the right id.
    const one = trainByteLevelBPE(["cd", "ac", "ab"], { vocabSize: 257, specialTokens: [], minFrequency: 1 });
    expect(one.merges).toEqual([["a", "b"]]);
    // A higher count beats any id: (x,y) occurs twice.
    const two = trainByteLevelBPE(["ab", "xy", "xy"], { vocabSize: 257, specialTokens: [], minFrequency: 1 });
    expect(two.merges).toEqual([["x", "y"]]);
  });

  it("stops before the vocabulary is full when no pair reaches minFrequency", () => {
    const bpe = trainByteLevelBPE(["abab abab", "cd"], { vocabSize: 1000, specialTokens: [] });
    // "abab" twice, " abab" once: (a,b) x6, then (ab,ab) x3, then (Ġ,abab) once, so it stops; (c,d) occurs once.
    expect(bpe.merges).toEqual([["a", "b"], ["ab", "ab"]]);
    expect(bpe.vocabSize).toBe(258);
    expect(trainByteLevelBPE(["abab abab", "cd"], { vocabSize: 1000, specialTokens: [], minFrequency: 4 }).merges).toEqual([["a", "b"]]);
    const all = trainByteLevelBPE(["abab abab", "cd"], { vocabSize: 1000, specialTokens: [], minFrequency: 1 });
    expect(all.merges.length).toBe(4);
    expect(all.tokenCount).toBe(3); // "abab", " abab", "cd"
  });

  it("cuts special tokens out of the text before counting, as the tokenizer does", () => {
    const text = Array.from({ length: 20 }, (_, i) => `verse ${i} ends<|endoftext|>`).join("");
    const bpe = trainByteLevelBPE([text], { vocabSize: 320, specialTokens: SPECIALS });
    expect(bpe.merges.flat().join(" ")).not.toMatch(/<\||\|>/);
    expect(bpe.byteCount).toBe(Buffer.byteLength(text) - 20 * "<|endoftext|>".length);
    const tok = tokenizerOf(bpe);
    const ids = tok.encode(text);
    expect(ids.filter((id) => id === tok.tokenToId("<|endoftext|>"))).toHaveLength(20);
    expect(tok.decode(ids)).toBe(text);
    expect(ids.length - 20).toBe(bpe.tokenCount);
  });

  it("agrees with the tokenizer's segmentation on random texts (seeded)", () => {
    let seed = 12345;
    const rnd = (n: number): number => Math.floor(((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * n);
    for (let trial = 0; trial < 200; trial++) {
      const alphabet = "abc d\n'é".slice(0, 2 + rnd(7));
      const texts = Array.from({ length: 1 + rnd(4) }, () => Array.from({ length: 1 + rnd(60) }, () => alphabet[rnd(alphabet.length)]).join(""));
      const bpe = trainByteLevelBPE(texts, { vocabSize: 256 + rnd(60), specialTokens: [], minFrequency: 1 });
      const tok = tokenizerOf(bpe);
      let count = 0;
      for (const text of texts) {
        const ids = tok.encode(text);
        expect(tok.decode(ids)).toBe(text);
        count += ids.length;
      }
      expect(count, JSON.stringify(texts)).toBe(bpe.tokenCount);
    }
  });

  it("trains multi-byte characters into tokens that decode back", () => {
    const text = "naïve café naïve café naïve café — 😀 😀 😀";
    const bpe = trainByteLevelBPE([text], { vocabSize: 300, specialTokens: [] });
    const tok = tokenizerOf(bpe);
    expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.encode(" café")).toHaveLength(1);
    expect(tok.encode(text).length).toBe(bpe.tokenCount);
  });
});

describe("trainByteLevelBPE errors", () => {
  it("rejects a vocabulary smaller than the bytes plus the special tokens", () => {
    expectInferenceError(
      () => trainByteLevelBPE(PUBLIC_DOMAIN, { vocabSize: 258, specialTokens: SPECIALS }),
      "invalid_argument",
      /cpu\.trainByteLevelBPE: vocabSize 258 is smaller than the 256 byte tokens plus 3 special tokens/,
    );
    expectInferenceError(() => trainByteLevelBPE(PUBLIC_DOMAIN, { vocabSize: 255, specialTokens: [] }), "invalid_argument", /vocabSize 255 is smaller/);
  });

  it("rejects a vocabulary size that is not an integer or is too large", () => {
    for (const vocabSize of [4096.5, Number.NaN, 1 << 22]) {
      expectInferenceError(() => trainByteLevelBPE(PUBLIC_DOMAIN, { vocabSize, specialTokens: [] }), "invalid_argument", /vocabSize must be an integer no larger than 2097152/);
    }
  });

  it("rejects an empty corpus", () => {
    for (const texts of [[], [""], ["<|endoftext|><|im_end|>"]]) {
      expectInferenceError(
        () => trainByteLevelBPE(texts, { vocabSize: 512, specialTokens: SPECIALS }),
        "invalid_argument",
        /cpu\.trainByteLevelBPE: the training corpus is empty \(no text outside special tokens\)/,
      );
    }
    expectInferenceError(() => trainByteLevelBPE((function* () {})(), { vocabSize: 512, specialTokens: [] }), "invalid_argument", /corpus is empty/);
  });

  it("rejects bad special tokens and minFrequency", () => {
    expectInferenceError(() => trainByteLevelBPE(PUBLIC_DOMAIN, { vocabSize: 512, specialTokens: ["<s>", "<s>"] }), "invalid_argument", /special token "<s>" is listed twice/);
    expectInferenceError(() => trainByteLevelBPE(PUBLIC_DOMAIN, { vocabSize: 512, specialTokens: [""] }), "invalid_argument", /a special token must be a non-empty string/);
    expectInferenceError(
      () => trainByteLevelBPE(PUBLIC_DOMAIN, { vocabSize: 512, specialTokens: "<s>" as unknown as string[] }),
      "invalid_argument",
      /specialTokens must be an array of strings/,
    );
    for (const minFrequency of [0, 1.5, -2]) {
      expectInferenceError(
        () => trainByteLevelBPE(PUBLIC_DOMAIN, { vocabSize: 512, specialTokens: [], minFrequency }),
        "invalid_argument",
        new RegExp(`minFrequency must be an integer of at least 1, got ${minFrequency}`),
      );
    }
  });

  it("rejects a text that is not a string", () => {
    expectInferenceError(
      () => trainByteLevelBPE(["fine", 42 as unknown as string], { vocabSize: 512, specialTokens: [] }),
      "invalid_argument",
      /training text 1 is a number, not a string/,
    );
  });
});

const HAVE_BIBLE = existsSync("/usr/bin/bible");

describe.skipIf(!HAVE_BIBLE)("trainByteLevelBPE on the King James Bible (needs /usr/bin/bible: apt-get install bible-kjv)", () => {
  it("trains a 4096 vocabulary that round-trips, keeps common words whole and compresses below 0.3 tokens per byte", async () => {
    const corpus = (await import(new URL("../../../../scripts/demo-model/corpus.mjs", import.meta.url).href)) as {
      readBible(bible?: string): string;
      parseBible(output: string): unknown[];
      splitChapters(chapters: unknown[], evalEvery?: number): { train: unknown[]; eval: unknown[] };
      chapterText(chapter: unknown): string;
    };
    const { train, eval: held } = corpus.splitChapters(corpus.parseBible(corpus.readBible("/usr/bin/bible")));
    const trainTexts = train.map(corpus.chapterText);
    const evalTexts = held.map(corpus.chapterText);

    const bpe = trainByteLevelBPE(trainTexts, { vocabSize: 4096, specialTokens: SPECIALS });
    expect(bpe.vocabSize).toBe(4096);
    expect(bpe.tokenCount / bpe.byteCount).toBeLessThan(0.3);

    const tok = tokenizerOf(bpe);
    let evalTokens = 0;
    let evalBytes = 0;
    for (const text of evalTexts) {
      const ids = tok.encode(text);
      expect(tok.decode(ids)).toBe(text);
      evalTokens += ids.length;
      evalBytes += Buffer.byteLength(text);
    }
    expect(evalTokens / evalBytes).toBeLessThan(0.3);
    // The whole training text: the tokenizer reproduces the trainer's segmentation; a sample round-trips exactly.
    let trainTokens = 0;
    trainTexts.forEach((text, i) => {
      const ids = tok.encode(text);
      trainTokens += ids.length;
      if (i % 40 === 0) expect(tok.decode(ids)).toBe(text);
    });
    expect(trainTokens).toBe(bpe.tokenCount);
    for (const word of [" the", " LORD", " God", " unto", " Israel", " shall", "And", " said", " children", "\n"]) {
      expect(tok.encode(word), JSON.stringify(word)).toHaveLength(1);
    }
    console.log(
      `kjv bpe 4096: train ${bpe.tokenCount} tokens / ${bpe.byteCount} bytes = ${(bpe.tokenCount / bpe.byteCount).toFixed(4)}; ` +
        `eval ${evalTokens} tokens / ${evalBytes} bytes = ${(evalTokens / evalBytes).toFixed(4)}`,
    );
  });
});
