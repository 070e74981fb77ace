import { describe, expect, it } from "vitest";
import { StopHolder } from "../../src/model/stop-holder.js";

const tok = (id: number, text: string) => ({ id, text });

function run(stops: string[], texts: string[]) {
  const h = new StopHolder(stops);
  const out: { id: number; text: string }[] = [];
  let stopped = false;
  for (let i = 0; i < texts.length && !stopped; i++) {
    const r = h.push(tok(i, texts[i]));
    out.push(...r.emit);
    stopped = r.stopped;
  }
  if (!stopped) out.push(...h.flush());
  return { out, stopped };
}

describe("StopHolder", () => {
  it("passes tokens straight through without stop strings", () => {
    expect(run([], ["a", "b"]).out.map((t) => t.text)).toEqual(["a", "b"]);
  });

  it("never emits a stop string spread over several tokens", () => {
    const { out, stopped } = run(["END"], ["hi ", "E", "N", "D", "more"]);
    expect(stopped).toBe(true);
    expect(out.map((t) => t.text).join("")).toBe("hi ");
  });

  it("cuts the token in which the stop string begins", () => {
    const { out } = run(["\n\n"], ["one", "two\n", "\nthree"]);
    expect(out).toEqual([tok(0, "one"), tok(1, "two")]);
  });

  it("releases held tokens when the prefix turns out not to be a stop", () => {
    const { out, stopped } = run(["END"], ["E", "N", "x", "y"]);
    expect(stopped).toBe(false);
    expect(out.map((t) => t.text)).toEqual(["E", "N", "x", "y"]);
  });

  it("flushes a held prefix at the end of the stream", () => {
    const { out } = run(["END"], ["a", "EN"]);
    expect(out.map((t) => t.text)).toEqual(["a", "EN"]);
  });
});
