// The published entry: builds packages/inference with `tsc -b`, then runs a plain Node script that imports ONLY
// dist/index.js and registers a backend, loads through it, streams tokens, reads capabilities and runs the Core
// actions. Slower than the unit tests (a real build), so it is the one test here that spawns processes.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const repo = join(pkg, "..", "..");
let dir: string;

const script = (entry: string) => `
import * as inference from ${JSON.stringify(entry)};
const { register, loadModel, withMaxTokens, capabilitiesOf, supportedCapabilityIds, list, Core, registerCore, ok } = inference;

class EchoModel {
  #closed = false;
  async *generate(prompt, ...opts) {
    const cfg = inference.applyGenerateOpts(opts);
    for (const ch of [...prompt].slice(0, cfg.maxTokens || undefined)) yield { id: ch.codePointAt(0), text: ch };
  }
  chat(messages, ...opts) { return this.generate(messages.map((m) => m.content).join(" "), ...opts); }
  async classify(prompts) { return ok(prompts.map((p) => ({ token: { id: p.codePointAt(0) ?? 0, text: p[0] ?? "" } }))); }
  async batchGenerate(prompts) { return ok(prompts.map(() => ({ tokens: [] }))); }
  modelType() { return "echo"; }
  info() { return { architecture: "echo", vocabSize: 1114112, numLayers: 0, hiddenSize: 0, contextLength: 64, quantBits: 0, quantGroup: 0 }; }
  metrics() { return { promptTokens: 0, generatedTokens: 0, prefillMs: 0, decodeMs: 0, totalMs: 0, timeToFirstTokenMs: 0, prefillTokensPerSec: 0, decodeTokensPerSec: 0, peakMemoryBytes: 0, activeMemoryBytes: 0 }; }
  err() { return ok(); }
  async close() { this.#closed = true; return ok(); }
  async [Symbol.asyncDispose]() { await this.close(); }
}

const before = await loadModel("/nowhere");
register({
  name: "echo",
  available: () => true,
  loadModel: async () => ok(new EchoModel()),
  capabilities: () => [inference.supportedCapability("model.load", "runtime"), inference.supportedCapability("generate", "model")],
});
const r = await loadModel("/models/echo", inference.withBackend("echo"));
if (!r.ok) throw r.error;
let streamed = "";
for await (const t of r.value.generate("hello world", withMaxTokens(5))) streamed += t.text;
const backendCaps = capabilitiesOf(inference.get("echo"));
const modelCaps = capabilitiesOf(r.value);
const c = new Core();
const svc = registerCore(c);
const loaded = await c.action("inference.load").run({ path: "/models/echo" });
const generated = await c.action("inference.generate").run({ prompt: "abc" });
const backends = await c.action("inference.backends").run();
console.log(JSON.stringify({
  before: before.ok ? "ok" : before.error.code,
  list: list(),
  streamed,
  backendCaps: supportedCapabilityIds(backendCaps.value),
  modelCaps: supportedCapabilityIds(modelCaps.value),
  service: svc.ok && c.service("inference").ok,
  loaded: loaded.ok && loaded.value.id,
  generated: generated.ok && generated.value.text,
  backends: backends.ok && backends.value.map((b) => b.name + ":" + b.available),
}));
`;

beforeAll(() => {
  const build = spawnSync("npx", ["tsc", "-b", "packages/inference"], { cwd: repo, encoding: "utf8" });
  if (build.status !== 0) throw new Error(`tsc -b packages/inference failed:\n${build.stdout}\n${build.stderr}`);
  dir = mkdtempSync(join(tmpdir(), "inference-smoke-"));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("dist/index.js in plain Node", () => {
  it("registers a backend, loads, streams, reads capabilities and runs the Core actions", () => {
    const file = join(dir, "smoke.mjs");
    writeFileSync(file, script(pathToFileURL(join(pkg, "dist", "index.js")).href));
    const run = spawnSync(process.execPath, [file], { encoding: "utf8", cwd: dir });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      before: "no_backends_registered",
      list: ["echo"],
      streamed: "hello",
      backendCaps: ["generate", "model.load"],
      modelCaps: ["batch.generate", "chat", "classify", "generate"],
      service: true,
      loaded: "model-1",
      generated: "abc",
      backends: ["echo:true"],
    });
  });
});
