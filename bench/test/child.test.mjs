// Tests of bench/lib/child.mjs: a child's result comes back, and a throwing, crashing or hanging child gives a
// reason instead of failing the whole benchmark.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { describeError, runChild } from "../lib/child.mjs";

const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe("runChild", () => {
  it("returns what the child's body returned", async () => {
    const result = await runChild(fixture("child-ok.mjs"), { threads: 2, ids: [1, 2, 3] }, 20);
    expect(result).toEqual({ ok: true, echo: { threads: 2, ids: [1, 2, 3] } });
  });

  it("turns a thrown typed error into { ok: false, reason: 'code: message' }", async () => {
    const result = await runChild(fixture("child-throws.mjs"), {}, 20);
    expect(result).toEqual({ ok: false, reason: "invalid_argument: threads must be at least 1" });
  });

  it("reports a child that exits without a result", async () => {
    const result = await runChild(fixture("child-crash.mjs"), {}, 20);
    expect(result).toEqual({ ok: false, reason: "the engine process ended without a result (exit code 3)" });
  });

  it("stops a child that runs past the timeout", async () => {
    const result = await runChild(fixture("child-hang.mjs"), {}, 1);
    expect(result).toEqual({ ok: false, reason: "stopped after 1 s (--timeout)" });
  });

  it("peakRssBytes is the child's own peak, not the parent's resident set at the fork", async () => {
    const ballast = Buffer.alloc(400e6, 1); // the parent now holds 400 MB more
    const result = await runChild(fixture("child-rss.mjs"), {}, 20);
    expect(ballast[0]).toBe(1);
    expect(result.ok).toBe(true);
    expect(result.peak).toBeLessThan(200e6); // a bare Node child: tens of MB
    if (process.platform === "linux") expect(result.maxRss).toBeGreaterThan(400e6); // what maxRSS would have said
  });

  it("reports a script that does not exist", async () => {
    const result = await runChild(fixture("no-such-child.mjs"), {}, 20);
    expect(result.ok).toBe(false);
    expect(result.reason).toBe("the engine process ended without a result (exit code 1)");
  });
});

describe("describeError", () => {
  it("names typed errors by code, others by message", () => {
    expect(describeError(Object.assign(new Error("no"), { code: "unsupported" }))).toBe("unsupported: no");
    expect(describeError(new Error("plain"))).toBe("plain");
    expect(describeError("text")).toBe("text");
  });
});
