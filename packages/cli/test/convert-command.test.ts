import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import type { ConvertRequest } from "../src/cli-runtime.js";
import { readConvertProgress } from "../src/convert-progress.js";
import { runCli } from "../src/main.js";
import { fakeIO } from "./helpers/fake-io.js";
import { scriptedSetup, type ScriptedSetup } from "./helpers/scripted-runtime.js";

let s: ScriptedSetup;
let calls: { dir: string; out: string; request: ConvertRequest }[];
beforeEach(async () => {
  calls = [];
  s = await scriptedSetup({
    convert: async (dir, out, request) => {
      calls.push({ dir, out, request });
      for (let i = 0; i <= 4; i++) request.onProgress({ done: i, total: 4 });
      await writeFile(out, Buffer.alloc(3000));
      return 3000;
    },
  });
});

describe("inference convert", () => {
  it("converts with the default type bf16 and reports the file", async () => {
    const f = fakeIO({ cwd: s.root });
    expect(await runCli(["convert", "model", "out.gguf"], f.io, s.runtime)).toBe(0);
    expect(calls).toHaveLength(1);
    expect(calls[0].dir).toBe(s.modelDir);
    expect(calls[0].out).toBe(join(s.root, "out.gguf"));
    expect(calls[0].request.type).toBe("bf16");
    expect(f.stdout()).toBe(`wrote ${join(s.root, "out.gguf")} (bf16, 2.9 KiB)\n`);
    expect(f.stderr()).toBe("");
  });

  it("accepts every --type, case-insensitively, and draws a progress bar on a terminal", async () => {
    for (const type of ["f32", "F16", "bf16", "q8_0"]) {
      const f = fakeIO({ stderrTTY: true });
      expect(await runCli(["convert", "--type", type, "--force", s.modelDir, join(s.root, "o.gguf")], f.io, s.runtime)).toBe(0);
      expect(f.stderr()).toContain(`converting (${type.toLowerCase()}) [`);
      expect(f.stderr()).toContain("100%  4/4");
    }
    expect(calls.map((c) => c.request.type)).toEqual(["f32", "f16", "bf16", "q8_0"]);
  });

  const usageCases: [string[], string][] = [
    [["convert", "--type", "q4_k", "d", "o.gguf"], '--type must be one of f32, f16, bf16, q8_0, q4_0, got "q4_k"'],
    [["convert"], "missing the model directory and the output file, e.g. inference convert DIR OUT.gguf"],
    [["convert", "dir"], "missing the output file, e.g. inference convert DIR OUT.gguf"],
    [["convert", "dir", "out.bin"], 'the output file must end in .gguf, got "out.bin"'],
    [["convert", "a", "b.gguf", "c"], 'unexpected argument "c" (takes at most 2 arguments)'],
  ];
  for (const [args, message] of usageCases) {
    it(`usage error: ${args.join(" ")}`, async () => {
      const f = fakeIO();
      expect(await runCli(args, f.io, s.runtime)).toBe(2);
      expect(f.stderr()).toBe(`inference convert: ${message}\nRun "inference convert --help" for usage.\n`);
      expect(calls).toHaveLength(0);
    });
  }

  it("a missing directory, or an existing output without --force, exits 1", async () => {
    const f = fakeIO({ cwd: s.root });
    expect(await runCli(["convert", "nope", "o.gguf"], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toBe(`inference: model directory not found: ${join(s.root, "nope")}\n` +
      "hint: convert takes a Hugging Face model directory (config.json, *.safetensors, tokenizer.json)\n");
    await mkdir(join(s.root, "x"));
    await writeFile(join(s.root, "exists.gguf"), "x");
    const g = fakeIO({ cwd: s.root });
    expect(await runCli(["convert", "model", "exists.gguf"], g.io, s.runtime)).toBe(1);
    expect(g.stderr()).toBe(`inference: ${join(s.root, "exists.gguf")} already exists\nhint: pass --force to overwrite it, or choose another name\n`);
    expect(calls).toHaveLength(0);
  });

  it("a converter failure is reported with its hint; Ctrl-C exits 130", async () => {
    const failing = { ...s.runtime, convert: async () => {
      throw new InferenceError({ code: "unsupported", op: "gguf.convert", message: 'architecture "phi3" is not supported' });
    } };
    const f = fakeIO();
    expect(await runCli(["convert", s.modelDir, join(s.root, "a.gguf")], f.io, failing)).toBe(1);
    expect(f.stderr()).toBe('inference: gguf.convert: architecture "phi3" is not supported\n' +
      "hint: run `inference info DIR` and `inference backends` to see what is supported\n");

    const g = fakeIO();
    const interrupted = { ...s.runtime, convert: async (_d: string, _o: string, r: ConvertRequest) => {
      g.interrupt();
      expect(r.signal.aborted).toBe(true);
      throw new DOMException("stopped", "AbortError");
    } };
    expect(await runCli(["convert", s.modelDir, join(s.root, "b.gguf")], g.io, interrupted)).toBe(130);
    expect(g.stderr()).toBe("inference: interrupted\n");
  });
});

describe("readConvertProgress", () => {
  it("reads the converter's counters", () => {
    expect(readConvertProgress({ done: 1, total: 2 })).toEqual({ done: 1, total: 2 });
    expect(readConvertProgress({ done: 3, total: 9, tensor: "blk.0.attn_q.weight" })).toEqual({ done: 3, total: 9, item: "blk.0.attn_q.weight" });
    expect(readConvertProgress({ done: "3", total: 9 })).toBeUndefined();
    expect(readConvertProgress({ something: 1 })).toBeUndefined();
    expect(readConvertProgress(null)).toBeUndefined();
  });
});
