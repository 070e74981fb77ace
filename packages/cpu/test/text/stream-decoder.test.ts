// Streaming detokenization with the real tokenizers: pushing ids one at a time yields only complete characters,
// and the concatenated output equals decode(allIds) for emoji, CJK, combining marks and whitespace runs.
import { describe, expect, it } from "vitest";
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
