// Load-time Q8_0 against llama.cpp running the Q8_0 GGUF our converter writes from the same checkpoint. Both sides
// hold bit-identical weight blocks (the same llama.cpp reference quantiser, and token_embd / the tied output head in
// Q8_0 too) and both quantise the activations of every product to Q8 blocks the same way, so the only differences
// left are float32 summation order and, rarely, an activation whose x/d lands within rounding of a .5 boundary and
// takes the neighbouring integer (a change of d/2 in one element of one block).
//
// Tolerance: max |Δ log-softmax| ≤ 2e-3 over every position and the whole vocabulary: F32 weights agree to 1e-4, and
// one activation flipped to the neighbouring step moves a logit by about |w|·d/2 ≈ 1e-3 at these sizes.
// Measured: 1.3e-6 to 1.6e-6 (llama, qwen2, qwen3), the same on both kernel sets. gemma3_text: 0.15, measured
// 7.7e-2: llama.cpp's CPU GELU reads a float16 table (see llama-cpp-agreement.test.ts), so the inputs of every
// down_proj differ by ~1e-3 relative, and that moves many of them across a Q8 rounding boundary (one step is
// max|x|/127), which the quantised product then amplifies. Greedy continuations must match.
import { afterAll, describe, expect, it } from "vitest";
import type { RandomCheckpointSpec } from "../../src/checkpoint/random-checkpoint.js";
import { closeLlamaCpp } from "../../../../scripts/reference/llama-cpp.js";
import { removeAgreementDirs, runAgreement } from "./agreement-case.js";

afterAll(async () => {
  await closeLlamaCpp();
  await removeAgreementDirs();
});

const TOLERANCE = 2e-3;

const cases: { label: string; spec: RandomCheckpointSpec }[] = [
  { label: "llama", spec: { architecture: "llama", seed: 3 } },
  { label: "qwen2", spec: { architecture: "qwen2", seed: 3 } },
  { label: "qwen3 (tied)", spec: { architecture: "qwen3", seed: 3, embeddingStd: 0.1 } },
  { label: "gemma3_text (tied)", spec: { architecture: "gemma3_text", seed: 3, embeddingStd: 0.1 } },
];

describe("agreement with llama.cpp: Q8_0 made at load time vs the Q8_0 GGUF", () => {
  for (const kernels of ["wasm", "reference"] as const) {
    for (const { label, spec } of cases) {
      const tolerance = spec.architecture === "gemma3_text" ? 0.15 : TOLERANCE; // llama.cpp's F16 GELU table, above
      it(`${label} BF16 checkpoint, ${kernels} kernels: log-softmax within ${tolerance}, identical greedy continuation`, async () => {
        const r = await runAgreement({ ...spec, dtype: "BF16" }, "q8_0", { kernels, quantization: "q8_0" });
        console.log(`q8_0 ${label} ${kernels}: max |Δ log-softmax| ${r.maxDelta.toExponential(2)}`);
        expect(r.maxDelta).toBeLessThanOrEqual(tolerance);
        expect(r.maxDelta).toBeGreaterThan(0);
        expect(r.ours).toEqual(r.theirs);
      });
    }
  }
});
