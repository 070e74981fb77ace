// Whole-model gradients against PyTorch autograd: for every architecture (tied and untied), a tiny random checkpoint
// and one batch (B = 2, T = 12, a loss mask that leaves out a prompt and some positions) go through our
// TrainableTransformer (float32) and through scripts/reference/torch_gradients.py (autograd over the float32
// Hugging Face-faithful forward of torch_reference.py, on Debian's python3-torch). The losses must agree within 1e-5
// relative, and every gradient tensor within 1e-4 by the metric max |g_ours − g_torch| / max |g_torch|. Full mode
// compares every checkpoint tensor; LoRA mode (rank 4, alpha 8, all seven projections, B set to small random
// values so that the gradients of A are not zero) compares every lora_A and lora_B.
//
// Measured on x86-64, torch 1.13 (worst tensor of the run by that metric; in brackets, the worst elementwise
// relative error among the elements above 1e-3 of their tensor's largest magnitude; loss relative error ≤ 1.5e-7):
//   llama untied        full 1.0e-6 [2.9e-4]   LoRA 1.7e-6 [2.3e-4]
//   llama tied          full 8.8e-7 [2.3e-4]   LoRA 1.3e-6 [2.9e-4]
//   llama3 rope         full 9.4e-7 [2.4e-4]   LoRA 1.1e-6 [3.5e-4]
//   mistral             full 1.0e-6 [3.2e-4]   LoRA 9.7e-7 [2.7e-4]
//   qwen2               full 1.1e-6 [2.5e-4]   LoRA 1.0e-6 [2.6e-4]
//   qwen3 tied          full 1.8e-6 [5.0e-4]   LoRA 2.0e-6 [3.7e-4]
//   qwen3 untied        full 1.4e-6 [6.0e-4]   LoRA 1.5e-6 [4.9e-4]
//   gemma3_text tied    full 3.0e-6 [1.0e-3]   LoRA 3.1e-6 [7.2e-4]
//   gemma3_text untied  full 3.5e-6 [9.6e-4]   LoRA 3.3e-6 [1.1e-3]
// Against PyTorch in float64 (gemma3 tied, full), ours is 1.0e-6 off and PyTorch's float32 run 2.5e-6: the
// differences are float32 rounding on both sides. Jobs with a mask shifted by one position and a LoRA scale halved
// must fail the same comparison.
//
// Skipped, with the reason, when /usr/bin/python3 cannot import torch and CI is not set; with CI set, missing torch
// fails the run instead. The harness's own error paths are tested with stand-in interpreters that need no torch.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { useFakePython } from "./fake-python.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { makeRandomCheckpoint, type RandomCheckpointSpec } from "../../src/checkpoint/random-checkpoint.js";
import { loadModelDir } from "../../src/loader/model-dir.js";
import { TrainableTransformer } from "../../src/training/trainable-transformer.js";
import type { TrainableOptions } from "../../src/training/trainable-weights.js";
import { torchAvailable } from "../../../../scripts/reference/torch-reference.js";
import {
  gradientAgreement,
  torchGradients,
  type TorchGradientJob,
  type TorchGradientResult,
  type TorchLoraTensor,
} from "../../../../scripts/reference/torch-gradients.js";

const B = 2;
const T = 12;
const LOSS_TOLERANCE = 1e-5;
const GRAD_TOLERANCE = 1e-4;
const LORA = { rank: 4, alpha: 8, targetKeys: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] };

/** Token ids (B, T) in [0, 256) from a fixed LCG, and token 257 (a special token of the test tokenizer). */
function batchTokens(): Int32Array {
  const out = new Int32Array(B * T);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) % 256;
  }
  out[5] = 257;
  return out;
}

/**
 * Mask (B, T): sequence 0 leaves out a 4-token prompt, sequence 1 leaves out positions 2 and 7. The last position of
 * each sequence is 1, which both sides must ignore (it has no next token).
 */
const MASK = Float32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1]);
const TOKENS = batchTokens();

const availability = await torchAvailable();
const inCI = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";
const skipReason = availability.ok ? "" : availability.reason;
if (!availability.ok && !inCI) console.warn(`torch-gradients: PyTorch gradient agreement skipped: ${skipReason}`);

const dirs: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

// Seeds and embedding scales as in torch-agreement.test.ts. gemma3_text keeps its 6 layers (5 sliding with window
// 8, which the 12 tokens cross, and 1 full); the others have 2. Hidden 64 throughout.
const cases: { label: string; spec: RandomCheckpointSpec }[] = [
  { label: "llama (untied)", spec: { architecture: "llama", seed: 3 } },
  { label: "llama (tied)", spec: { architecture: "llama", seed: 3, tieWordEmbeddings: true } },
  { label: "llama (Llama 3 rope scaling)", spec: { architecture: "llama", seed: 5, llama3RopeScaling: true } },
  { label: "mistral", spec: { architecture: "mistral", seed: 4 } },
  { label: "qwen2 (q/k/v biases)", spec: { architecture: "qwen2", seed: 3 } },
  { label: "qwen3 (tied)", spec: { architecture: "qwen3", seed: 3, embeddingStd: 0.1 } },
  { label: "qwen3 (untied)", spec: { architecture: "qwen3", seed: 3, embeddingStd: 0.1, tieWordEmbeddings: false } },
  { label: "gemma3_text (tied, window 8 crossed)", spec: { architecture: "gemma3_text", seed: 3, embeddingStd: 0.1, slidingWindow: 8 } },
  {
    label: "gemma3_text (untied, window 8 crossed)",
    spec: { architecture: "gemma3_text", seed: 7, embeddingStd: 0.1, slidingWindow: 8, tieWordEmbeddings: false },
  },
];
const modes = ["full", "lora"] as const;

/** Our side of one run: the loss, the gradients by name, and (LoRA) the A/B values sent to PyTorch. */
interface Ours {
  readonly loss: number;
  readonly count: number;
  readonly grads: Map<string, Float32Array>;
  readonly shapes: Map<string, readonly number[]>;
  readonly lora: TorchLoraTensor[] | undefined;
}

/** Seeded values in [-0.1, 0.1) for LoRA B (PEFT initialises B to zero, which would zero the gradients of A). */
function smallRandom(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) / 16777216 - 0.5) * 0.2;
  }
  return out;
}

async function runOurs(dir: string, mode: "full" | "lora"): Promise<Ours> {
  const ckpt = await loadModelDir(dir);
  const opts: TrainableOptions = mode === "full" ? { mode } : { mode, lora: LORA, seed: 1 };
  const model = new TrainableTransformer(ckpt.config, ckpt.weights, opts);
  let seed = 101;
  if (mode === "lora") for (const p of model.parameters()) if (p.name.endsWith(".lora_B.weight")) p.value.set(smallRandom(p.value.length, seed++));
  const loss = model.forwardLoss(TOKENS, MASK, B, T);
  model.backward();
  const params = model.parameters();
  return {
    loss,
    count: model.lastTokenCount,
    grads: new Map(params.map((p) => [p.name, Float32Array.from(p.grad)])),
    shapes: new Map(params.map((p) => [p.name, p.shape])),
    lora: mode === "lora" ? params.map((p) => ({ name: p.name, shape: p.shape, value: Float32Array.from(p.value) })) : undefined,
  };
}

function job(dir: string, ours: Ours, extra: Partial<TorchGradientJob> = {}): TorchGradientJob {
  return {
    modelDir: dir,
    tokens: TOKENS,
    mask: MASK,
    B,
    T,
    lora: ours.lora === undefined ? undefined : { scale: LORA.alpha / LORA.rank, tensors: ours.lora },
    ...extra,
  };
}

interface Comparison {
  readonly lossRelative: number;
  readonly worst: { name: string; relative: number };
  readonly worstElement: number;
  readonly names: { ours: string[]; theirs: string[] };
  readonly failing: string[];
}

function compare(ours: Ours, theirs: TorchGradientResult): Comparison {
  const failing: string[] = [];
  let worst = { name: "", relative: 0 };
  let worstElement = 0;
  for (const [name, g] of ours.grads) {
    const ref = theirs.grads.get(name);
    if (ref === undefined) continue;
    expect(ref.shape).toEqual(ours.shapes.get(name));
    const a = gradientAgreement(g, ref.data);
    expect(a.maxAbs, `${name}: the reference gradient is all zero`).toBeGreaterThan(0);
    if (a.relative > worst.relative) worst = { name, relative: a.relative };
    worstElement = Math.max(worstElement, a.worstElementRelative);
    if (!(a.relative <= GRAD_TOLERANCE)) failing.push(`${name}: ${a.relative.toExponential(2)}`);
  }
  return {
    lossRelative: Math.abs(ours.loss - theirs.loss) / Math.abs(theirs.loss),
    worst,
    worstElement,
    names: { ours: [...ours.grads.keys()].sort(), theirs: [...theirs.grads.keys()].sort() },
    failing,
  };
}

describe.skipIf(!availability.ok && !inCI)(
  `whole-model gradients agree with PyTorch autograd${availability.ok ? "" : ` - skipped: ${skipReason}`}`,
  () => {
    const runs: { label: string; mode: "full" | "lora"; dir: string; ours: Ours; theirs: TorchGradientResult }[] = [];
    const measured: string[] = [];
    let sensitivity: TorchGradientResult[] = [];

    beforeAll(async () => {
      const pending: { label: string; mode: "full" | "lora"; dir: string; ours: Ours }[] = [];
      for (const { label, spec } of cases) {
        const dir = await tempDir(`grad-${spec.architecture}-`);
        await makeRandomCheckpoint(dir, spec);
        for (const mode of modes) pending.push({ label, mode, dir, ours: await runOurs(dir, mode) });
      }
      // Jobs that must disagree, so that agreement above is not vacuous: the first run with one more position of
      // the mask counted, and the first LoRA run with the scale halved.
      const firstFull = pending[0];
      const firstLora = pending[1];
      const shiftedMask = Float32Array.from(MASK);
      shiftedMask[2] = 1;
      // And the gemma3 tied full run in float64 in PyTorch: the float32 rounding of both sides, measured.
      const gemma = pending.find((p) => p.label.startsWith("gemma3_text (tied") && p.mode === "full")!;
      const jobs = [
        ...pending.map((p) => job(p.dir, p.ours)),
        job(firstFull.dir, firstFull.ours, { mask: shiftedMask }),
        job(firstLora.dir, firstLora.ours, { lora: { scale: LORA.alpha / LORA.rank / 2, tensors: firstLora.ours.lora! } }),
        job(gemma.dir, gemma.ours, { precision: "float64" }),
      ];
      const results = await torchGradients(jobs);
      pending.forEach((p, i) => runs.push({ ...p, theirs: results[i] }));
      sensitivity = results.slice(pending.length);
    }, 120_000);

    afterAll(() => {
      if (measured.length > 0) console.log(`torch-gradients: measured\n${measured.join("\n")}`);
    });

    it("python3-torch can be imported (required when CI is set)", () => {
      expect(availability.ok, skipReason).toBe(true);
    });

    for (const { label } of cases) {
      for (const mode of modes) {
        it(`${label}, ${mode}: loss within ${LOSS_TOLERANCE} relative, every gradient within ${GRAD_TOLERANCE}`, () => {
          const run = runs.find((r) => r.label === label && r.mode === mode)!;
          expect(run.theirs.count).toBe(run.ours.count);
          expect(run.ours.count).toBe(16); // 22 predictions, 6 left out by the mask
          const c = compare(run.ours, run.theirs);
          // The same tensors on both sides: every checkpoint tensor (full) or every lora_A/lora_B pair (LoRA).
          expect(c.names.theirs).toEqual(c.names.ours);
          expect(c.names.ours.length).toBeGreaterThan(mode === "lora" ? 27 : 10);
          measured.push(
            `${label}, ${mode}: loss ${c.lossRelative.toExponential(1)}, gradients ${c.worst.relative.toExponential(1)} ` +
              `(${c.worst.name}) [${c.worstElement.toExponential(1)}]`,
          );
          expect(c.lossRelative).toBeLessThanOrEqual(LOSS_TOLERANCE);
          expect(c.failing).toEqual([]);
        });
      }
    }

    it("the comparison detects a mask off by one position and a LoRA scale off by 2", () => {
      const [mask, scale] = sensitivity;
      const full = compare(runs[0].ours, mask);
      expect(full.lossRelative).toBeGreaterThan(1e-3);
      expect(full.failing.length).toBeGreaterThan(0);
      const lora = compare(runs[1].ours, scale);
      expect(lora.lossRelative).toBeGreaterThan(10 * LOSS_TOLERANCE);
      expect(lora.failing.length).toBeGreaterThan(0);
    });

    it("float64 in PyTorch: ours and PyTorch's float32 both within float32 rounding of it", () => {
      const f64 = sensitivity[2];
      const run = runs.find((r) => r.label.startsWith("gemma3_text (tied") && r.mode === "full")!;
      const ours = compare(run.ours, f64);
      expect(ours.lossRelative).toBeLessThanOrEqual(LOSS_TOLERANCE);
      expect(ours.failing).toEqual([]);
      // PyTorch's own float32 run against its float64 one: close, but not equal (the precision was honoured).
      const torch32: { loss: number; grads: Map<string, Float32Array> } = {
        loss: run.theirs.loss,
        grads: new Map([...run.theirs.grads].map(([n, g]) => [n, g.data])),
      };
      const theirs = compare({ ...run.ours, ...torch32 }, f64);
      expect(theirs.failing).toEqual([]);
      expect(theirs.worst.relative).toBeGreaterThan(0);
      expect(theirs.lossRelative).toBeGreaterThan(0);
      measured.push(
        `gemma3_text (tied) full against PyTorch float64: ours ${ours.worst.relative.toExponential(1)}, ` +
          `PyTorch float32 ${theirs.worst.relative.toExponential(1)}`,
      );
    });

    describe("errors from the script", () => {
      const dirOf = (i = 0) => runs[i].dir;

      it("a token outside the vocabulary: invalid_argument, naming it", async () => {
        const tokens = Int32Array.from(TOKENS);
        tokens[17] = 300;
        const e = (await torchGradients([{ modelDir: dirOf(), tokens, mask: MASK, B, T }]).catch((x: unknown) => x)) as InferenceError;
        expect(e).toBeInstanceOf(InferenceError);
        expect(e.code).toBe("invalid_argument");
        expect(e.message).toBe("reference.torchGradients: token id 300 at (1, 5) is outside the vocabulary [0, 259)");
      });

      it("a LoRA tensor on no projection of the model: invalid_argument, naming it", async () => {
        const lora = runs[1].ours.lora!.map((t) => ({ ...t, name: t.name.replace("model.layers.1.", "model.layers.9.") }));
        const e = (await torchGradients([{ modelDir: dirOf(1), tokens: TOKENS, B, T, lora: { scale: 2, tensors: lora } }]).catch(
          (x: unknown) => x,
        )) as InferenceError;
        expect(e.code).toBe("invalid_argument");
        expect(e.message).toBe("reference.torchGradients: tensor model.layers.9.mlp.down_proj.lora_A.weight names no projection of the model");
      });

      it("a LoRA A that does not fit its projection: invalid_argument, with the shapes", async () => {
        const lora = runs[1].ours.lora!.map((t) =>
          t.name === "model.layers.0.self_attn.q_proj.lora_A.weight" ? { ...t, shape: [8, 32] } : t,
        );
        const e = (await torchGradients([{ modelDir: dirOf(1), tokens: TOKENS, B, T, lora: { scale: 2, tensors: lora } }]).catch(
          (x: unknown) => x,
        )) as InferenceError;
        expect(e.code).toBe("invalid_argument");
        expect(e.message).toBe(
          "reference.torchGradients: model.layers.0.self_attn.q_proj: lora_A [8, 32] and lora_B [64, 4] do not fit the weight [64, 64] (A (r, in), B (out, r))",
        );
      });

      it("a mask that counts no target: invalid_argument", async () => {
        const mask = new Float32Array(B * T);
        for (let b = 0; b < B; b++) mask[b * T + T - 1] = 1; // only the last positions, which predict nothing
        const e = (await torchGradients([{ modelDir: dirOf(), tokens: TOKENS, mask, B, T }]).catch((x: unknown) => x)) as InferenceError;
        expect(e.code).toBe("invalid_argument");
        expect(e.message).toMatch(/^reference\.torchGradients: .*batch-0\.safetensors: the mask counts no next-token target$/);
      });

      it("a directory without config.json: invalid_argument, before torch is imported", async () => {
        const dir = await tempDir("grad-empty-");
        const e = (await torchGradients([{ modelDir: dir, tokens: TOKENS, B, T }]).catch((x: unknown) => x)) as InferenceError;
        expect(e.code).toBe("invalid_argument");
        expect(e.message).toBe(`reference.torchGradients: ${dir}: no config.json`);
      });
    });
  },
);

describe("the agreement metric", () => {
  it("is the largest error over the largest reference magnitude; elementwise over elements above 1e-3 of it", () => {
    const a = gradientAgreement([1, 2.0002, 0.5, 1e-6], Float32Array.from([1, 2, 0.5001, 0]));
    expect(a.maxAbs).toBe(2);
    expect(a.maxAbsError).toBeCloseTo(2e-4, 9);
    expect(a.relative).toBeCloseTo(1e-4, 7);
    // 0.5 vs 0.5001: 2e-4 relative; the element whose reference is 0 (below 1e-3 · 2) is not counted.
    expect(a.worstElementRelative).toBeCloseTo(1e-4 / 0.5001, 6);
  });

  it("all-zero gradients agree; a gradient where the reference has none, or a NaN, does not", () => {
    expect(gradientAgreement([0, 0], new Float32Array(2)).relative).toBe(0);
    expect(gradientAgreement([0, 1e-9], new Float32Array(2)).relative).toBe(Infinity);
    expect(gradientAgreement([NaN, 1], Float32Array.from([1, 1])).relative).toBe(Infinity);
  });

  it("different lengths: invalid_argument", () => {
    const e = (() => {
      try {
        gradientAgreement([1, 2], new Float32Array(3));
      } catch (x) {
        return x as InferenceError;
      }
    })();
    expect(e?.code).toBe("invalid_argument");
    expect(e?.message).toBe("reference.torchGradients: gradient lengths differ: ours 2, the reference's 3");
  });
});

describe("errors of the gradient harness (stand-in interpreters, no torch needed)", () => {
  const fakePython = useFakePython(tempDir, "grad-fake-");

  const ok: TorchGradientJob = { modelDir: "/nonexistent", tokens: new Int32Array(4), B: 2, T: 2 };

  it("inconsistent jobs are refused before anything runs: invalid_argument", async () => {
    process.env.TORCH_REFERENCE_PYTHON = "/nonexistent/python3";
    const cases: [TorchGradientJob[], string][] = [
      [[], "at least one job is needed"],
      [[{ ...ok, T: 1, tokens: new Int32Array(2) }], "job 0: B must be a positive integer and T at least 2, got B = 2, T = 1"],
      [[ok, { ...ok, tokens: new Int32Array(5) }], "job 1: tokens has 5 entries for B·T = 4"],
      [[{ ...ok, mask: new Float32Array(3) }], "job 0: mask has 3 entries for B·T = 4"],
      [[{ ...ok, lora: { scale: NaN, tensors: [] } }], "job 0: the LoRA scale must be finite, got NaN"],
      [[{ ...ok, lora: { scale: 2, tensors: [] } }], "job 0: LoRA mode needs at least one lora_A/lora_B tensor"],
      [
        [{ ...ok, lora: { scale: 2, tensors: [{ name: "x.lora_A.weight", shape: [2, 3], value: [1, 2] }] } }],
        "job 0: x.lora_A.weight has 2 values for shape [2, 3]",
      ],
    ];
    for (const [jobs, message] of cases) {
      const e = (await torchGradients(jobs).catch((x: unknown) => x)) as InferenceError;
      expect(e).toBeInstanceOf(InferenceError);
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toBe(`reference.torchGradients: ${message}`);
    }
  });

  it("no interpreter: unsupported, with the apt remedy", async () => {
    process.env.TORCH_REFERENCE_PYTHON = "/nonexistent/python3";
    const e = (await torchGradients([ok]).catch((x: unknown) => x)) as InferenceError;
    expect(e.code).toBe("unsupported");
    expect(e.message).toMatch(/^reference\.torchGradients: cannot run \/nonexistent\/python3: spawn \/nonexistent\/python3 ENOENT$/);
    expect(e.remedy).toContain("apt-get install python3-torch");
  });

  it("an interpreter without torch: unsupported, with the apt remedy", async () => {
    process.env.TORCH_REFERENCE_PYTHON = await fakePython(
      `echo "torch_gradients: cannot import torch (No module named 'torch'); install python3-torch" >&2; exit 3`,
    );
    const e = (await torchGradients([ok]).catch((x: unknown) => x)) as InferenceError;
    expect(e.code).toBe("unsupported");
    expect(e.message).toBe("reference.torchGradients: cannot import torch (No module named 'torch'); install python3-torch");
    expect(e.remedy).toContain("apt-get install python3-torch");
  });

  it("an unsupported model: unsupported; a broken one: invalid_model", async () => {
    process.env.TORCH_REFERENCE_PYTHON = await fakePython(`echo 'torch_gradients: model_type "gpt2" is not supported' >&2; exit 4`);
    const u = (await torchGradients([ok]).catch((x: unknown) => x)) as InferenceError;
    expect(u.code).toBe("unsupported");
    expect(u.message).toBe('reference.torchGradients: model_type "gpt2" is not supported');
    process.env.TORCH_REFERENCE_PYTHON = await fakePython(`echo "torch_gradients: missing tensor model.norm.weight" >&2; exit 5`);
    const m = (await torchGradients([ok]).catch((x: unknown) => x)) as InferenceError;
    expect(m.code).toBe("invalid_model");
    expect(m.message).toBe("reference.torchGradients: missing tensor model.norm.weight");
  });

  it("a script that crashes: internal, with its last message", async () => {
    process.env.TORCH_REFERENCE_PYTHON = await fakePython(`echo "Traceback (most recent call last):" >&2; echo "RuntimeError: boom" >&2; exit 1`);
    const e = (await torchGradients([ok]).catch((x: unknown) => x)) as InferenceError;
    expect(e.code).toBe("internal");
    expect(e.message).toBe("reference.torchGradients: the script failed: RuntimeError: boom");
  });

  it("a script that succeeds without writing its output, or writes a bad one: internal", async () => {
    process.env.TORCH_REFERENCE_PYTHON = await fakePython(`exit 0`);
    const none = (await torchGradients([ok]).catch((x: unknown) => x)) as InferenceError;
    expect(none.code).toBe("internal");
    expect(none.message).toMatch(
      /^reference\.torchGradients: malformed reference output: the output file cannot be read: safetensors\.open: cannot open ".*grads-0\.safetensors": ENOENT/,
    );
    // The output argument is the 4th: a safetensors file without loss and count metadata.
    process.env.TORCH_REFERENCE_PYTHON = await fakePython(
      `printf '\\020\\000\\000\\000\\000\\000\\000\\000{}              ' > "$4"`,
    );
    const meta = (await torchGradients([ok]).catch((x: unknown) => x)) as InferenceError;
    expect(meta.code).toBe("internal");
    expect(meta.message).toBe("reference.torchGradients: malformed reference output: metadata loss undefined and count undefined");
  });
});
