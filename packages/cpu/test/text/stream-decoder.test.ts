// Streaming detokenization with the real tokenizers: pushing ids one at a time yields only complete characters,
// and the concatenated output equals decode(allIds) for emoji, CJK, combining marks and whitespace runs; small
// tokenizers built here cover the decoder kinds the real three do not use (Strip after Fuse, WordPiece).
import { describe, expect, it } from "vitest";
import { createTokenizer, type Tokenizer } from "../../src/text/tokenizer.js";
import { ourTokenizer, REAL_MODELS } from "./real-tokenizers.js";

const TEXTS = [
  "😀👍🏽👨‍👩‍👧‍👦🇺🇸🧑🏿‍🚀 emoji 𝄞 𓀀",
  "中文：你好，世界。日本語：こんにちは。한국어",
  "combining e\u0301a\u0308o\u0302\u0323 zero\u200bwidth \ufeffbom",
  "   runs    of     spaces\t\t\n\n\n  \r\n trailing   ",
];

describe.each(REAL_MODELS)("stream decoder with %s", (name) => {
  it("emits only complete characters and matches decode(allIds)", async () => {
    const tok = await ourTokenizer(name);
    for (const text of TEXTS) {
      const ids = tok.encode(text);
      const d = tok.createDecoder();
      const chunks = ids.map((id) => d.push(id));
      chunks.push(d.flush());
      expect(chunks.join("")).toBe(tok.decode(ids));
      for (const c of chunks) {
        expect(c).not.toContain("\ufffd");
        expect(c).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
      }
    }
  });

  it("holds back a multi-token character until its last byte arrives", async () => {
    const tok = await ourTokenizer(name);
    const ids = tok.encode("𓀀", { addSpecialTokens: false }); // a rare 4-byte character: split over byte tokens
    expect(ids.length).toBeGreaterThan(1);
    const d = tok.createDecoder();
    const outs = ids.map((id) => d.push(id));
    expect(outs.slice(0, -1).join("")).toBe("");
    expect(outs[outs.length - 1]).toBe("𓀀");
    expect(d.flush()).toBe("");
  });

  it("flushes an unfinished character as U+FFFD, as decode does, and can skip special tokens", async () => {
    const tok = await ourTokenizer(name);
    const ids = tok.encode("𓀀", { addSpecialTokens: false }).slice(0, -1);
    const d = tok.createDecoder();
    expect(ids.map((id) => d.push(id)).join("")).toBe("");
    expect(d.flush()).toBe(tok.decode(ids));
    expect(tok.decode(ids)).toContain("\ufffd");

    const eos = tok.eosTokenIds[0] as number;
    const withEos = [...tok.encode("hi", { addSpecialTokens: false }), eos];
    const skip = tok.createDecoder({ skipSpecialTokens: true });
    expect(withEos.map((id) => skip.push(id)).join("") + skip.flush()).toBe("hi");
    expect(tok.decode(withEos, { skipSpecialTokens: true })).toBe("hi");
  });
});

describe("stream decoder with small tokenizers of other decoder kinds", () => {
  const stream = (tok: Tokenizer, ids: number[]): string[] => {
    const d = tok.createDecoder();
    return [...ids.map((id) => d.push(id)), d.flush()];
  };
  const bytes: Record<string, number> = {};
  for (let b = 0; b < 256; b++) bytes[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = b;

  it("Llama 2 style (byte fallback, Fuse, Strip of the first space): only the sequence start loses its space", () => {
    const tok = createTokenizer(
      {
        model: { type: "BPE", vocab: { ...bytes, "▁hello": 256, "▁world": 257, "▁": 258 }, merges: [], byte_fallback: true, ignore_merges: true },
        normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }] },
        pre_tokenizer: { type: "Split", pattern: { Regex: "▁[^▁]*" }, behavior: "Isolated", invert: false },
        decoder: {
          type: "Sequence",
          decoders: [
            { type: "Replace", pattern: { String: "▁" }, content: " " },
            { type: "ByteFallback" },
            { type: "Fuse" },
            { type: "Strip", content: " ", start: 1, stop: 0 },
          ],
        },
      },
      {},
    );
    const ids = tok.encode("hello 😀 world world");
    expect(ids.slice(0, 1)).toEqual([256]);
    expect(ids.slice(-2)).toEqual([257, 257]);
    const chunks = stream(tok, ids);
    expect(chunks.join("")).toBe("hello 😀 world world");
    expect(chunks.join("")).toBe(tok.decode(ids));
    expect(chunks[0]).toBe("hello");
    expect(chunks).toContain(" world");
    expect(chunks.filter((c) => c.includes("😀"))).toEqual(["😀"]);
  });

  it("WordPiece: continuation pieces join their word, new words get a space", () => {
    const tok = createTokenizer(
      {
        model: { type: "WordPiece", vocab: { "[UNK]": 0, hello: 1, wor: 2, "##ld": 3 }, unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100 },
        pre_tokenizer: { type: "Whitespace" },
        decoder: { type: "WordPiece", prefix: "##", cleanup: false },
      },
      {},
    );
    const ids = tok.encode("hello world zzz");
    expect(ids).toEqual([1, 2, 3, 0]);
    expect(tok.encodeLiteral("hello world")).toEqual([1, 2, 3]); // the literal encoder shares the WordPiece model
    expect(stream(tok, ids)).toEqual(["hello", " wor", "ld", " [UNK]", ""]);
    expect(tok.decode(ids)).toBe("hello world [UNK]");
  });
});
