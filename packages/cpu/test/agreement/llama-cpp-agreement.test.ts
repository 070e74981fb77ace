// Agreement with code we did not write. For every architecture, a tiny checkpoint with deterministic random weights
// in the Hugging Face layout is converted to GGUF and run in llama.cpp (CPU, F32 KV cache, one thread); our engine
// must give the same log-softmax at every position of a 16-token input and the same 32-token greedy continuation.
// Our side runs the WebAssembly kernels (weights read into the arena); the F32 cases also run the reference kernels.
//
// Tolerances (max |Δ log-softmax| over all positions and the whole vocabulary):
// - F32 weights: 1e-4. gemma3_text: 1e-2, because llama.cpp's CPU GELU reads a float16 lookup table (input and
//   output rounded to 11 bits, GGML_GELU_FP16) where Hugging Face computes gelu_pytorch_tanh in float32; with that
//   table emulated the gap shrinks to ≤ 1e-3 (gemma3-gelu-table.test.ts). Measured: ≤ 2e-6 (llama, mistral, qwen2,
//   qwen3), ≤ 6e-3 (gemma3).
// - F16/BF16 checkpoints converted to an F32 GGUF (exact upcast): the same as F32, since both engines then multiply by
//   the same rounded weights. This checks that our F16/BF16 kernels read the stored values exactly.
// - F16/BF16 checkpoints converted to an F16/BF16 GGUF: llama.cpp also rounds the activations to F16/BF16 before
//   each product with such weights (its vec_dot_type), we keep them in float32. F16: 5e-2 (unit roundoff 2^-11;
//   measured ≤ 8e-3 here, ≤ 2e-2 with embeddings of std 1), BF16: 0.3 (unit roundoff 2^-8; measured ≤ 3e-2 here,
//   up to 0.15 for qwen3 with embeddings of std 1, whose q/k norms amplify the rounding). Greedy continuations are not required to match there: a near-tie may flip under that rounding.
import { afterAll, describe, expect, it } from "vitest";
import type { RandomCheckpointSpec } from "../../src/checkpoint/random-checkpoint.js";
import { closeLlamaCpp } from "../../../../scripts/reference/llama-cpp.js";
import { removeAgreementDirs, runAgreement } from "./agreement-case.js";

afterAll(async () => {
  await closeLlamaCpp();
  await removeAgreementDirs();
});

// Tied-embedding models get small embeddings: with std 1 the logits favour repeating the last token forever,
// which would make the greedy comparison trivial.
const cases: { label: string; spec: RandomCheckpointSpec; tolerance: number }[] = [
  { label: "llama", spec: { architecture: "llama", seed: 3 }, tolerance: 1e-4 },
  { label: "llama (Llama 3 rope scaling)", spec: { architecture: "llama", seed: 5, llama3RopeScaling: true }, tolerance: 1e-4 },
  { label: "mistral", spec: { architecture: "mistral", seed: 4 }, tolerance: 1e-4 },
  { label: "qwen2", spec: { architecture: "qwen2", seed: 3 }, tolerance: 1e-4 },
  { label: "qwen3", spec: { architecture: "qwen3", seed: 3, embeddingStd: 0.1 }, tolerance: 1e-4 },
  { label: "gemma3_text", spec: { architecture: "gemma3_text", seed: 3, embeddingStd: 0.1 }, tolerance: 1e-2 },
];

function distinct(tokens: number[]): number {
  return new Set(tokens).size;
}

describe("agreement with llama.cpp: F32 weights", () => {
  for (const kernels of ["wasm", "reference"] as const) {
    for (const { label, spec, tolerance } of cases) {
      it(`${label} (${kernels} kernels): log-softmax within ${tolerance}, identical 32-token greedy continuation`, async () => {
        const r = await runAgreement(spec, "f32", { kernels });
        expect(r.maxDelta).toBeLessThanOrEqual(tolerance);
        expect(r.ours).toEqual(r.theirs);
        expect(distinct(r.ours)).toBeGreaterThanOrEqual(3); // the continuation is not one repeated token
      });
    }
  }
});

describe("agreement with llama.cpp: F16 and BF16 weights read exactly (GGUF upcast to F32)", () => {
  for (const dtype of ["F16", "BF16"] as const) {
    for (const { label, spec, tolerance } of cases.filter((c) => c.label !== "llama (Llama 3 rope scaling)")) {
      it(`${label} ${dtype}: log-softmax within ${tolerance}, identical greedy continuation`, async () => {
        const r = await runAgreement({ ...spec, dtype }, "f32");
        expect(r.maxDelta).toBeLessThanOrEqual(tolerance);
        expect(r.ours).toEqual(r.theirs);
      });
    }
  }
});

describe("agreement with llama.cpp: native F16 and BF16 GGUF", () => {
  for (const [dtype, type, tolerance] of [
    ["F16", "f16", 5e-2],
    ["BF16", "bf16", 0.3],
  ] as const) {
    for (const { label, spec } of cases.filter((c) => c.label !== "llama (Llama 3 rope scaling)")) {
      it(`${label} ${dtype}: log-softmax within ${tolerance}`, async () => {
        const r = await runAgreement({ ...spec, dtype }, type);
        expect(r.maxDelta).toBeLessThanOrEqual(tolerance);
        expect(r.maxDelta).toBeGreaterThan(0);
      });
    }
  }
});
