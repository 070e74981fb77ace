// Our F16 KV cache (withKVCacheType("f16")) against llama.cpp with its own default, an F16 KV cache, on the F32 GGUF
// of the same checkpoint. Both round every key and value to an IEEE half (nearest-even) when they store it; llama.cpp
// then also rounds the queries and the attention probabilities to F16 for its F16 dot products (its vec_dot_type),
// where ours widen the cached halves back to float32 exactly and keep queries and probabilities in float32. So the two
// differ by about a half's unit roundoff (2^-11) in each score and each weighted value, not by the cache itself.
//
// Tolerance: max |Δ log-softmax| ≤ 5e-3 (gemma3_text 1e-2, as with an F32 cache: llama.cpp's float16 GELU table;
// see llama-cpp-agreement.test.ts). Measured: 7.7e-4 (llama), 1.9e-3 (qwen3), 3.1e-3 (gemma3_text), the same on both
// kernel sets. Greedy continuations must match.
import { afterAll, describe, expect, it } from "vitest";
import type { RandomCheckpointSpec } from "../../src/checkpoint/random-checkpoint.js";
import { closeLlamaCpp } from "../../../../scripts/reference/llama-cpp.js";
import { removeAgreementDirs, runAgreement } from "./agreement-case.js";

afterAll(async () => {
  await closeLlamaCpp();
  await removeAgreementDirs();
});

const cases: { label: string; spec: RandomCheckpointSpec; tolerance: number }[] = [
  { label: "llama", spec: { architecture: "llama", seed: 3 }, tolerance: 5e-3 },
  { label: "qwen3", spec: { architecture: "qwen3", seed: 3, embeddingStd: 0.1 }, tolerance: 5e-3 },
  { label: "gemma3_text (sliding window)", spec: { architecture: "gemma3_text", seed: 3, embeddingStd: 0.1 }, tolerance: 1e-2 },
];

describe("agreement with llama.cpp: F16 KV cache on both sides", () => {
  for (const kernels of ["wasm", "reference"] as const) {
    for (const { label, spec, tolerance } of cases) {
      it(`${label} (${kernels} kernels): log-softmax within ${tolerance}, identical greedy continuation`, async () => {
        const r = await runAgreement(spec, "f32", { kernels, kvCacheType: "f16" });
        console.log(`kv f16 ${label} ${kernels}: max |Δ log-softmax| ${r.maxDelta.toExponential(2)}`);
        expect(r.maxDelta).toBeLessThanOrEqual(tolerance);
        expect(r.ours).toEqual(r.theirs);
      });
    }
  }
});
