/**
 * The reference kernels by name (plain TypeScript loops; see ../README.md for the dimension legend). The engine
 * imports kernels from here only, so a fast implementation can be swapped in at one place.
 */
export { matmulF32, matmulF16, matmulBF16 } from "./matmul.js";
export { embeddingF32, embeddingF16, embeddingBF16 } from "./embedding.js";
export { rmsNorm, rmsNormPlusOne } from "./rms-norm.js";
export { ropeTable, rope } from "./rope.js";
export { attention } from "./attention.js";
export { softmax } from "./softmax.js";
export { silu, geluTanh, swiglu, geglu } from "./activations.js";
export { add, addBias, scale, softcap, copyRows } from "./elementwise.js";
export { f16Table, bf16Table } from "./half-tables.js";
export { quantizeActivationsQ8, matmulQ8_0, matmulQ4_0 } from "./matmul-quant.js";
export { embeddingQ8_0, embeddingQ4_0 } from "./embedding-quant.js";
