// Tests of bench/lib/format.mjs, the pieces both benchmarks' reports share: cell formats, the machine line, and the
// footnoted n/a cells.
import { describe, expect, it } from "vitest";
import { footnotes, machineLine, mb, ms, rate, times } from "../lib/format.mjs";

const machine = { date: "2026-01-02T03:04:05.000Z", node: "v20.0.0", platform: "linux-x64", cpu: "Test CPU", cores: 2, memoryBytes: 2 ** 34, loadAverage: [0.5, 0.4, 0.3] };

describe("format", () => {
  it("formats cells, with '-' for what was not measured", () => {
    expect([rate(123.4), rate(12.34), rate(1.234), rate(undefined)]).toEqual(["123", "12.3", "1.23", "-"]);
    expect([ms(123.4), ms(12.34), ms(undefined)]).toEqual(["123", "12.3", "-"]);
    expect([mb(2.5e8), mb(undefined), times(0.5), times(undefined)]).toEqual(["250", "-", "0.50x", "-"]);
  });

  it("writes the machine line, with the end load average only when there is one", () => {
    const report = { machine, command: "node bench/run.mjs --quick", elapsedSec: 4.6 };
    expect(machineLine(report)).toBe(
      "2026-01-02 · Node v20.0.0 · linux-x64 · CPU: Test CPU · 2 cores · 16 GiB · load average at start 0.5 / 0.4 / 0.3 · `node bench/run.mjs --quick` took 5 s",
    );
    expect(machineLine({ ...report, machine: { ...machine, loadAverageEnd: [1, 2, 3] } })).toContain("0.3, at end 1 / 2 / 3 · ");
  });

  it("numbers distinct reasons once each and lists every place under its note", () => {
    const notes = footnotes();
    expect(notes.lines()).toEqual([]);
    const value = (s) => String(s.v);
    expect(notes.cell({ ok: true, v: 7 }, value, "ours a")).toBe("7");
    expect(notes.cell({ ok: false, reason: "boom" }, value, "ours a")).toBe("n/a [1]");
    expect(notes.cell({ ok: false, reason: "bang" }, value, "ours b")).toBe("n/a [2]");
    expect(notes.cell({ ok: false, reason: "boom" }, value, "ours c")).toBe("n/a [1]");
    expect(notes.cell({ ok: false, reason: "boom" }, value, "ours a")).toBe("n/a [1]");
    expect(notes.lines()).toEqual(["", "Not measured:", "", "- [1] ours a, ours c: boom", "- [2] ours b: bang"]);
  });
});
