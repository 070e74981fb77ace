// The fast (WebAssembly) float32 TrainableTransformer against the plain float32 one: loss, logits and every
// parameter's gradient within 1e-5 relative (per tensor) for each architecture in full and LoRA mode, LoRA dropout
// and the backward's scale included; the same bits on 1 and 2 threads; an optimizer updating the arena views in
// place; the frozen 16-bit path of a projection; and the option errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import type { DType } from "../../src/model-config.js";
import { bf16Table } from "../../src/engine/kernels/reference/index.js";
import { createRng } from "../../src/sampling/rng.js";
import { AdamW } from "../../src/training/optimizer.js";
import { linearBackward, linearForward } from "../../src/training/train-linear.js";
import { TrainableTransformer } from "../../src/training/trainable-transformer.js";
import type { TrainableOptions, TrainMatrix } from "../../src/training/trainable-weights.js";
import { FastLinear } from "../../src/training/fast/fast-linear.js";
import { FastRuntime } from "../../src/training/fast/fast-runtime.js";
import { ensureBuilt } from "../kernels-wasm/helpers.js";
import { batch, variants } from "./trainable-models.js";

const allTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const open: TrainableTransformer[] = [];

beforeAll(async () => {
  await ensureBuilt();
});

afterAll(async () => {
  for (const m of open) await m.close();
});

function model(v: (typeof variants)[number], dtype: DType, opts: TrainableOptions): TrainableTransformer {
  const { config, weights } = v.build(dtype, 3);
  const m = new TrainableTransformer(config, weights, opts);
  open.push(m);
  return m;
}

/** ‖a − b‖ / ‖b‖ in float64 (0 when both are zero). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Gives the LoRA B matrices the same non-zero values in both models (B starts at zero, which hides dA). */
function seedLoraB(models: TrainableTransformer[]): void {
  for (const m of models) {
    const rng = createRng(99);
    for (const p of m.parameters()) if (p.name.endsWith("lora_B.weight")) for (let i = 0; i < p.value.length; i++) p.value[i] = 0.2 * (rng.nextFloat() - 0.5);
  }
}

/** One step on both models; expects loss, logits and every gradient to agree within `tol` relative. */
function compareStep(plain: TrainableTransformer, fast: TrainableTransformer, B: number, T: number, scale: number, tol = 1e-5): void {
  const V = plain.config.vocabSize;
  const tokens = batch(B, T, V, 5);
  const mask = Float32Array.from({ length: B * T }, (_, i) => (i % 5 === 2 ? 0 : 1));
  expect(relErr(fast.logits(tokens, B, T), plain.logits(tokens, B, T))).toBeLessThan(tol);
  const lp = plain.forwardLoss(tokens, mask, B, T);
  const lf = fast.forwardLoss(tokens, mask, B, T);
  expect(Math.abs(lf - lp) / lp).toBeLessThan(tol);
  plain.backward(scale);
  fast.backward(scale);
  const pp = plain.parameters();
  const fp = fast.parameters();
  expect(fp.map((p) => p.name)).toEqual(pp.map((p) => p.name));
  for (let i = 0; i < pp.length; i++) {
    expect(relErr(fp[i].grad, pp[i].grad), `${pp[i].name} gradient`).toBeLessThan(tol);
  }
}

describe("fast float32 path equals the plain float32 path", () => {
  const picked = ["llama", "qwen2 (q/k/v biases)", "qwen3 (q/k norm, tied)", "gemma3_text (sandwich norms, GELU, sliding, tied)", "gemma3_text with logit and attention soft-caps", "llama (llama3 rope scaling, untied)"];
  for (const v of variants.filter((x) => picked.includes(x.name))) {
    it(`${v.name}: full mode (F32 checkpoint)`, () => {
      const plain = model(v, "F32", { mode: "full", kernels: "plain" });
      const fast = model(v, "F32", { mode: "full", kernels: "wasm", threads: 1 });
      expect([plain.kernels, fast.kernels]).toEqual(["plain", "wasm"]);
      compareStep(plain, fast, 2, 7, 1);
    });
    it(`${v.name}: LoRA mode on every projection (BF16 checkpoint), backward scale 0.5`, () => {
      const opts: TrainableOptions = { mode: "lora", lora: { rank: 3, alpha: 6, targetKeys: allTargets } };
      const plain = model(v, "BF16", { ...opts, kernels: "plain" });
      const fast = model(v, "BF16", { ...opts, kernels: "wasm", threads: 1 });
      seedLoraB([plain, fast]);
      compareStep(plain, fast, 2, 7, 0.5);
    });
  }

  it("LoRA dropout draws the same masks and gives the same gradients", () => {
    const v = variants.find((x) => x.name === "llama")!;
    const opts: TrainableOptions = { mode: "lora", lora: { rank: 2, alpha: 4, targetKeys: ["q_proj", "up_proj", "down_proj"], dropout: 0.3 }, seed: 4 };
    const plain = model(v, "F16", { ...opts, kernels: "plain" });
    const fast = model(v, "F16", { ...opts, kernels: "wasm", threads: 1 });
    seedLoraB([plain, fast]);
    const tokens = batch(2, 6, plain.config.vocabSize);
    const lp = plain.forwardLoss(tokens, undefined, 2, 6);
    const lf = fast.forwardLoss(tokens, undefined, 2, 6);
    expect(Math.abs(lf - lp) / lp).toBeLessThan(1e-5);
    plain.backward();
    fast.backward();
    const fp = fast.parameters();
    plain.parameters().forEach((p, i) => expect(relErr(fp[i].grad, p.grad), p.name).toBeLessThan(1e-5));
  });

  it("gradients accumulate over two steps, and a larger batch after a smaller one reallocates correctly", () => {
    const v = variants.find((x) => x.name === "llama")!;
    const plain = model(v, "F32", { mode: "full", kernels: "plain" });
    const fast = model(v, "F32", { mode: "full", kernels: "wasm", threads: 1 });
    compareStep(plain, fast, 1, 5, 1);
    compareStep(plain, fast, 3, 9, 0.25); // grows R and T; gradients keep accumulating
  });
});

describe("threads", () => {
  it("1 and 2 threads give the same bits (loss, gradients) on a batch big enough to split", async () => {
    const v = variants.find((x) => x.name === "qwen3 (q/k norm, tied)")!;
    const opts: TrainableOptions = { mode: "full" };
    const one = model(v, "F32", { ...opts, kernels: "wasm", threads: 1 });
    const two = model(v, "F32", { ...opts, kernels: "wasm", threads: 2 });
    expect(two.threads).toBe(2);
    const [B, T] = [4, 48];
    const tokens = batch(B, T, one.config.vocabSize, 9);
    expect(two.forwardLoss(tokens, undefined, B, T)).toBe(one.forwardLoss(tokens, undefined, B, T));
    one.backward();
    two.backward();
    const tp = two.parameters();
    one.parameters().forEach((p, i) => expect(Buffer.compare(Buffer.from(tp[i].grad.slice().buffer), Buffer.from(p.grad.slice().buffer)), p.name).toBe(0));
    await two.close();
    // Closed: later calls run on the calling thread, with the same results.
    expect(two.forwardLoss(tokens, undefined, B, T)).toBe(one.forwardLoss(tokens, undefined, B, T));
  });
});

describe("parameters are views into the arena", () => {
  it("AdamW updates them in place, and the next forward reads the update (as on the plain path)", () => {
    const v = variants.find((x) => x.name === "llama")!;
    const plain = model(v, "F32", { mode: "full", kernels: "plain" });
    const fast = model(v, "F32", { mode: "full", kernels: "wasm", threads: 1 });
    const tokens = batch(2, 6, plain.config.vocabSize);
    const before = fast.forwardLoss(tokens, undefined, 2, 6);
    for (const m of [plain, fast]) {
      m.forwardLoss(tokens, undefined, 2, 6);
      m.backward();
      new AdamW(m.parameters(), { lr: 1e-2 }).step();
    }
    const after = fast.forwardLoss(tokens, undefined, 2, 6);
    expect(after).toBeLessThan(before);
    expect(Math.abs(after - plain.forwardLoss(tokens, undefined, 2, 6)) / after).toBeLessThan(1e-5);
    const exported = fast.exportWeights();
    expect(exported[0].data.byteLength).toBe(fast.parameters()[0].value.length * 4); // a copy, not the arena
  });
});

describe("frozen 16-bit projection (the path of models too big to widen)", () => {
  it("forward and input gradient through BF16 weights match the plain kernels", async () => {
    const rt = new FastRuntime(1);
    const [R, C, O] = [5, 12, 9];
    const rng = createRng(3);
    const half = Uint16Array.from({ length: O * C }, () => 0x3c00 + Math.floor(rng.nextFloat() * 0x400) - 0x200 + (rng.nextFloat() < 0.5 ? 0x8000 : 0));
    const m: TrainMatrix = {
      name: "w", O, C, w: undefined, half, halfDtype: "BF16", lut: bf16Table(), dW: undefined, bias: undefined, dBias: undefined, lora: undefined,
    };
    const x = rt.f32(R * C);
    const dOut = rt.f32(R * O);
    for (const a of [x, dOut]) for (let i = 0; i < a.length; i++) a[i] = rng.nextFloat() - 0.5;
    const out = rt.f32(R * O);
    const dX = rt.f32(R * C);
    const b = (n: number) => rt.bytes(n * 4);
    const lin = new FastLinear(rt, { wT: b(O * C), dOutT: b(O * R), xT: b(C * R), xTOf: 0, tmp: b(R * C), xk: b(R * C), xs: b(R), small: b(R), smallW: b(C + O) });
    lin.forward(m, rt.ptr(out), rt.ptr(x), R, 0, createRng(0));
    lin.backward(m, rt.ptr(dX), rt.ptr(dOut), rt.ptr(x), R, 0);
    const wantOut = new Float32Array(R * O);
    const wantDX = new Float32Array(R * C);
    linearForward(m, wantOut, Float32Array.from(x), R, 0, createRng(0));
    linearBackward(m, wantDX, Float32Array.from(dOut), Float32Array.from(x), new Float32Array(R), R, 0);
    expect(relErr(out, wantOut)).toBeLessThan(1e-6);
    expect(relErr(dX, wantDX)).toBeLessThan(1e-6);
    await rt.close();
  });
});

describe("options", () => {
  const v = variants[0];
  const { config, weights } = v.build("F32", 1);
  function thrown(fn: () => unknown): InferenceError {
    try {
      fn();
    } catch (e) {
      if (e instanceof InferenceError) return e;
      throw e;
    }
    throw new Error("nothing thrown");
  }

  it("auto picks the wasm kernels for float32 and the plain ones for float64", () => {
    const m = new TrainableTransformer(config, weights, { mode: "full" });
    open.push(m);
    expect(m.kernels).toBe("wasm");
    expect(TrainableTransformer.float64(config, weights, { mode: "full" }).kernels).toBe("plain");
    expect(TrainableTransformer.float64(config, weights, { mode: "full" }).threads).toBe(1);
  });

  it("rejects a bad kernels choice, wasm in float64, and a bad thread count", () => {
    let e = thrown(() => new TrainableTransformer(config, weights, { mode: "full", kernels: "gpu" as "wasm" }));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe('cpu.trainable: kernels must be "auto", "wasm" or "plain", got gpu');
    e = thrown(() => new TrainableTransformer(config, weights, { mode: "full", kernels: "wasm" }, "float64"));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe('cpu.trainable: kernels "wasm" runs float32 models only; float64 runs the plain kernels');
    for (const threads of [0, 1.5, 257]) {
      e = thrown(() => new TrainableTransformer(config, weights, { mode: "full", threads }));
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toBe(`cpu.trainable: threads must be an integer from 1 to 256, got ${threads}`);
    }
  });

  it("an array outside the arena is an internal error naming it", async () => {
    const rt = new FastRuntime(1);
    const e = thrown(() => rt.ptr(new Float32Array(4)));
    expect(e.code).toBe("internal");
    expect(e.message).toBe("cpu.trainable: a training buffer lies outside the WebAssembly arena");
    await rt.close();
  });
});
