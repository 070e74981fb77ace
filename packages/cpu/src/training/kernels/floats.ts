/**
 * The array types the training kernels run on. Training runs in float32 (`Float32Array`); the same kernels accept
 * `Float64Array` so that gradient checks can run the whole model in float64, where central differences are exact
 * to ~1e-8. Not a tensor class: kernels take plain arrays and dimensions, as the engine's kernels do.
 */

/** A float32 or float64 array; every training kernel accepts either (sums are always accumulated in float64). */
export type Floats = Float32Array | Float64Array;
