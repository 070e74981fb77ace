// TrainableTransformer's forward, parameters and errors: logits equal the inference engine's for every
// architecture, LoRA with B = 0 is the base model exactly, the loss is the masked mean cross-entropy, parameters
// carry HF/PEFT names and PEFT's initialisation, exported weights reload, and every bad input fails with a typed error.
import { describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InferenceError } from "@dappcore/inference";
import { Transformer } from "../../src/engine/transformer.js";
import { TrainableTransformer } from "../../src/training/trainable-transformer.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { loadModelDir } from "../../src/loader/model-dir.js";
import type { DType, ModelConfig, WeightStore } from "../../src/model-config.js";
import { MemoryWeights, maxAbsDiff, thrown } from "../engine/tiny-model.js";
import { batch, variants } from "./trainable-models.js";

const allTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/** The engine's logits of each sequence of tokens (B, T), run one sequence at a time over its own cache. */
function engineLogits(config: ModelConfig, weights: WeightStore, tokens: Int32Array, B: number, T: number): Float32Array {
  const engine = new Transformer(config, weights);
  const V = config.vocabSize;
  const out = new Float32Array(B * T * V);
  for (let b = 0; b < B; b++) {
    engine.forward(tokens.subarray(b * T, (b + 1) * T), engine.createCache(T), out.subarray(b * T * V), { allPositions: true });
  }
  return out;
}

describe("TrainableTransformer.logits equals Transformer.forward", () => {
  for (const v of variants) {
    for (const dtype of ["F32", "BF16"] as DType[]) {
      it(`${v.name} ${dtype}: full and LoRA modes within 1e-5`, () => {
        const { config, weights } = v.build(dtype);
        const B = 2, T = 7;
        const tokens = batch(B, T, config.vocabSize);
        const want = engineLogits(config, weights, tokens, B, T);
        const full = new TrainableTransformer(config, weights, { mode: "full" }).logits(tokens, B, T);
        expect(maxAbsDiff(full, want)).toBeLessThan(1e-5);
        const lora = new TrainableTransformer(config, weights, { mode: "lora", lora: { targetKeys: allTargets } });
        expect(maxAbsDiff(lora.logits(tokens, B, T), want)).toBeLessThan(1e-5);
        expect(maxAbsDiff(want.subarray(0, 50), want.subarray(50, 100))).toBeGreaterThan(1e-3); // not degenerate
      });
    }
  }

  it("a random checkpoint directory with llama3 rope scaling, loaded with loadModelDir", async () => {
    const dir = await mkdtemp(join(tmpdir(), "trainable-"));
    try {
      await makeRandomCheckpoint(dir, {
        architecture: "llama", hiddenSize: 16, intermediateSize: 24, numHeads: 4, numKVHeads: 2, numLayers: 1,
        llama3RopeScaling: true, vocabSize: 300,
      });
      const { config, weights } = await loadModelDir(dir);
      expect(config.ropeScaling.type).toBe("llama3");
      const B = 1, T = 80; // past original_max_position_embeddings (64)
      const tokens = batch(B, T, config.vocabSize, 3);
      const want = engineLogits(config, weights, tokens, B, T);
      const got = new TrainableTransformer(config, weights, { mode: "lora" }).logits(tokens, B, T);
      expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  for (const dtype of ["F32", "BF16"] as DType[]) {
    it(`LoRA with B = 0 gives the base logits exactly (${dtype})`, () => {
      const { config, weights } = variants[5].build(dtype);
      const tokens = batch(2, 6, config.vocabSize);
      const base = new TrainableTransformer(config, weights, { mode: "full" }).logits(tokens, 2, 6);
      const lora = new TrainableTransformer(config, weights, { mode: "lora", lora: { targetKeys: allTargets, rank: 4, alpha: 8 } });
      expect(Array.from(lora.logits(tokens, 2, 6))).toEqual(Array.from(base));
      // and a non-zero B changes them
      lora.parameters().find((p) => p.name.endsWith("q_proj.lora_B.weight"))!.value.fill(0.5);
      expect(maxAbsDiff(lora.logits(tokens, 2, 6), base)).toBeGreaterThan(1e-3);
    });
  }

  it("a smaller batch after a larger one reuses the arena and gives the same logits as a fresh model", () => {
    const { config, weights } = variants[4].build();
    const model = new TrainableTransformer(config, weights, { mode: "full" });
    const big = batch(3, 9, config.vocabSize, 1);
    model.logits(big, 3, 9);
    model.forwardLoss(big, undefined, 3, 9);
    model.backward();
    const small = batch(2, 4, config.vocabSize, 2);
    const fresh = new TrainableTransformer(config, weights, { mode: "full" });
    expect(Array.from(model.logits(small, 2, 4))).toEqual(Array.from(fresh.logits(small, 2, 4)));
  });
});

describe("forwardLoss", () => {
  const { config, weights } = variants[0].build();
  const V = config.vocabSize;
  const B = 2, T = 6;
  const tokens = batch(B, T, V);

  /** Mean cross-entropy recomputed in float64 from the logits. */
  function expectedLoss(model: TrainableTransformer, mask: Float32Array | undefined): number {
    const logits = model.logits(tokens, B, T);
    let sum = 0;
    let count = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T - 1; t++) {
        const r = b * T + t;
        if (mask !== undefined && mask[r] === 0) continue;
        const row = logits.subarray(r * V, (r + 1) * V);
        const max = Math.max(...row);
        const lse = max + Math.log(row.reduce((s, z) => s + Math.exp(z - max), 0));
        sum += lse - row[tokens[r + 1]];
        count++;
      }
    }
    return sum / count;
  }

  it("is the mean next-token cross-entropy over every position but the last", () => {
    const model = new TrainableTransformer(config, weights, { mode: "full" });
    const loss = model.forwardLoss(tokens, undefined, B, T);
    expect(model.lastTokenCount).toBe(B * (T - 1));
    expect(Math.abs(loss - expectedLoss(model, undefined))).toBeLessThan(1e-5);
    expect(loss).toBeGreaterThan(0);
  });

  it("counts only masked-in positions, whatever the targets of masked-out ones", () => {
    const model = new TrainableTransformer(config, weights, { mode: "full" });
    const mask = Float32Array.from([0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0]); // index 5 and 11: last positions
    const loss = model.forwardLoss(tokens, mask, B, T);
    expect(model.lastTokenCount).toBe(6);
    expect(Math.abs(loss - expectedLoss(model, mask))).toBeLessThan(1e-5);
    expect(Math.abs(loss - expectedLoss(model, undefined))).toBeGreaterThan(1e-4);
    // the last token of sequence 0 is only the target of position T−2 (masked out above) and the input of position
    // T−1 (no target): changing it leaves the masked loss exactly as it was, and changes the unmasked one
    const changed = tokens.slice();
    changed[T - 1] = (changed[T - 1] + 1) % V;
    const other = new TrainableTransformer(config, weights, { mode: "full" });
    const m2 = mask.slice();
    m2[T - 2] = 0;
    expect(other.forwardLoss(changed, m2, B, T)).toBe(other.forwardLoss(tokens, m2, B, T));
    expect(other.forwardLoss(changed, undefined, B, T)).not.toBe(other.forwardLoss(tokens, undefined, B, T));
  });
});

describe("parameters", () => {
  it("full mode: every checkpoint tensor once, by its HF name and shape; tied embeddings have no lm_head", () => {
    for (const v of [variants[0], variants[3], variants[4], variants[5]]) {
      const { config, weights } = v.build();
      const params = new TrainableTransformer(config, weights, { mode: "full" }).parameters();
      const names = params.map((p) => p.name).sort();
      expect(names).toEqual(weights.names().sort());
      expect(names.includes("lm_head.weight")).toBe(!config.tieWordEmbeddings);
      for (const p of params) {
        expect(p.shape).toEqual(weights.get(p.name).shape);
        expect(p.value.length).toBe(p.grad.length);
        expect(p.grad.every((g) => g === 0)).toBe(true);
      }
    }
  });

  it("LoRA mode: PEFT names and shapes, A ~ U(-1/sqrt(in), 1/sqrt(in)) seeded, B zeros, base frozen", () => {
    const { config, weights } = variants[0].build();
    const opts = { mode: "lora" as const, lora: { rank: 4, alpha: 8, targetKeys: ["q_proj", "down_proj"] }, seed: 5 };
    const model = new TrainableTransformer(config, weights, opts);
    const params = model.parameters();
    expect(params.map((p) => p.name)).toEqual([
      "model.layers.0.self_attn.q_proj.lora_A.weight",
      "model.layers.0.self_attn.q_proj.lora_B.weight",
      "model.layers.0.mlp.down_proj.lora_A.weight",
      "model.layers.0.mlp.down_proj.lora_B.weight",
      "model.layers.1.self_attn.q_proj.lora_A.weight",
      "model.layers.1.self_attn.q_proj.lora_B.weight",
      "model.layers.1.mlp.down_proj.lora_A.weight",
      "model.layers.1.mlp.down_proj.lora_B.weight",
    ]);
    expect(params[0].shape).toEqual([4, 16]);
    expect(params[1].shape).toEqual([16, 4]); // q_proj out = H·D = 16
    expect(params[2].shape).toEqual([4, 24]);
    expect(params[3].shape).toEqual([16, 4]);
    const a = params[2].value;
    const bound = 1 / Math.sqrt(24);
    expect(a.every((x) => Math.abs(x) <= bound)).toBe(true);
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(bound * 0.8); // spread over the range
    expect(params[3].value.every((x) => x === 0)).toBe(true);
    const same = new TrainableTransformer(config, weights, opts).parameters();
    expect(Array.from(same[0].value)).toEqual(Array.from(params[0].value));
    const other = new TrainableTransformer(config, weights, { ...opts, seed: 6 }).parameters();
    expect(Array.from(other[0].value)).not.toEqual(Array.from(params[0].value));
  });

  it("targets match PEFT's way: a key equal to the module path's last components selects one layer", () => {
    const { config, weights } = variants[0].build();
    const model = new TrainableTransformer(config, weights, { mode: "lora", lora: { targetKeys: ["layers.1.mlp.up_proj", "o_proj"] } });
    expect(model.parameters().map((p) => p.name)).toEqual([
      "model.layers.0.self_attn.o_proj.lora_A.weight",
      "model.layers.0.self_attn.o_proj.lora_B.weight",
      "model.layers.1.self_attn.o_proj.lora_A.weight",
      "model.layers.1.self_attn.o_proj.lora_B.weight",
      "model.layers.1.mlp.up_proj.lora_A.weight",
      "model.layers.1.mlp.up_proj.lora_B.weight",
    ]);
  });

  it("default LoRA: rank 8, alpha 16, q_proj and v_proj", () => {
    const { config, weights } = variants[0].build();
    const params = new TrainableTransformer(config, weights, { mode: "lora" }).parameters();
    expect(params.map((p) => p.name.split(".").slice(4).join("."))).toEqual([
      "q_proj.lora_A.weight", "q_proj.lora_B.weight", "v_proj.lora_A.weight", "v_proj.lora_B.weight",
      "q_proj.lora_A.weight", "q_proj.lora_B.weight", "v_proj.lora_A.weight", "v_proj.lora_B.weight",
    ]);
    expect(params[0].shape).toEqual([8, 16]);
  });

  it("exportWeights: full-mode tensors reload into the same model, updates included", () => {
    const { config, weights } = variants[3].build();
    const model = new TrainableTransformer(config, weights, { mode: "full" });
    model.parameters().find((p) => p.name === "model.norm.weight")!.value[3] = 2.5;
    const exported = model.exportWeights();
    const store = new MemoryWeights();
    for (const t of exported) store.set({ name: t.name, dtype: "F32", shape: t.shape, data: t.data as Uint8Array });
    expect(store.get("model.norm.weight").shape).toEqual([16]);
    const tokens = batch(1, 5, config.vocabSize);
    const reloaded = new TrainableTransformer(config, store, { mode: "full" });
    expect(Array.from(reloaded.logits(tokens, 1, 5))).toEqual(Array.from(model.logits(tokens, 1, 5)));
  });
});

describe("errors", () => {
  const { config, weights } = variants[0].build();
  const V = config.vocabSize;
  const expectError = (fn: () => unknown, code: string, message: RegExp | string) => {
    const e = thrown(fn);
    expect(e).toBeInstanceOf(InferenceError);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  };

  it("bad options", () => {
    const lora = (l: object) => () => new TrainableTransformer(config, weights, { mode: "lora", lora: l });
    expectError(lora({ rank: 0 }), "invalid_argument", "LoRA rank must be an integer > 0, got 0");
    expectError(lora({ rank: 2.5 }), "invalid_argument", "LoRA rank must be an integer > 0, got 2.5");
    expectError(lora({ alpha: Number.NaN }), "invalid_argument", "LoRA alpha must be a finite number > 0, got NaN");
    expectError(lora({ dropout: 1 }), "invalid_argument", "LoRA dropout must be in [0, 1), got 1");
    expectError(lora({ targetKeys: [] }), "invalid_argument", "LoRA targetKeys must be a non-empty array of module names");
    expectError(lora({ targetKeys: ["q_proj", "qkv"] }), "invalid_argument", /LoRA target "qkv" matches no module; available: q_proj, k_proj/);
    expectError(lora({ targetKeys: ["lm_head"] }), "invalid_argument", /LoRA target "lm_head" matches no module/);
    expectError(
      () => new TrainableTransformer(config, weights, { mode: "full", lora: { rank: 2 } }),
      "invalid_argument",
      'lora options need mode "lora"',
    );
    expectError(
      () => new TrainableTransformer(config, weights, { mode: "bogus" } as never),
      "invalid_argument",
      'mode must be "lora" or "full", got bogus',
    );
    expectError(
      () => new TrainableTransformer(config, weights, { mode: "full", seed: -1 }),
      "invalid_argument",
      "seed must be a non-negative safe integer, got -1",
    );
  });

  it("bad configs and checkpoints", () => {
    expectError(
      () => new TrainableTransformer({ ...config, headDim: 3 }, weights, { mode: "full" }),
      "invalid_model",
      "headDim must be even for rope, got 3",
    );
    expectError(
      () => new TrainableTransformer({ ...config, numKVHeads: 3 }, weights, { mode: "full" }),
      "invalid_model",
      "numHeads (4) must be a multiple of numKVHeads (3)",
    );
    const missing = new MemoryWeights();
    for (const n of weights.names()) if (n !== "model.norm.weight") missing.set(weights.get(n));
    expectError(() => new TrainableTransformer(config, missing, { mode: "full" }), "invalid_model", /model\.norm\.weight/);
  });

  it("bad batches", () => {
    const model = new TrainableTransformer(config, weights, { mode: "full" });
    const tokens = batch(2, 4, V);
    expectError(() => model.forwardLoss(tokens, undefined, 0, 4), "invalid_argument", "B must be a positive integer, got 0");
    expectError(
      () => model.forwardLoss(tokens.subarray(0, 2), undefined, 2, 1),
      "invalid_argument",
      "T must be an integer of at least 2 (a target needs a next token), got 1",
    );
    expectError(() => model.logits(tokens, 2, 0), "invalid_argument", "T must be a positive integer, got 0");
    expectError(() => model.forwardLoss(tokens, undefined, 2, 3), "invalid_argument", "tokens has 8 entries for B·T = 6");
    const bad = tokens.slice();
    bad[5] = V;
    expectError(() => model.forwardLoss(bad, undefined, 2, 4), "invalid_argument", `token id ${V} at index 5 is outside the vocabulary [0, ${V})`);
    bad[5] = -1;
    expectError(() => model.logits(bad, 2, 4), "invalid_argument", `token id -1 at index 5 is outside the vocabulary`);
    expectError(() => model.forwardLoss(tokens, new Float32Array(7), 2, 4), "invalid_argument", "mask has 7 entries for B·T = 8 tokens");
    const half = new Float32Array(8).fill(1);
    half[2] = 0.5;
    expectError(() => model.forwardLoss(tokens, half, 2, 4), "invalid_argument", "mask entries must be 0 or 1, got 0.5 at index 2");
    const lastOnly = Float32Array.from([0, 0, 0, 1, 0, 0, 0, 1]);
    expectError(() => model.forwardLoss(tokens, lastOnly, 2, 4), "invalid_argument", "the mask counts no next-token target");
  });

  it("backward without a forwardLoss, twice, or after logits; exportWeights in LoRA mode", () => {
    const model = new TrainableTransformer(config, weights, { mode: "full" });
    const tokens = batch(1, 4, V);
    const msg = "backward needs a forwardLoss first";
    expectError(() => model.backward(), "invalid_argument", msg);
    model.forwardLoss(tokens, undefined, 1, 4);
    expectError(() => model.backward(Number.POSITIVE_INFINITY), "invalid_argument", "backward scale must be finite, got Infinity");
    model.backward();
    expectError(() => model.backward(), "invalid_argument", msg);
    model.forwardLoss(tokens, undefined, 1, 4);
    model.logits(tokens, 1, 4);
    expectError(() => model.backward(), "invalid_argument", msg);
    // a failed forwardLoss also leaves nothing to backward
    model.forwardLoss(tokens, undefined, 1, 4);
    expect(() => model.forwardLoss(tokens, undefined, 1, 5)).toThrow(InferenceError);
    expectError(() => model.backward(), "invalid_argument", msg);
    const lora = new TrainableTransformer(config, weights, { mode: "lora" });
    expectError(() => lora.exportWeights(), "invalid_argument", 'exportWeights needs mode "full"');
  });
});
