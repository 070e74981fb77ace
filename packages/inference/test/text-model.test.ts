// A TextModel defined in this test: `await using` disposes it, streams end with a thrown typed error that err()
// also records, and the model guards (isTextModel, isTrainableModel, findInChain) recognise what they should.
import { describe, expect, it } from "vitest";
import {
  findInChain,
  isTextModel,
  isTrainableModel,
  MAX_UNWRAP_DEPTH,
  unwrapChain,
  withMaxTokens,
  withSignal,
  withTopP,
} from "@dappcore/inference";
import { FakeModel } from "./support/fake-backend.js";

describe("TextModel surface", () => {
  it("await using closes the model at the end of the block", async () => {
    let outer: FakeModel;
    {
      await using model = new FakeModel("/m");
      outer = model;
      const texts: string[] = [];
      for await (const t of model.generate("abc", withMaxTokens(2))) texts.push(t.text);
      expect(texts).toEqual(["a", "b"]);
      expect(model.closed).toBe(false);
    }
    expect(outer.closed).toBe(true);
    expect(outer.closeCalls).toBe(1);
  });

  it("a failing stream throws a typed error and records it in err(); the next success clears it", async () => {
    const model = new FakeModel("/m");
    await expect(async () => { for await (const _ of model.generate("abc", withTopP(2))); }).rejects.toMatchObject({
      code: "invalid_argument", message: "inference.withTopP: topP must be a finite number in [0, 1], got 2",
    });
    const e = model.err();
    expect(!e.ok && e.error.code).toBe("invalid_argument");
    const ac = new AbortController();
    ac.abort();
    await expect(async () => { for await (const _ of model.generate("abc", withSignal(ac.signal))); }).rejects.toMatchObject({ code: "aborted" });
    for await (const _ of model.generate("abc"));
    expect(model.err().ok).toBe(true);
  });

  it("recognises text and trainable models", () => {
    const m = new FakeModel("/m");
    expect(isTextModel(m)).toBe(true);
    expect(isTextModel({ generate() {} })).toBe(false);
    expect(isTextModel(null)).toBe(false);
    expect(isTrainableModel(m)).toBe(false);
  });

  it("walks unwrap chains outermost first, bounded and cycle-safe", () => {
    const inner = { name: "inner" };
    const mid = { name: "mid", unwrap: () => inner };
    const outer = { name: "outer", unwrap: () => mid };
    expect(unwrapChain(outer)).toEqual([outer, mid, inner]);
    expect(findInChain(outer, (v): v is { name: string } => (v as { name: string }).name === "inner")).toBe(inner);
    expect(findInChain(outer, (v): v is never => false)).toBeUndefined();
    const self = { unwrap: () => self };
    expect(unwrapChain(self)).toEqual([self]);
    const throwing = { unwrap: () => { throw new Error("x"); } };
    expect(unwrapChain(throwing)).toEqual([throwing]);
    expect(unwrapChain(null)).toEqual([]);
    type Link = { next?: Link; unwrap(): Link | undefined };
    const links: Link[] = [];
    for (let i = 0; i < 40; i++) links.push({ unwrap() { return this.next; } });
    links.forEach((l, i) => { l.next = links[i + 1]; });
    expect(unwrapChain(links[0])).toHaveLength(MAX_UNWRAP_DEPTH + 1);
  });
});
