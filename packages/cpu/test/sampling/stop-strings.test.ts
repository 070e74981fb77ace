// The streaming stop-string matcher: held-back prefixes, stop strings spanning many pieces, overlapping and nested
// stops, independence from piece boundaries (checked against a whole-text reference), flush, and its errors.
import { describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { createRng } from "../../src/sampling/rng.js";
import { createStopMatcher } from "../../src/sampling/stop-strings.js";

function feed(stops: string[], pieces: string[]) {
  const m = createStopMatcher(stops);
  const emits: string[] = [];
  let stopped = false;
  for (const piece of pieces) {
    const r = m.push(piece);
    emits.push(r.emit);
    stopped = r.stopped;
  }
  const tail = m.flush();
  return { emits, text: emits.join("") + tail, tail, stopped, matched: m.matched };
}

/** The whole-text answer: text up to the start of the stop string that ends first (the longer one on a tie). */
function reference(stops: string[], text: string): { text: string; matched: string | undefined } {
  for (let end = 1; end <= text.length; end++) {
    const done = stops
      .filter((s) => s.length <= end && text.slice(end - s.length, end) === s)
      .sort((a, b) => b.length - a.length);
    if (done.length > 0) return { text: text.slice(0, end - done[0].length), matched: done[0] };
  }
  return { text, matched: undefined };
}

function expectInvalid(fn: () => unknown, message: string) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InferenceError);
    expect((e as InferenceError).code).toBe("invalid_argument");
    expect((e as InferenceError).message).toBe(message);
    return;
  }
  throw new Error("expected an InferenceError");
}

describe("createStopMatcher", () => {
  it("passes everything through when there are no stop strings", () => {
    const r = feed([], ["a", "b<", "|end"]);
    expect(r.emits).toEqual(["a", "b<", "|end"]);
    expect(r.tail).toBe("");
    expect(r.stopped).toBe(false);
  });

  it("stops inside one piece, emitting what comes before and nothing after", () => {
    const m = createStopMatcher(["STOP"]);
    expect(m.push("hello STOP world")).toEqual({ emit: "hello ", stopped: true });
    expect(m.stopped).toBe(true);
    expect(m.matched).toBe("STOP");
    expect(m.push("more")).toEqual({ emit: "", stopped: true });
    expect(m.flush()).toBe("");
  });

  it("holds back a stop string spread over many pieces until it completes", () => {
    const r = feed(["<|end|>"], ["abc<", "|e", "nd", "|>", "after"]);
    expect(r.emits).toEqual(["abc", "", "", "", ""]);
    expect(r.stopped).toBe(true);
    expect(r.matched).toBe("<|end|>");
  });

  it("releases held text once it can no longer start a stop string", () => {
    const m = createStopMatcher(["\n\nUser:"]);
    expect(m.push("Hi!\n")).toEqual({ emit: "Hi!", stopped: false });
    expect(m.push("\nUs")).toEqual({ emit: "", stopped: false });
    expect(m.push("ually")).toEqual({ emit: "\n\nUsually", stopped: false });
    expect(m.stopped).toBe(false);
    expect(m.matched).toBeUndefined();
  });

  it("keeps the longest pending prefix when a false start overlaps a real one", () => {
    // "aab" in "aaab": after "aaa" only the last "aa" can still start it.
    expect(feed(["aab"], ["a", "a", "a", "b", "c"]).emits).toEqual(["", "", "a", "", ""]);
    expect(feed(["abab"], ["ab", "ab", "ab"]).emits).toEqual(["", "", ""]);
    expect(feed(["abac"], ["ab", "ab", "ac"]).emits).toEqual(["", "ab", ""]);
  });

  it("flushes held text at the end of a stream without a stop", () => {
    const m = createStopMatcher(["STOP"]);
    expect(m.push("xST")).toEqual({ emit: "x", stopped: false });
    expect(m.flush()).toBe("ST");
    expect(m.flush()).toBe("");
  });

  it("stops at the stop string that completes first when several overlap", () => {
    // "bc" completes at 3, before "abcd" at 4.
    expect(feed(["abcd", "bc"], ["abcd"]).text).toBe("a");
    expect(feed(["abcd", "bc"], ["a", "b", "c", "d"]).text).toBe("a");
    // Same end: the longer one, which starts earlier, wins.
    const same = feed(["bc", "abc"], ["xabc"]);
    expect(same.text).toBe("x");
    expect(same.matched).toBe("abc");
    // A stop that is a prefix of another completes first.
    expect(feed(["ab", "abc"], ["zabc"]).matched).toBe("ab");
  });

  it("handles stop strings of astral characters split between pieces", () => {
    const r = feed(["🛑"], ["go \uD83D", "\uDED1 no"]);
    expect(r.emits).toEqual(["go ", ""]);
    expect(r.stopped).toBe(true);
  });

  it("gives the whole-text answer for any split of the text into pieces", () => {
    const gen = createRng(31);
    const alphabet = "ab\n<|>";
    const randomText = (len: number) =>
      Array.from({ length: len }, () => alphabet[Math.floor(gen.nextFloat() * alphabet.length)]).join("");
    for (let c = 0; c < 400; c++) {
      const stops = Array.from({ length: 1 + Math.floor(gen.nextFloat() * 3) }, () =>
        randomText(1 + Math.floor(gen.nextFloat() * 4)),
      );
      const text = randomText(Math.floor(gen.nextFloat() * 30));
      const pieces: string[] = [];
      for (let i = 0; i < text.length; ) {
        const len = 1 + Math.floor(gen.nextFloat() * 5);
        pieces.push(text.slice(i, i + len));
        i += len;
      }
      const got = feed(stops, pieces);
      const want = reference(stops, text);
      const where = JSON.stringify({ stops, pieces });
      expect(got.text, where).toBe(want.text);
      expect(got.matched, where).toBe(want.matched);
      expect(got.stopped, where).toBe(want.matched !== undefined);
    }
  });

  it("rejects stop lists that are not arrays of non-empty strings, and non-string text", () => {
    expectInvalid(
      () => createStopMatcher("STOP" as unknown as string[]),
      "cpu.createStopMatcher: stops must be an array of strings",
    );
    expectInvalid(
      () => createStopMatcher(["a", ""]),
      'cpu.createStopMatcher: stop strings must be non-empty strings, got "" at index 1',
    );
    expectInvalid(
      () => createStopMatcher([7 as unknown as string]),
      "cpu.createStopMatcher: stop strings must be non-empty strings, got number at index 0",
    );
    expectInvalid(
      () => createStopMatcher(["a"]).push(undefined as unknown as string),
      "cpu.stopMatcher.push: text must be a string, got undefined",
    );
  });
});
