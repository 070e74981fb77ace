// Whole-model gradient checks of TrainableTransformer: for every architecture, in float64 (the model is generic
// over the array type, so central differences are accurate to ~1e-9 and the bound can be tight), the gradient of
// the mean masked cross-entropy equals central differences (ε = 1e-5, |error| ≤ 1e-5 relative + 1e-8 absolute)
// for a few elements of every parameter, in full and LoRA mode (with and without dropout). Also: float32 gives the
// float64 gradients to float32 precision, tied embeddings get both contributions, and gradient accumulation over
// two micro-batches equals one batch of both.
import { describe, expect, it } from "vitest";
import { TrainableTransformer } from "../../src/training/trainable-transformer.js";
import type { TrainableOptions } from "../../src/training/trainable-weights.js";
import { expectGradient, uniform } from "./backward-fd.js";
import { batch, variants } from "./trainable-models.js";

const B = 2, T = 6;
const mask = Float32Array.from([1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 0]);
const allTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
const fd = { eps: 1e-5, rtol: 1e-5, atol: 1e-8 };
const worst: Record<string, number> = {};

/** Two element indices of a tensor of n elements (spread, deterministic), or of the rows of used tokens. */
function pick(n: number, name: string, tokens: Int32Array, C: number): number[] {
  if (name === "model.embed_tokens.weight") return [tokens[0] * C + 1, tokens[7] * C + C - 2];
  return [(n * 0.37) | 0, n - 1 - ((n * 0.21) | 0)];
}

/** Sets every LoRA B to small random values, so that dA and the LoRA share of dX are non-zero. */
function randomizeLoraB(model: TrainableTransformer<Float64Array>): void {
  const rng = uniform(99);
  for (const p of model.parameters()) if (p.name.endsWith("lora_B.weight")) for (let i = 0; i < p.value.length; i++) p.value[i] = 0.3 * rng();
}

describe("whole-model gradients equal central differences (float64)", () => {
  for (const v of variants) {
    for (const mode of ["full", "lora"] as const) {
      it(`${v.name}, ${mode}`, () => {
        const { config, weights } = v.build("F32", 3);
        const opts: TrainableOptions =
          mode === "full" ? { mode } : { mode, lora: { rank: 2, alpha: 4, targetKeys: allTargets } };
        const model = TrainableTransformer.float64(config, weights, opts);
        if (mode === "lora") randomizeLoraB(model);
        const tokens = batch(B, T, config.vocabSize);
        model.forwardLoss(tokens, mask, B, T);
        model.backward();
        const loss = () => model.forwardLoss(tokens, mask, B, T);
        const params = model.parameters();
        // full: every checkpoint tensor; LoRA: an A and a B on each of 7 projections in each of 2 layers
        expect(params.length).toBe(mode === "full" ? weights.names().length : 28);
        for (const p of params) {
          const e = expectGradient(p.name, p.value, p.grad, loss, { ...fd, indices: pick(p.value.length, p.name, tokens, config.hiddenSize) });
          worst[v.name] = Math.max(worst[v.name] ?? 0, e);
        }
      });
    }
  }

  it("LoRA with dropout: the gradient is that of the loss under the drawn keep masks", () => {
    const { config, weights } = variants[3].build("BF16", 4);
    const opts: TrainableOptions = { mode: "lora", lora: { rank: 3, alpha: 6, targetKeys: ["q_proj", "v_proj", "up_proj"], dropout: 0.3 }, seed: 11 };
    const tokens = batch(B, T, config.vocabSize);
    const fresh = () => {
      const m = TrainableTransformer.float64(config, weights, opts);
      randomizeLoraB(m);
      return m;
    };
    const model = fresh();
    const l0 = model.forwardLoss(tokens, mask, B, T);
    model.backward();
    // the first forwardLoss of a model with the same seed draws the same masks
    const probe = fresh();
    expect(probe.forwardLoss(tokens, mask, B, T)).toBe(l0);
    // and a second draw differs: dropout is active in forwardLoss, not in logits
    expect(probe.forwardLoss(tokens, mask, B, T)).not.toBe(l0);
    const eval1 = probe.logits(tokens, B, T);
    expect(Array.from(probe.logits(tokens, B, T))).toEqual(Array.from(eval1));
    for (const p of model.parameters()) {
      const indices = pick(p.value.length, p.name, tokens, config.hiddenSize);
      const numeric = indices.map((i) => {
        const at = (delta: number) => {
          const m = fresh();
          m.parameters().find((q) => q.name === p.name)!.value[i] += delta;
          return m.forwardLoss(tokens, mask, B, T);
        };
        return (at(fd.eps) - at(-fd.eps)) / (2 * fd.eps);
      });
      indices.forEach((i, j) => {
        expect(Math.abs(p.grad[i] - numeric[j]), `${p.name}[${i}]`).toBeLessThanOrEqual(
          fd.rtol * Math.max(Math.abs(p.grad[i]), Math.abs(numeric[j])) + fd.atol,
        );
      });
      expect(p.grad.some((g) => g !== 0)).toBe(true);
    }
  });
});

describe("gradient properties", () => {
  it("float32 gradients equal the float64 ones to float32 precision (full and LoRA)", () => {
    for (const v of [variants[2], variants[5]]) {
      const { config, weights } = v.build("F32", 5);
      const tokens = batch(B, T, config.vocabSize);
      for (const opts of [{ mode: "full" }, { mode: "lora", lora: { targetKeys: allTargets, rank: 2 } }] as TrainableOptions[]) {
        const m64 = TrainableTransformer.float64(config, weights, opts);
        const m32 = new TrainableTransformer(config, weights, opts);
        randomizeLoraB(m64);
        const p32 = m32.parameters();
        m64.parameters().forEach((p, i) => p32[i].value.set(p.value));
        const l64 = m64.forwardLoss(tokens, mask, B, T);
        const l32 = m32.forwardLoss(tokens, mask, B, T);
        expect(Math.abs(l64 - l32)).toBeLessThan(1e-5);
        m64.backward();
        m32.backward();
        m64.parameters().forEach((p, i) => {
          const scale = Math.max(...p.grad.map(Math.abs));
          let err = 0;
          for (let j = 0; j < p.grad.length; j++) err = Math.max(err, Math.abs(p.grad[j] - p32[i].grad[j]));
          expect(err, p.name).toBeLessThanOrEqual(1e-4 * scale + 1e-7);
        });
      }
    }
  });

  it("tied embeddings: the shared matrix gets the lookup's and the head's gradient", () => {
    const { config, weights } = variants[7].build("F32", 6);
    expect(config.tieWordEmbeddings).toBe(true);
    const model = TrainableTransformer.float64(config, weights, { mode: "full" });
    const tokens = batch(B, T, config.vocabSize);
    const used = new Set(tokens);
    const unused = [...Array(config.vocabSize).keys()].find((id) => !used.has(id))!;
    model.forwardLoss(tokens, mask, B, T);
    model.backward();
    const emb = model.parameters().find((p) => p.name === "model.embed_tokens.weight")!;
    const loss = () => model.forwardLoss(tokens, mask, B, T);
    const C = config.hiddenSize;
    // an unused token's row gets only the head's share; a used one gets both
    expectGradient("unused row", emb.value, emb.grad, loss, { ...fd, indices: [unused * C, unused * C + 5] });
    expectGradient("used row", emb.value, emb.grad, loss, { ...fd, indices: [tokens[2] * C + 3, tokens[2] * C + 9] });
    // the untied model with lm_head = embed_tokens has the same loss, and its two gradients sum to the tied one
    const untiedWeights = weights;
    const untiedConfig = { ...config, tieWordEmbeddings: false };
    const head = weights.get("model.embed_tokens.weight");
    untiedWeights.set({ ...head, name: "lm_head.weight" });
    try {
      const untied = TrainableTransformer.float64(untiedConfig, untiedWeights, { mode: "full" });
      expect(untied.forwardLoss(tokens, mask, B, T)).toBeCloseTo(model.forwardLoss(tokens, mask, B, T), 12);
      untied.backward();
      const ue = untied.parameters().find((p) => p.name === "model.embed_tokens.weight")!.grad;
      const uh = untied.parameters().find((p) => p.name === "lm_head.weight")!.grad;
      for (let i = 0; i < ue.length; i++) expect(Math.abs(ue[i] + uh[i] - emb.grad[i])).toBeLessThan(1e-12);
    } finally {
      untiedWeights.delete("lm_head.weight");
    }
  });

  it("accumulation: two micro-batches weighted by their token counts equal one batch of both", () => {
    const { config, weights } = variants[4].build("F32", 7);
    const tokens = batch(B, T, config.vocabSize);
    for (const opts of [{ mode: "full" }, { mode: "lora", lora: { targetKeys: allTargets, rank: 2 } }] as TrainableOptions[]) {
      const whole = TrainableTransformer.float64(config, weights, opts);
      const parts = TrainableTransformer.float64(config, weights, opts);
      randomizeLoraB(whole);
      randomizeLoraB(parts);
      whole.forwardLoss(tokens, mask, B, T);
      whole.backward();
      const l1 = parts.forwardLoss(tokens.subarray(0, T), mask.subarray(0, T), 1, T);
      const c1 = parts.lastTokenCount;
      const rest = () => parts.forwardLoss(tokens.subarray(T), mask.subarray(T), 1, T);
      rest();
      const c2 = parts.lastTokenCount;
      expect(c1 + c2).toBe(whole.lastTokenCount);
      parts.forwardLoss(tokens.subarray(0, T), mask.subarray(0, T), 1, T);
      parts.backward(c1 / (c1 + c2));
      const l2 = rest();
      parts.backward(c2 / (c1 + c2));
      expect((l1 * c1 + l2 * c2) / (c1 + c2)).toBeCloseTo(whole.forwardLoss(tokens, mask, B, T), 12);
      const wp = whole.parameters();
      parts.parameters().forEach((p, i) => {
        for (let j = 0; j < p.grad.length; j++) expect(Math.abs(p.grad[j] - wp[i].grad[j])).toBeLessThan(1e-12);
      });
      // unweighted accumulation of the same batch twice doubles the gradient; zeroGrad clears it
      const g = wp[0].grad.slice();
      whole.forwardLoss(tokens, mask, B, T);
      whole.backward();
      for (let j = 0; j < g.length; j++) expect(wp[0].grad[j]).toBeCloseTo(2 * g[j], 12);
      whole.zeroGrad();
      expect(whole.parameters().every((p) => p.grad.every((x) => x === 0))).toBe(true);
    }
  });

  it("reports the worst relative errors of the whole-model checks", () => {
    console.log("worst relative FD error per architecture:", JSON.stringify(worst));
    expect(Object.keys(worst).length).toBe(variants.length);
  });
});
