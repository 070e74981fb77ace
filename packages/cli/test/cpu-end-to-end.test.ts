/**
 * The command over the real cpu backend and a tiny random qwen3 checkpoint: in-process through `runCli` with the
 * default runtime, then the built dist/bin.js spawned as a user would run it.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { makeRandomCheckpoint } from "@dappcore/inference-cpu";
import type { CliRuntime } from "../src/cli-runtime.js";
import { defaultRuntime, importBundledBackends } from "../src/default-runtime.js";
import { runCli } from "../src/main.js";
import { fakeIO } from "./helpers/fake-io.js";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(repo, "packages/cli/dist/bin.js");

let root: string;
let modelDir: string;
let runtime: CliRuntime;
let vocabSize: number;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "inference-cli-e2e-"));
  modelDir = join(root, "qwen3-tiny");
  const config = await makeRandomCheckpoint(modelDir, { architecture: "qwen3", seed: 7 });
  vocabSize = config.vocab_size as number;
  runtime = defaultRuntime(await importBundledBackends());
});

async function cli(args: string[], options: Parameters<typeof fakeIO>[0] = {}) {
  const f = fakeIO(options);
  const code = await runCli(args, f.io, runtime);
  return { code, stdout: f.stdout(), stderr: f.stderr(), f };
}

describe("inference over the cpu backend, in-process", () => {
  it("generate streams text, the same seed gives the same text, --metrics reports the counts", async () => {
    const args = ["generate", "-m", modelDir, "--max-tokens", "8", "--temperature", "0.9", "--seed", "5", "Hello there"];
    const a = await cli([...args, "--metrics"]);
    expect(a.code).toBe(0);
    expect(a.stdout.length).toBeGreaterThan(1);
    expect(a.stderr).toContain("generated tokens:    8\n");
    const b = await cli(args);
    expect(b.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
  });

  it("generate runs on the cpu backend with --threads, --quantization and --kv-cache; a bad value is a usage error", async () => {
    const args = ["-m", modelDir, "--threads", "2", "--quantization", "q8_0", "--kv-cache", "f16"];
    const g = await cli(["generate", ...args, "--max-tokens", "6", "--metrics", "Hello"]);
    expect(g.code).toBe(0);
    expect(g.stderr).toContain("generated tokens:    6\n");
    const bad = await cli(["generate", "-m", modelDir, "--quantization", "q4_k", "Hello"]);
    expect(bad.code).toBe(2);
  });

  it("chat answers a message read from stdin", async () => {
    const r = await cli(["chat", "-m", modelDir, "--max-tokens", "6", "--system", "Be brief."], { stdin: "Hi!\n" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(1);
    expect(r.stdout.endsWith("\n")).toBe(true);
  });

  it("info --json describes the checkpoint", async () => {
    const r = await cli(["info", "--json", modelDir]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.modelType).toBe("qwen3");
    expect(report.dtype).toBe("float32");
    expect(report.info).toMatchObject({ vocabSize, numLayers: 2, hiddenSize: 64, quantBits: 0 });
    expect(report.capabilities.map((c: { id: string }) => c.id)).toContain("generate");
  });

  it("backends lists cpu as available", async () => {
    const r = await cli(["backends", "--json"]);
    expect(r.code).toBe(0);
    const cpu = JSON.parse(r.stdout).find((b: { name: string }) => b.name === "cpu");
    expect(cpu.available).toBe(true);
    expect(cpu.capabilities.length).toBeGreaterThan(0);
  });

  it("convert writes a GGUF file", async () => {
    const out = join(root, "tiny-q8_0.gguf");
    const r = await cli(["convert", "--type", "q8_0", modelDir, out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*tiny-q8_0\.gguf \(q8_0, [\d.]+ KiB\)\n$/);
    expect((await readFile(out)).subarray(0, 4).toString("latin1")).toBe("GGUF");
    expect((await stat(out)).size).toBeGreaterThan(1000);
  });

  it("a prompt longer than --context-len fails with both counts and a hint", async () => {
    const r = await cli(["generate", "-m", modelDir, "--context-len", "4", "a much longer prompt than four tokens"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^inference: .*\d+.*4/);
    expect(r.stderr).toContain("hint: shorten the prompt, or raise --context-len up to the model's context length\n");
  });

  it("Ctrl-C stops a generation that would run to the end of the context, exit 130", async () => {
    const f = fakeIO();
    let pressed = false;
    f.io.stdout.on("data", () => {
      if (!pressed) pressed = f.interrupt();
    });
    const code = await runCli(["generate", "-m", modelDir, "--seed", "1", "--temperature", "1", "go"], f.io, runtime);
    expect(pressed).toBe(true);
    expect(code).toBe(130);
    expect(f.stderr()).toBe("inference: interrupted\n");
  });
});

describe("the built command (dist/bin.js)", () => {
  beforeAll(async () => {
    await run("npx", ["tsc", "-b", "packages/cli"], { cwd: repo, timeout: 280_000 }).catch((e: { stdout?: string }) => {
      // Type errors elsewhere still emit JavaScript; the spawns below decide whether it runs.
      console.warn(`tsc -b packages/cli reported errors:\n${e.stdout ?? ""}`);
    });
  }, 300_000);

  const spawnCli = async (args: string[], env: Record<string, string> = {}) => {
    try {
      const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return { code: err.code ?? -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
    }
  };

  it("prints its version and help", async () => {
    const pkg = JSON.parse(await readFile(join(repo, "packages/cli/package.json"), "utf8"));
    expect(await spawnCli(["--version"])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: "" });
    const help = await spawnCli(["generate", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: inference generate /);
  });

  it("generates with the model from INFERENCE_MODEL, the same text as in-process", async () => {
    const args = ["generate", "--max-tokens", "6", "--seed", "3", "--temperature", "0.7", "Once"];
    const spawned = await spawnCli(args, { INFERENCE_MODEL: modelDir });
    expect(spawned.stderr).toBe("");
    expect(spawned.code).toBe(0);
    expect(spawned.stdout).toBe((await cli(args, { env: { INFERENCE_MODEL: modelDir } })).stdout);
  });

  it("exits 2 on a usage error and 1 on a missing model, without a stack trace", async () => {
    const usage = await spawnCli(["generate", "--top-p", "2", "hi"]);
    expect(usage).toEqual({ code: 2, stdout: "", stderr: 'inference generate: --top-p must be a number in [0, 1], got "2"\nRun "inference generate --help" for usage.\n' });
    const missing = await spawnCli(["generate", "-m", "no-such-model", "hi"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`inference: model not found: ${join(root, "no-such-model")}\n` +
      "hint: --model takes a Hugging Face model directory (config.json, *.safetensors, tokenizer.json) or a .gguf file\n");
  });
});
