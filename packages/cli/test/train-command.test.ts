/**
 * `inference train` in-process with fake IO: flags reaching the loop, the dataset read with the model's tokenizer,
 * progress on a terminal and off one, the adapter or weights written to --out, Ctrl-C saving a checkpoint that
 * --resume continues from, and every usage and runtime error with its exit code. The model here is scripted (its
 * losses fall by a fixed rule); the loop (`runTraining`) and the dataset reader are the cpu package's real ones.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fail,
  InferenceError,
  loadModel,
  ok,
  withAdapterPath,
  type Adapter,
  type LoRAConfig,
  type Loss,
  type Result,
  type TextModel,
  type TrainingBatch,
} from "@dappcore/inference";
import { loadJsonlDataset, loadTokenizer, makeRandomCheckpoint, runTraining } from "@dappcore/inference-cpu";
import type { CliRuntime, CliTrainableModel, TrainableLoadRequest, TrainingKit } from "../src/cli-runtime.js";
import { defaultRuntime, importBundledBackends, trainingKitFrom } from "../src/default-runtime.js";
import { runCli } from "../src/main.js";
import { fakeIO, type FakeIO } from "./helpers/fake-io.js";

let root: string;
let modelDir: string;
let dataPath: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "inference-train-"));
  modelDir = join(root, "model");
  await makeRandomCheckpoint(modelDir, { architecture: "qwen3", hiddenSize: 16, numLayers: 1, headDim: 8, seed: 2 });
  dataPath = join(root, "train.jsonl");
  const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ text: `line ${i}: the quick brown fox` }));
  await writeFile(dataPath, `${lines.join("\n")}\n`);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function targets(batch: TrainingBatch): number {
  let n = 0;
  batch.tokens.forEach((row, r) => {
    for (let i = 1; i < row.length; i++) n += batch.lossMask?.[r]?.[i] ?? 1;
  });
  return n;
}

/** A trainable model whose training loss is 4 / (1 + steps) and held-out loss 5 / (1 + steps). */
class ScriptedTrainable implements CliTrainableModel {
  readonly learningRates: number[] = [];
  readonly loadedStates: string[] = [];
  lora: Partial<LoRAConfig> | undefined;
  steps = 0;
  closed = 0;
  afterStep: (steps: number) => void = () => {};
  loraError: InferenceError | undefined;

  async loss(batch: TrainingBatch): Promise<Result<Loss>> {
    return ok({ value: 4 / (1 + this.steps), tokens: targets(batch) });
  }
  async evalLoss(batch: TrainingBatch): Promise<Result<Loss>> {
    return ok({ value: 5 / (1 + this.steps), tokens: targets(batch) });
  }
  async backward(): Promise<Result<void>> {
    return ok();
  }
  async step(): Promise<Result<void>> {
    this.steps++;
    this.afterStep(this.steps);
    return ok();
  }
  zeroGrad(): void {}
  setLearningRate(lr: number): void {
    this.learningRates.push(lr);
  }
  async saveTrainingState(dir: string): Promise<Result<void>> {
    await writeFile(join(dir, "state.json"), JSON.stringify({ steps: this.steps }));
    return ok();
  }
  async loadTrainingState(dir: string): Promise<Result<void>> {
    this.loadedStates.push(dir);
    this.steps = (JSON.parse(await readFile(join(dir, "state.json"), "utf8")) as { steps: number }).steps;
    return ok();
  }
  applyLoRA(config: Partial<LoRAConfig> = {}): Result<Adapter> {
    if (this.loraError) return fail(this.loraError);
    this.lora = config;
    return ok({
      totalParams: () => 1234,
      save: async (dir: string) => {
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, "adapter_config.json"), JSON.stringify({ r: config.rank, lora_alpha: config.alpha, target_modules: config.targetKeys }));
        return ok();
      },
    });
  }
  async saveWeights(dir: string): Promise<Result<void>> {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "config.json"), JSON.stringify({ steps: this.steps }));
    return ok();
  }
  async close(): Promise<Result<void>> {
    this.closed++;
    return ok();
  }
}

interface Setup {
  readonly runtime: CliRuntime;
  readonly models: ScriptedTrainable[];
  readonly requests: TrainableLoadRequest[];
}

function setup(configure: (m: ScriptedTrainable) => void = () => {}, loadError?: InferenceError): Setup {
  const models: ScriptedTrainable[] = [];
  const requests: TrainableLoadRequest[] = [];
  const kit: TrainingKit = {
    loadTrainable: async (_path, request) => {
      requests.push(request);
      if (loadError) return fail(loadError);
      const m = new ScriptedTrainable();
      configure(m);
      models.push(m);
      return ok(m);
    },
    loadDataset: async (path, dir, options) => loadJsonlDataset(path, await loadTokenizer(dir), options),
    runTraining,
  };
  const runtime: CliRuntime = {
    version: "1.2.3",
    defaultModelDir: join(root, "no-default-model"),
    loadModel: async () => {
      throw new Error("not used");
    },
    backends: () => [],
    convert: async () => {
      throw new Error("not used");
    },
    training: async () => kit,
  };
  return { runtime, models, requests };
}

async function train(s: Setup, args: string[], f: FakeIO = fakeIO({ cwd: root })) {
  const code = await runCli(["train", ...args], f.io, s.runtime);
  return { code, stdout: f.stdout(), stderr: f.stderr() };
}

const base = (out: string) => ["-m", modelDir, "--data", dataPath, "--seq-len", "16", "--batch", "2", "--out", out];

describe("inference train", () => {
  it("trains a LoRA adapter: flags reach the loop, progress lines go to stderr, the adapter goes to --out", async () => {
    const s = setup();
    const out = join(root, "lora-out");
    const r = await train(s, [...base("lora-out"), "--eval-every-k", "4", "--rank", "4", "--alpha", "8", "--targets", "q_proj, k_proj",
      "--steps", "6", "--lr", "0.01", "--schedule", "linear", "--warmup", "2", "--checkpoint-interval", "4", "--seed", "9", "--threads", "2"]);
    expect(r.code).toBe(0);
    const m = s.models[0]!;
    expect(s.requests[0]).toMatchObject({ trainingMode: "lora", seed: 9, threads: 2 });
    expect(m.lora).toEqual({ rank: 4, alpha: 8, targetKeys: ["q_proj", "k_proj"] });
    expect(m.steps).toBe(6);
    expect(m.learningRates.map((x) => Number(x.toFixed(12)))).toEqual([0.005, 0.01, 0.01, 0.0075, 0.005, 0.0025]);
    expect(m.closed).toBe(1);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^training: LoRA rank 4, alpha 8, q_proj,k_proj; \d+ sequences of 17 tokens, batch 2 x 1, 6 steps$/);
    expect(lines[1]).toMatch(/^held-out loss 5\.0000 at step 0 \(\d+ tokens\)$/);
    const stepLines = lines.filter((l) => l.startsWith("step "));
    expect(stepLines.map((l) => l.split("  ")[0])).toEqual(["step 1/6", "step 2/6", "step 3/6", "step 4/6", "step 5/6", "step 6/6"]);
    expect(stepLines.map((l) => l.split("  ")[2])).toEqual([1, 2, 3, 4, 5, 6].map((k) => `loss ${(4 / k).toFixed(4)}`));
    expect(stepLines[0]).toMatch(/^step 1\/6 {2}epoch 1\/1 {2}loss 4\.0000 {2}lr 5\.00e-3 {2}\d+ tok\/s$/);
    expect(lines[lines.length - 1]).toMatch(new RegExp(`^held-out loss ${(5 / 7).toFixed(4).replace(".", "\\.")} at step 6 \\(\\d+ tokens\\)$`));
    expect(r.stdout).toMatch(new RegExp(`^trained 6 steps \\(0\\.\\d\\d epochs\\): loss ${(4 / 6).toFixed(4).replace(".", "\\.")}, ` +
      `held-out loss 5\\.0000 -> ${(5 / 7).toFixed(4).replace(".", "\\.")}, \\d+ tokens/s\n`));
    expect(r.stdout.endsWith(`\nwrote LoRA adapter (1234 parameters) to ${out}\n`)).toBe(true);
    expect(JSON.parse(await readFile(join(out, "adapter_config.json"), "utf8"))).toEqual({ r: 4, lora_alpha: 8, target_modules: ["q_proj", "k_proj"] });
    expect((await readdir(join(out, "checkpoints"))).sort()).toEqual(["step-00000004", "step-00000006"]);
  });

  it("draws one bar on a terminal; --mode full writes the weights with the full-mode learning rate", async () => {
    const s = setup();
    const f = fakeIO({ cwd: root, stderrTTY: true });
    const r = await train(s, [...base("full-out"), "--mode", "full", "--epochs", "2", "--schedule", "constant"], f);
    expect(r.code).toBe(0);
    expect(s.requests[0]!.trainingMode).toBe("full");
    expect(new Set(s.models[0]!.learningRates)).toEqual(new Set([5e-5]));
    expect(r.stderr).toContain("\rtraining [");
    expect(r.stderr).toMatch(/100% {2}\d+\/\d+ {2}epoch 2\/2 {2}loss [\d.]+ {2}lr 5\.00e-5 {2}\d+ tok\/s\x1b\[K/);
    expect(r.stderr.endsWith("\r\x1b[K")).toBe(true);
    expect(r.stdout).toContain(`wrote model to ${join(root, "full-out")}\n`);

    // Held-out lines interrupt the bar: it is cleared, the line printed, the bar drawn again.
    const t = fakeIO({ cwd: root, stderrTTY: true });
    const e = await train(setup(), [...base("tty-eval"), "--eval-every-k", "3", "--eval-interval", "1", "--steps", "2"], t);
    expect(e.code).toBe(0);
    expect(e.stderr).toMatch(/\r\x1b\[Kheld-out loss 2\.5000 at step 1 \(\d+ tokens\)\ntraining \[/);
    expect(JSON.parse(await readFile(join(root, "full-out", "config.json"), "utf8"))).toEqual({ steps: s.models[0]!.steps });
  });

  it("Ctrl-C stops at a step boundary, saves a checkpoint and exits 130; --resume finishes the run", async () => {
    const f = fakeIO({ cwd: root });
    const s = setup((m) => (m.afterStep = (n) => void (n === 3 && f.interrupt())));
    const args = [...base("resume-out"), "--steps", "5", "--checkpoint-dir", "ck"];
    const r = await train(s, args, f);
    expect(r.code).toBe(130);
    const ckpt = join(root, "ck", "step-00000003");
    expect(r.stderr.endsWith(`stopped at step 3 of 5; checkpoint saved in ${ckpt} (add --resume to continue)\ninference: interrupted\n`)).toBe(true);
    expect(r.stdout).toBe("");
    expect(s.models[0]!.closed).toBe(1);
    await expect(readdir(join(root, "resume-out"))).rejects.toThrow();

    const again = setup();
    const g = await train(again, [...args, "--resume"]);
    expect(g.code).toBe(0);
    expect(again.models[0]!.loadedStates).toEqual([ckpt]);
    expect(again.models[0]!.steps).toBe(5);
    expect(again.models[0]!.learningRates).toHaveLength(2);
    expect(g.stdout).toContain("trained 5 steps");

    const other = await train(setup(), [...args, "--resume", "--grad-accum", "2"]);
    expect(other.code).toBe(2);
    expect(other.stderr.split("\n").slice(1).join("\n")).toBe(`inference: cpu.train: cannot resume from ${join(root, "ck", "step-00000005")}: it was written with gradient accumulation 1, this run has 2\n`);
    const none = await train(setup(), [...base("fresh-out"), "--resume"]);
    expect([none.code, none.stderr.split("\n").slice(1).join("\n")]).toEqual([2, `inference: cpu.train: no checkpoint to resume from in ${join(root, "fresh-out", "checkpoints")}\n`]);
  });

  const usage: [string[], string][] = [
    [["--out", "o"], "missing --data FILE (the training data, JSONL)"],
    [["--data", "d.jsonl"], "missing --out DIR (where the result is written)"],
    [["--data", "d", "--out", "o", "--eval", "e", "--eval-every-k", "3"], "give --eval or --eval-every-k, not both"],
    [["--data", "d", "--out", "o", "--eval-every-k", "1"], '--eval-every-k must be an integer >= 2, got "1"'],
    [["--data", "d", "--out", "o", "--mode", "qlora"], '--mode must be one of lora, full, got "qlora"'],
    [["--data", "d", "--out", "o", "--mode", "full", "--rank", "4"], "--rank applies only to --mode lora"],
    [["--data", "d", "--out", "o", "--mode", "full", "--targets", "q_proj"], "--targets applies only to --mode lora"],
    [["--data", "d", "--out", "o", "--rank", "0"], '--rank must be an integer >= 1, got "0"'],
    [["--data", "d", "--out", "o", "--alpha", "0"], '--alpha must be a number > 0, got "0"'],
    [["--data", "d", "--out", "o", "--targets", "q_proj,,v_proj"], '--targets must be module names separated by commas, got "q_proj,,v_proj"'],
    [["--data", "d", "--out", "o", "--epochs", "2", "--steps", "3"], "give --epochs or --steps, not both"],
    [["--data", "d", "--out", "o", "--lr", "-1"], '--lr must be a number > 0, got "-1"'],
    [["--data", "d", "--out", "o", "--schedule", "step"], '--schedule must be one of cosine, linear, constant, got "step"'],
    [["--data", "d", "--out", "o", "--batch", "0"], '--batch must be an integer >= 1, got "0"'],
    [["--data", "d", "--out", "o", "--grad-accum", "x"], '--grad-accum must be an integer >= 1, got "x"'],
    [["--data", "d", "--out", "o", "--seq-len", "0"], '--seq-len must be an integer >= 1, got "0"'],
    [["--data", "d", "--out", "o", "--eval-interval", "5"], "--eval-interval needs held-out data: --eval FILE or --eval-every-k K"],
    [["--data", "d", "--out", "o", "--threads", "0"], '--threads must be an integer >= 1, got "0"'],
    [["--data", "d", "--out", "o", "extra"], 'unexpected argument "extra" (takes no arguments)'],
    [["--data", "d", "--out", "o", "--bogus"], 'unknown flag "--bogus"'],
  ];
  for (const [args, message] of usage) {
    it(`usage error (exit 2): ${message}`, async () => {
      const s = setup();
      const r = await train(s, args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`inference train: ${message}\nRun "inference train --help" for usage.\n`);
      expect(s.requests).toHaveLength(0);
    });
  }

  it("a warmup longer than the run is a usage error found once the data is read", async () => {
    const s = setup();
    const r = await train(s, [...base("w-out"), "--steps", "3", "--warmup", "4"]);
    expect([r.code, r.stderr]).toEqual([2, 'inference train: --warmup (4) is longer than the run (3 steps)\nRun "inference train --help" for usage.\n']);
    expect(s.requests).toHaveLength(0);
  });

  it("missing files, a runtime that cannot train, and failures of the model or the data exit 1 or 2 with the message", async () => {
    const s = setup();
    const noData = await train(s, ["-m", modelDir, "--data", "nope.jsonl", "--out", "o"]);
    expect([noData.code, noData.stderr]).toEqual([1, `inference: --data file not found: ${join(root, "nope.jsonl")}\nhint: --data takes a JSONL file, one {"text": ...} or {"messages": [...]} per line\n`]);
    const noEval = await train(s, ["-m", modelDir, "--data", dataPath, "--eval", "e.jsonl", "--out", "o"]);
    expect(noEval.stderr).toBe(`inference: --eval file not found: ${join(root, "e.jsonl")}\nhint: --eval takes a JSONL file, one {"text": ...} or {"messages": [...]} per line\n`);
    const noModel = await train(s, ["-m", "missing-model", "--data", dataPath, "--out", "o"]);
    expect([noModel.code, noModel.stderr.split("\n")[0]]).toEqual([1, `inference: model not found: ${join(root, "missing-model")}`]);

    const { training: _omit, ...untrained } = s.runtime;
    const f = fakeIO({ cwd: root });
    expect(await runCli(["train", ...base("o")], f.io, untrained)).toBe(1);
    expect(f.stderr()).toBe("inference: this build of the command cannot train\nhint: reinstall @dappcore/inference-cli\n");

    const loadFails = setup(() => {}, new InferenceError({ code: "unsupported", op: "cpu.loadTrainable", message: 'architecture "phi3" cannot train' }));
    const lf = await train(loadFails, base("o"));
    expect([lf.code, lf.stderr.split("\n")[0]]).toEqual([1, 'inference: cpu.loadTrainable: architecture "phi3" cannot train']);

    const badLora = setup((m) => (m.loraError = new InferenceError({ code: "invalid_argument", op: "cpu.applyLoRA", message: 'targets "nope" match no module' })));
    const bl = await train(badLora, [...base("o"), "--targets", "nope"]);
    expect([bl.code, bl.stderr]).toEqual([2, 'inference: cpu.applyLoRA: targets "nope" match no module\n']);
    expect(badLora.models[0]!.closed).toBe(1);

    const broken = join(root, "broken.jsonl");
    await writeFile(broken, '{"text": "fine"}\n{"txt": 1}\n');
    const bd = await train(s, ["-m", modelDir, "--data", broken, "--out", "o"]);
    expect([bd.code, bd.stderr]).toEqual([2, `inference: cpu.dataset: ${broken}:2: expected {"text": string} or {"messages": [{"role", "content"}, ...]}\n`]);
  });

  it("--help explains the flags; the top-level help lists the command", async () => {
    const s = setup();
    const r = await train(s, ["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: inference train [flags] --data train.jsonl --out OUT");
    expect(r.stdout).toContain("--eval-every-k K");
    const f = fakeIO();
    expect(await runCli(["--help"], f.io, s.runtime)).toBe(0);
    expect(f.stdout()).toContain("train --data F --out D");
  });
});

describe("trainingKitFrom (the default runtime's kit)", () => {
  it("refuses a cpu package without the training pieces, naming them", () => {
    const e = (() => {
      try {
        trainingKitFrom({ runTraining, cpuBackend: {} });
      } catch (err) {
        return err;
      }
      return undefined;
    })() as InferenceError;
    expect(e).toBeInstanceOf(InferenceError);
    expect([e.code, e.message, e.remedy]).toEqual([
      "unsupported",
      "inference.train: this build of @dappcore/inference-cpu cannot train (missing cpuBackend.loadTrainable, loadJsonlDataset, loadTokenizer)",
      "update @dappcore/inference-cpu",
    ]);
  });

  it("passes the request to loadTrainable, checks the model's methods, and reads data with the model's tokenizer", async () => {
    const seen: { path: string; options: Record<string, unknown> }[] = [];
    let closed = 0;
    let answer: unknown = new ScriptedTrainable();
    const cpu = {
      runTraining,
      loadJsonlDataset,
      loadTokenizer,
      cpuBackend: {
        loadTrainable: async (path: string, options: Record<string, unknown>) => {
          seen.push({ path, options });
          return ok(answer);
        },
      },
    };
    const kit = trainingKitFrom(cpu);
    const signal = new AbortController().signal;
    const r = await kit.loadTrainable("/m", { trainingMode: "full", seed: 3, signal });
    expect(r.ok).toBe(true);
    expect(seen).toEqual([{ path: "/m", options: { trainingMode: "full", seed: 3, signal } }]);
    await kit.loadTrainable("/m", { trainingMode: "lora", seed: 0, threads: 2, signal });
    expect(seen[1]!.options).toEqual({ trainingMode: "lora", seed: 0, threads: 2, signal });

    answer = { loss: () => 0, close: async () => void closed++ };
    const bad = await kit.loadTrainable("/m", { trainingMode: "lora", seed: 0, signal });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect([bad.error.code, bad.error.message]).toEqual(["unsupported", "inference.train: the cpu backend's trainable model lacks " +
        "backward, step, zeroGrad, setLearningRate, saveTrainingState, loadTrainingState, applyLoRA, saveWeights"]);
    }
    expect(closed).toBe(1);

    const data = await kit.loadDataset(dataPath, modelDir, { seqLen: 8, batchSize: 2 });
    expect(data.train.records).toBe(12);
    expect(data.train.batches(0)[0]!.tokens[0]).toHaveLength(9);
  });
});

/** The logits of the last position of `prompt`. */
async function lastLogits(model: TextModel, prompt: string): Promise<Float32Array> {
  const r = await model.classify([prompt], { logits: true });
  if (!r.ok) throw r.error;
  return r.value[0]!.logits!;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe("inference train over the cpu backend", () => {
  it("a LoRA run lowers the held-out loss and writes an adapter that reloads with withAdapterPath to the trained logits", async () => {
    const real = defaultRuntime(await importBundledBackends());
    const kit = await real.training!();
    const prompt = "abc abc";
    let trained: Float32Array | undefined;
    // Keep the trained model's logits: read them just before the command closes the model.
    const runtime: CliRuntime = {
      ...real,
      training: async () => ({
        ...kit,
        loadTrainable: async (path, request) => {
          const r = await kit.loadTrainable(path, request);
          if (!r.ok) return r;
          const model = r.value;
          const close = model.close.bind(model);
          model.close = async () => {
            trained = await lastLogits(model as unknown as TextModel, prompt);
            return close();
          };
          return ok(model);
        },
      }),
    };
    const dir = join(root, "learnable");
    const lines = Array.from({ length: 16 }, (_, i) => JSON.stringify({ text: `abc abc abc ${"xyz "[i % 4]}abc abc abc` }));
    await writeFile(join(root, "learnable.jsonl"), `${lines.join("\n")}\n`);
    const f = fakeIO({ cwd: root });
    const code = await runCli(["train", "-m", modelDir, "--data", "learnable.jsonl", "--eval-every-k", "4", "--seq-len", "12", "--batch", "2",
      "--steps", "20", "--lr", "0.03", "--warmup", "2", "--rank", "4", "--alpha", "8", "--targets", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
      "--out", dir], f.io, runtime);
    expect(f.stderr()).toContain("training: LoRA rank 4");
    expect(code).toBe(0);
    const m = /held-out loss ([\d.]+) -> ([\d.]+)/.exec(f.stdout());
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeLessThan(Number(m![1]) * 0.7);
    expect((await readdir(dir)).sort()).toEqual(["adapter_config.json", "adapter_model.safetensors", "checkpoints"]);

    const withAdapter = await loadModel(modelDir, withAdapterPath(dir));
    if (!withAdapter.ok) throw withAdapter.error;
    const base = await loadModel(modelDir);
    if (!base.ok) throw base.error;
    try {
      const reloaded = await lastLogits(withAdapter.value, prompt);
      expect(trained).toBeDefined();
      expect(maxAbsDiff(reloaded, trained!)).toBeLessThan(1e-4);
      expect(maxAbsDiff(await lastLogits(base.value, prompt), trained!)).toBeGreaterThan(1e-2);
    } finally {
      await withAdapter.value.close();
      await base.value.close();
    }
  });

  it("--mode full writes a complete model directory that loadModel reads", async () => {
    const runtime = defaultRuntime(await importBundledBackends());
    const out = join(root, "full-real");
    const f = fakeIO({ cwd: root });
    const code = await runCli(["train", "-m", modelDir, "--data", dataPath, "--mode", "full", "--seq-len", "8", "--batch", "2", "--steps", "3",
      "--lr", "0.001", "--out", out], f.io, runtime);
    expect([code, f.stdout().split("\n")[1]]).toEqual([0, `wrote model to ${out}`]);
    for (const file of ["config.json", "model.safetensors", "tokenizer.json"]) expect(await readdir(out)).toContain(file);
    const model = await loadModel(out);
    if (!model.ok) throw model.error;
    try {
      const base = await loadModel(modelDir);
      if (!base.ok) throw base.error;
      const diff = maxAbsDiff(await lastLogits(model.value, "the quick"), await lastLogits(base.value, "the quick"));
      await base.value.close();
      expect(diff).toBeGreaterThan(0);
    } finally {
      await model.value.close();
    }
  });
});
