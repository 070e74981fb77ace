/**
 * The WebAssembly SIMD kernels of the cpu backend: the module's exports, by name. Each kernel takes byte offsets
 * into the one shared memory (outputs first), then dimensions, then the range of output rows (or heads, tokens,
 * elements) it computes, so worker threads can split one call; results never depend on the split.
 * Built by scripts/build-wasm.mjs into wasm-dist/kernels.wasm; the TypeScript side is src/engine/kernels/wasm/.
 * The module owns no memory and no data: it imports the memory, and the JavaScript arena places every buffer.
 */
export { matmulF32 } from "./matmul-f32";
export {
  matmulF16,
  matmulBF16,
  matmulF16Prefill,
  matmulBF16Prefill,
  matmulF16Panels,
  matmulBF16Panels,
  matmulF16PanelsPrefill,
  matmulBF16PanelsPrefill,
} from "./matmul-half";
export { quantizeQ8Activations, interleaveQ8_0, interleaveQ4_0, matmulQ8_0, matmulQ4_0, matmulQ8_0Prefill, matmulQ4_0Prefill } from "./matmul-quant";
export { quantizeQ8_0Blocks } from "./quantize";
export { attention, attentionF16, widenKVF16 } from "./attention";
export { rmsNorm, rmsNormPlusOne } from "./rms-norm";
export { rope } from "./rope";
export { softmax } from "./softmax";
export { swiglu, geglu } from "./activations";
export { add } from "./elementwise";
export { embeddingF32, embeddingF16, embeddingBF16, embeddingQ8_0, embeddingQ4_0 } from "./embedding";
export { matmulAccF32, transposeF32, transpose16, biasGrad, addBias } from "./train-matmul";
export { rmsNormSave, rmsNormBackward, rmsNormGradW } from "./train-norm";
export { attentionTrain, attentionDelta, attentionBackward } from "./train-attention";
export { swigluBackward, gegluBackward } from "./train-activations";
export { crossEntropy } from "./train-loss";
export { scaleF32, mulF32, mulAddF32 } from "./train-elementwise";
