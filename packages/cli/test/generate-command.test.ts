import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { runCli } from "../src/main.js";
import { fakeIO } from "./helpers/fake-io.js";
import { scriptedSetup, type ScriptedSetup } from "./helpers/scripted-runtime.js";

let s: ScriptedSetup;
beforeEach(async () => {
  s = await scriptedSetup();
});

describe("inference generate", () => {
  it("streams the tokens to stdout and ends the line", async () => {
    const f = fakeIO();
    expect(await runCli(["generate", "--model", s.modelDir, "Say", "hi"], f.io, s.runtime)).toBe(0);
    expect(f.stdout()).toBe("Hello, world!\n");
    expect(f.stderr()).toBe("");
    expect(s.backend.generateCalls[0].prompt).toBe("Say hi");
    expect(s.backend.closed).toBe(1);
    expect(f.handlerCount()).toBe(0);
  });

  it("hands every sampling flag to the model and leaves unset ones unset", async () => {
    const f = fakeIO();
    const args = ["generate", "-m", s.modelDir, "--max-tokens", "3", "--temperature", "0.5", "--top-k", "7", "--top-p", "0.8",
      "--min-p", "0.1", "--seed", "9", "--repeat-penalty", "1.2", "--stop", "zzz", "--stop", "yyy", "p"];
    expect(await runCli(args, f.io, s.runtime)).toBe(0);
    const config = s.backend.generateCalls[0].config;
    expect(config).toMatchObject({ maxTokens: 3, temperature: 0.5, topK: 7, topP: 0.8, minP: 0.1, seed: 9, repeatPenalty: 1.2, stop: ["zzz", "yyy"] });
    expect(config.signal).toBeInstanceOf(AbortSignal);
    expect(f.stdout()).toBe("Hello, world\n");

    await runCli(["generate", "-m", s.modelDir, "p"], fakeIO().io, s.runtime);
    expect([...s.backend.generateCalls[1].config.explicit]).toEqual(["signal"]);
  });

  it("honours --stop", async () => {
    const f = fakeIO();
    expect(await runCli(["generate", "-m", s.modelDir, "--stop", "world", "p"], f.io, s.runtime)).toBe(0);
    expect(f.stdout()).toBe("Hello,\n");
  });

  it("passes --backend and --context-len to the load", async () => {
    const f = fakeIO();
    expect(await runCli(["generate", "-m", s.modelDir, "--backend", "scripted", "--context-len", "64", "p"], f.io, s.runtime)).toBe(0);
    expect(s.backend.loads[0].path).toBe(s.modelDir);
    expect(s.backend.loads[0].config.backend).toBe("scripted");
    expect(s.backend.loads[0].config.contextLen).toBe(64);
    expect(s.backend.loads[0].config.onProgress).toBeUndefined();
  });

  it("passes --threads, --quantization and --kv-cache to the load as the backend's option keys", async () => {
    const f = fakeIO();
    const args = ["generate", "-m", s.modelDir, "--threads", "2", "--quantization", "Q8_0", "--kv-cache", "f16", "p"];
    expect(await runCli(args, f.io, s.runtime)).toBe(0);
    expect(s.backend.loads[0].config).toMatchObject({ threads: 2, quantization: "q8_0", kvCacheType: "f16" });
    await runCli(["generate", "-m", s.modelDir, "p"], fakeIO().io, s.runtime);
    const plain = s.backend.loads[1].config as unknown as Record<string, unknown>;
    expect([plain.threads, plain.quantization, plain.kvCacheType]).toEqual([undefined, undefined, undefined]);
  });

  it("prints the metrics to stderr with --metrics", async () => {
    const f = fakeIO();
    expect(await runCli(["generate", "-m", s.modelDir, "--metrics", "p"], f.io, s.runtime)).toBe(0);
    expect(f.stdout()).toBe("Hello, world!\n");
    expect(f.stderr()).toContain("prompt tokens:       5");
    expect(f.stderr()).toContain("generated tokens:    4");
    expect(f.stderr()).toContain("prefill:             10.0 ms (500.0 tok/s)");
    expect(f.stderr()).toContain("decode:              20.0 ms (200.0 tok/s)");
    expect(f.stderr()).toContain("time to first token: 11.0 ms");
  });

  it("draws a loading progress bar when stderr is a terminal, and clears it", async () => {
    const f = fakeIO({ stderrTTY: true });
    expect(await runCli(["generate", "-m", s.modelDir, "p"], f.io, s.runtime)).toBe(0);
    expect(f.stderr()).toContain("loading [");
    expect(f.stderr()).toContain("100%  2.0 KiB/2.0 KiB");
    expect(f.stderr().endsWith("\r\x1b[K")).toBe(true);
    expect(f.stdout()).toBe("Hello, world!\n");
  });

  it("uses INFERENCE_MODEL, relative to the working directory, when --model is absent", async () => {
    const f = fakeIO({ env: { INFERENCE_MODEL: "model" }, cwd: s.root });
    expect(await runCli(["generate", "p"], f.io, s.runtime)).toBe(0);
    expect(s.backend.loads[0].path).toBe(s.modelDir);
  });

  it("uses the bundled default model when nothing else is given", async () => {
    const f = fakeIO();
    const runtime = { ...s.runtime, defaultModelDir: s.modelDir };
    expect(await runCli(["generate", "p"], f.io, runtime)).toBe(0);
    expect(s.backend.loads[0].path).toBe(s.modelDir);
  });
});

describe("inference generate: usage errors exit 2", () => {
  const cases: [string[], string][] = [
    [["generate"], 'inference generate: missing the prompt, e.g. inference generate "Once upon a time"'],
    [["generate", "--top-p", "1.5", "p"], 'inference generate: --top-p must be a number in [0, 1], got "1.5"'],
    [["generate", "--max-tokens", "lots", "p"], 'inference generate: --max-tokens must be an integer >= 0, got "lots"'],
    [["generate", "--temprature", "1", "p"], 'inference generate: unknown flag "--temprature"'],
    [["generate", "--threads", "0", "p"], 'inference generate: --threads must be an integer >= 1, got "0"'],
    [["generate", "--quantization", "q5_k", "p"], 'inference generate: --quantization must be one of q8_0, q4_0, got "q5_k"'],
    [["generate", "--kv-cache", "q8_0", "p"], 'inference generate: --kv-cache must be one of f32, f16, got "q8_0"'],
  ];
  for (const [args, message] of cases) {
    it(args.join(" "), async () => {
      const f = fakeIO();
      expect(await runCli(args, f.io, s.runtime)).toBe(2);
      expect(f.stderr()).toBe(`${message}\nRun "inference generate --help" for usage.\n`);
      expect(f.stdout()).toBe("");
      expect(s.backend.loads).toHaveLength(0);
    });
  }
});

describe("inference generate: runtime errors exit 1 with a hint", () => {
  it("a --model that does not exist", async () => {
    const f = fakeIO({ cwd: s.root });
    expect(await runCli(["generate", "--model", "nope", "p"], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toBe(`inference: model not found: ${join(s.root, "nope")}\n` +
      "hint: --model takes a Hugging Face model directory (config.json, *.safetensors, tokenizer.json) or a .gguf file\n");
  });

  it("an INFERENCE_MODEL that does not exist", async () => {
    const f = fakeIO({ cwd: s.root, env: { INFERENCE_MODEL: "gone" } });
    expect(await runCli(["generate", "p"], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toContain(`inference: model not found: ${join(s.root, "gone")} (from INFERENCE_MODEL)\n`);
  });

  it("the bundled default model missing says how to create it", async () => {
    const f = fakeIO();
    expect(await runCli(["generate", "p"], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toBe(`inference: the bundled default model is missing (${s.runtime.defaultModelDir})\n` +
      "hint: it ships in packages/cli/model (reproduce it with scripts/demo-model/train.mjs), or pass --model DIR, or set INFERENCE_MODEL\n");
  });

  it("an invalid model", async () => {
    const broken = join(s.root, "broken");
    await import("node:fs/promises").then((fs) => fs.mkdir(broken));
    const f = fakeIO();
    expect(await runCli(["generate", "-m", broken, "p"], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toContain(`config.json is not valid JSON in ${broken}`);
    expect(f.stderr()).toContain("hint: the model directory is damaged or incomplete; download or convert it again\n");
    expect(f.stderr()).not.toContain("    at ");
  });

  it("a backend that is not registered", async () => {
    const f = fakeIO();
    expect(await runCli(["generate", "-m", s.modelDir, "--backend", "metal", "p"], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toMatch(/^inference: inference\.loadModel: .*"metal".*\n/);
    expect(f.stderr()).toContain("hint: run `inference backends` for the registered names, or leave out --backend\n");
  });

  it("an error in the middle of the stream keeps what was written and reports the error", async () => {
    s.backend.streamError = {
      afterTokens: 2,
      error: new InferenceError({ code: "context_length_exceeded", op: "scripted.generate", message: "prompt of 300 tokens exceeds the context of 256" }),
    };
    const f = fakeIO();
    expect(await runCli(["generate", "-m", s.modelDir, "p"], f.io, s.runtime)).toBe(1);
    expect(f.stdout()).toBe("Hello,\n");
    expect(f.stderr()).toBe("inference: scripted.generate: prompt of 300 tokens exceeds the context of 256\n" +
      "hint: shorten the prompt, or raise --context-len up to the model's context length\n");
    expect(s.backend.closed).toBe(1);
  });

  it("an option the library rejects is a usage error", async () => {
    s.backend.streamError = {
      afterTokens: 0,
      error: new InferenceError({ code: "invalid_argument", op: "scripted.generate", message: "topK too large for this model" }),
    };
    const f = fakeIO();
    expect(await runCli(["generate", "-m", s.modelDir, "p"], f.io, s.runtime)).toBe(2);
    expect(f.stderr()).toBe("inference: scripted.generate: topK too large for this model\n");
  });

  it("an unexpected exception prints no stack unless INFERENCE_DEBUG is set", async () => {
    s.backend.streamError = { afterTokens: 0, error: new TypeError("boom") as unknown as InferenceError };
    const f = fakeIO();
    expect(await runCli(["generate", "-m", s.modelDir, "p"], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toBe("inference: unexpected failure: boom\nhint: set INFERENCE_DEBUG=1 for the stack trace, and please report it\n");
    const d = fakeIO({ env: { INFERENCE_DEBUG: "1" } });
    expect(await runCli(["generate", "-m", s.modelDir, "p"], d.io, s.runtime)).toBe(1);
    expect(d.stderr()).toContain("TypeError: boom\n    at ");
  });
});

describe("inference generate: Ctrl-C", () => {
  it("the first Ctrl-C aborts the generation cleanly: partial output, exit 130", async () => {
    const f = fakeIO();
    s.backend.beforeToken = async (i) => {
      if (i === 2) expect(f.interrupt()).toBe(true);
    };
    expect(await runCli(["generate", "-m", s.modelDir, "--metrics", "p"], f.io, s.runtime)).toBe(130);
    expect(f.stdout()).toBe("Hello,\n");
    expect(f.stderr()).toBe("inference: interrupted\n");
    expect(s.backend.closed).toBe(1);
    expect(f.handlerCount()).toBe(0);
  });

  it("a second Ctrl-C is left to the process (the handler answers false)", async () => {
    const f = fakeIO();
    const answers: boolean[] = [];
    s.backend.beforeToken = async (i) => {
      if (i === 1) answers.push(f.interrupt(), f.interrupt());
    };
    expect(await runCli(["generate", "-m", s.modelDir, "p"], f.io, s.runtime)).toBe(130);
    expect(answers).toEqual([true, false]);
  });

  it("a backend that ends the stream quietly on abort still exits 130", async () => {
    const f = fakeIO();
    s.backend.quietAbort = true;
    s.backend.beforeToken = async (i) => {
      if (i === 1) f.interrupt();
    };
    expect(await runCli(["generate", "-m", s.modelDir, "p"], f.io, s.runtime)).toBe(130);
    expect(f.stdout()).toBe("Hello\n");
    expect(f.stderr()).toBe("inference: interrupted\n");
  });
});
