/**
 * Argument checks of the Transformer: configs the kernels cannot run (naming the field), token ids, caches and
 * output sizes, each failing with a typed InferenceError before any state changes. Checks only; no computation.
 */
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig } from "../model-config.js";

const op = "cpu.forward";

/** Rejects configs whose dimensions the kernels cannot run, naming the field. */
export function checkConfig(c: ModelConfig): void {
  const fail = (message: string) => {
    throw new InferenceError({ code: "invalid_model", op: "cpu.transformer", message });
  };
  const positive = ["vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKVHeads", "headDim"] as const;
  for (const key of positive) {
    if (!Number.isInteger(c[key]) || c[key] < 1) fail(`${key} must be a positive integer, got ${c[key]}`);
  }
  if (c.headDim % 2 !== 0) fail(`headDim must be even for rope, got ${c.headDim}`);
  if (c.numHeads % c.numKVHeads !== 0) {
    fail(`numHeads (${c.numHeads}) must be a multiple of numKVHeads (${c.numKVHeads})`);
  }
  if (c.layerTypes.length !== c.numLayers) {
    fail(`layerTypes has ${c.layerTypes.length} entries for ${c.numLayers} layers`);
  }
  if (c.layerTypes.includes("sliding") && !(c.slidingWindow >= 1)) {
    fail(`sliding layers need a positive slidingWindow, got ${c.slidingWindow}`);
  }
}

/** A token id must be an integer in [0, V). */
export function checkToken(id: number, index: number, V: number): void {
  if (!Number.isInteger(id) || id < 0 || id >= V) {
    throw new InferenceError({
      code: "invalid_argument",
      op,
      message: `token id ${id} at index ${index} is outside the vocabulary [0, ${V})`,
      details: { tokenId: id, index, vocabSize: V },
    });
  }
}

/** `logits` must hold at least `need` floats. */
export function checkLogits(logits: Float32Array, need: number): void {
  if (logits.length < need) {
    throw new InferenceError({
      code: "invalid_argument",
      op,
      message: `logits has ${logits.length} floats, ${need} are needed`,
      details: { length: logits.length, needed: need },
    });
  }
}

/** Runs `fn`, turning a WebAssembly trap (an engine bug, never expected) into an `internal` InferenceError. */
export function trapsAsErrors(fn: () => void): void {
  try {
    fn();
  } catch (cause) {
    if (cause instanceof InferenceError) throw cause;
    throw new InferenceError({
      code: "internal",
      op,
      message: `the forward pass failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      cause,
    });
  }
}
