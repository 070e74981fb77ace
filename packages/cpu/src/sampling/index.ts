/**
 * The sampling folder's public surface, listed by name: the random stream, the HF-semantics sampler, streaming stop
 * strings and the probe summaries. Not a re-export of internals: the heap helpers stay private to this folder.
 */
export { createRng, rngFromState, type ResumableRng, type Rng } from "./rng.js";
export { createSampler, type Sampler, type SamplingParams } from "./sampler.js";
export { createStopMatcher, type StopMatcher, type StopPush } from "./stop-strings.js";
export { logitsEntropy, logitsStats, topK, type LogitsStats } from "./entropy.js";
