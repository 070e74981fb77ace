import { beforeEach, describe, expect, it } from "vitest";
import { register } from "@dappcore/inference";
import { runCli } from "../src/main.js";
import { fakeIO } from "./helpers/fake-io.js";
import { ScriptedBackend } from "./helpers/scripted-backend.js";
import { scriptedSetup, type ScriptedSetup } from "./helpers/scripted-runtime.js";

let s: ScriptedSetup;
beforeEach(async () => {
  s = await scriptedSetup();
});

describe("inference info", () => {
  it("prints the model's facts and capabilities", async () => {
    const f = fakeIO();
    expect(await runCli(["info", s.modelDir], f.io, s.runtime)).toBe(0);
    expect(f.stdout()).toBe([
      `path:            ${s.modelDir}`,
      "architecture:    qwen3",
      "model type:      qwen3",
      "vocab size:      300",
      "layers:          2",
      "hidden size:     64",
      "context length:  256",
      "quantisation:    none",
      "dtype:           bfloat16",
      "capabilities:",
      "  generate        supported",
      "  chat            supported",
      "  classify        supported",
      "  batch.generate  supported",
      "",
    ].join("\n"));
    expect(s.backend.closed).toBe(1);
  });

  it("--json prints one object", async () => {
    const f = fakeIO();
    expect(await runCli(["info", "--json", "--backend", "scripted", s.modelDir], f.io, s.runtime)).toBe(0);
    const report = JSON.parse(f.stdout());
    expect(report).toMatchObject({ path: s.modelDir, modelType: "qwen3", dtype: "bfloat16", info: { vocabSize: 300, quantBits: 0 } });
    expect(report.capabilities.map((c: { id: string }) => c.id)).toEqual(["generate", "chat", "classify", "batch.generate"]);
    expect(s.backend.loads[0].config.backend).toBe("scripted");
  });

  it("uses INFERENCE_MODEL without an argument, and reports an unknown dtype", async () => {
    const { mkdir } = await import("node:fs/promises");
    await mkdir(`${s.root}/bare`);
    const f = fakeIO({ env: { INFERENCE_MODEL: `${s.root}/bare` } });
    expect(await runCli(["info"], f.io, s.runtime)).toBe(0);
    expect(f.stdout()).toContain("dtype:           unknown\n");
  });

  it("a missing directory exits 1; two directories exit 2", async () => {
    const f = fakeIO();
    expect(await runCli(["info", `${s.root}/none`], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toContain(`inference: model not found: ${s.root}/none\n`);
    const g = fakeIO();
    expect(await runCli(["info", "a", "b"], g.io, s.runtime)).toBe(2);
    expect(g.stderr()).toBe('inference info: unexpected argument "b" (takes at most 1 argument)\nRun "inference info --help" for usage.\n');
  });
});

describe("inference backends", () => {
  it("lists each backend with its availability and capabilities", async () => {
    const off = new ScriptedBackend("gpu-thing");
    off.isAvailable = false;
    register(off);
    const f = fakeIO();
    expect(await runCli(["backends"], f.io, s.runtime)).toBe(0);
    expect(f.stdout()).toBe([
      "gpu-thing (not available on this machine)",
      "  generate  supported",
      "  chat      supported  (scripted replies)",
      "",
      "scripted (available)",
      "  generate  supported",
      "  chat      supported  (scripted replies)",
      "",
    ].join("\n"));
  });

  it("--json prints an array", async () => {
    const f = fakeIO();
    expect(await runCli(["backends", "--json"], f.io, s.runtime)).toBe(0);
    expect(JSON.parse(f.stdout())).toEqual([{
      name: "scripted",
      available: true,
      capabilities: [
        { id: "generate", group: "model", status: "supported" },
        { id: "chat", group: "model", status: "supported", detail: "scripted replies" },
      ],
    }]);
  });

  it("says when none is registered, and refuses arguments", async () => {
    const f = fakeIO();
    expect(await runCli(["backends"], f.io, { ...s.runtime, backends: () => [] })).toBe(0);
    expect(f.stdout()).toBe("no backends registered\n");
    const g = fakeIO();
    expect(await runCli(["backends", "cpu"], g.io, s.runtime)).toBe(2);
    expect(g.stderr()).toContain('inference backends: unexpected argument "cpu" (takes no arguments)\n');
  });
});
