/**
 * The training kernels by name: forward passes that save what their backward needs, and backward passes that take
 * dOut and accumulate into dX and dW (llm.c style: outputs first, dimensions last, see
 * engine/kernels/README.md for the letters). Plain loops over float32 or float64 arrays.
 */
export type { Floats } from "./floats.js";
export { accumulate, addInto, addBackward, softcapForward, softcapBackward } from "./elementwise.js";
export { embeddingForward, embeddingHalfForward, embeddingBackward } from "./embedding.js";
export { rmsNormForward, rmsNormBackward } from "./rms-norm.js";
export { matmulForward, matmulHalfForward, matmulBackward, matmulHalfBackwardInput } from "./matmul.js";
export { loraForward, loraBackward } from "./lora.js";
export { ropeForward, ropeBackward } from "./rope.js";
export { attentionForward, attentionBackward } from "./attention.js";
export { swigluForward, swigluBackward, gegluForward, gegluBackward } from "./activations.js";
export { crossEntropyForwardBackward } from "./cross-entropy.js";
