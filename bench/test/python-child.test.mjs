// Tests of bench/lib/python-child.mjs: the result line is found among other output, and a failing, silent,
// garbled or hanging child gives a reason instead of failing the whole benchmark. The stand-in children are Node
// scripts (the protocol does not care what the interpreter is), so no Python is needed.
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseScriptResult, runScriptChild } from "../lib/python-child.mjs";

const fixture = (name) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

describe("parseScriptResult", () => {
  it("returns the last BENCH_RESULT line's object", () => {
    const out = 'noise\nBENCH_RESULT {"ok":false,"reason":"first"}\nBENCH_RESULT {"ok":true,"x":1}\n';
    expect(parseScriptResult(out, "", 0, null)).toEqual({ ok: true, x: 1 });
  });

  it("keeps a failure the child reported itself", () => {
    expect(parseScriptResult('BENCH_RESULT {"ok":false,"reason":"ValueError: bad"}\n', "", 0, null)).toEqual({
      ok: false,
      reason: "ValueError: bad",
    });
  });

  it("names the exit and the last stderr line when there is no result", () => {
    expect(parseScriptResult("", "x\ntrain_torch: cannot import torch (No module named 'torch')\n\n", 3, null)).toEqual({
      ok: false,
      reason: "the engine process ended without a result (exit code 3): train_torch: cannot import torch (No module named 'torch')",
    });
    expect(parseScriptResult("", "", null, "SIGKILL")).toEqual({ ok: false, reason: "the engine process ended without a result (signal SIGKILL)" });
  });

  it("rejects a result line that is not JSON or not an object with ok", () => {
    expect(parseScriptResult("BENCH_RESULT {oops\n", "", 1, null)).toEqual({ ok: false, reason: "the engine's result line is not JSON (exit code 1)" });
    expect(parseScriptResult("BENCH_RESULT [1,2]\n", "", 0, null)).toEqual({
      ok: false,
      reason: 'the engine\'s result is not an object with "ok" (exit code 0)',
    });
  });
});

describe("runScriptChild", () => {
  it("passes the config and environment and returns the child's result", async () => {
    const result = await runScriptChild(process.execPath, fixture("script-ok.mjs"), { threads: 2, ids: [1, 2] }, 20, { BENCH_FIXTURE: "yes" });
    expect(result).toEqual({ ok: true, echo: { threads: 2, ids: [1, 2] }, env: "yes" });
  });

  it("reports a child that fails without a result, with its last stderr line", async () => {
    const result = await runScriptChild(process.execPath, fixture("script-fail.mjs"), {}, 20);
    expect(result).toEqual({
      ok: false,
      reason: "the engine process ended without a result (exit code 5): train_torch: missing tensor model.norm.weight",
    });
  });

  it("stops a child that runs past the timeout", async () => {
    const result = await runScriptChild(process.execPath, fixture("script-hang.mjs"), {}, 1);
    expect(result).toEqual({ ok: false, reason: "stopped after 1 s (--timeout)" });
  });

  it("reports an interpreter that does not exist", async () => {
    const result = await runScriptChild("/nonexistent/python3", fixture("script-ok.mjs"), {}, 20);
    expect(result).toEqual({ ok: false, reason: "could not start /nonexistent/python3: spawn /nonexistent/python3 ENOENT" });
  });
});
