/**
 * The weight layouts the WebAssembly engine rewrites in place when it takes a checkpoint's matrices, and the record
 * of which views it has rewritten: Q8_0/Q4_0 rows interleaved in groups of 4 (kernels.interleaveQ8_0/Q4_0), and
 * F16/BF16 matrices wider than PANEL_MIN_C channels stored panel by panel (toPanels, read by matmul*Panels). A view
 * rewritten this way no longer holds the checkpoint's layout: the reference kernels and training refuse it.
 * Not the kernels (assembly/) and not the choice of kernel (wasm-forward.ts).
 */
import { InferenceError } from "@dappcore/inference";

/** Channels per panel of the panel-major F16/BF16 layout (PANEL in assembly/matmul-half.ts). */
export const PANEL = 2048;

/**
 * F16/BF16 matrices with more input channels than this are re-laid out panel by panel by an engine that owns its
 * weights: decode of wider row-major rows ran at about half the bandwidth from DRAM (x, 4 bytes a channel, no longer
 * stays in L1 beside the weight stream; assembly/README.md).
 */
export const PANEL_MIN_C = 3072;

/** Rewritten views, by buffer and byte offset (a store may hand out a fresh view of the same bytes each time). */
const rewritten = new WeakMap<ArrayBufferLike, Set<number>>();

/** Records that the bytes of `view` now hold an engine's layout. */
export function markRelaidOut(view: ArrayBufferView): void {
  let offsets = rewritten.get(view.buffer);
  if (offsets === undefined) {
    offsets = new Set();
    rewritten.set(view.buffer, offsets);
  }
  offsets.add(view.byteOffset);
}

/** Whether an engine has rewritten the matrix whose bytes `view` starts at into its own layout. */
export function isRelaidOut(view: ArrayBufferView): boolean {
  return rewritten.get(view.buffer)?.has(view.byteOffset) ?? false;
}

/**
 * The typed error of a use that needs the checkpoint's own layout (the reference kernels, training) meeting a matrix
 * an engine has rewritten.
 */
export function relaidOutError(op: string, tensor: string, dtype: string): InferenceError {
  const layout = dtype === "Q8_0" || dtype === "Q4_0" ? `row-interleaved ${dtype}` : `panel-major ${dtype}`;
  return new InferenceError({
    code: "invalid_argument",
    op,
    message: `tensor "${tensor}" was re-laid out in place by a WebAssembly engine (${layout}); load the checkpoint again for this use`,
    details: { tensor },
  });
}

/**
 * Rewrites a row-major (O, C) matrix of 2-byte values (F16/BF16 bits) in place into the panel-major layout: panel
 * after panel, panel k = channels k·PANEL .. min((k + 1)·PANEL, C) of all O rows, row after row. Same size.
 * `tmp` (at least O·C·2 bytes, reused across matrices) holds the row-major copy; default: a fresh one.
 *
 * @example toPanels(runtime.u8(ptr, O * C * 2), O, C)
 */
export function toPanels(bytes: Uint8Array, O: number, C: number, tmp?: Uint8Array): void {
  const n = O * C * 2;
  // A copy of the rows: every panel but the first overwrites rows it still has to read.
  const rowMajor = tmp === undefined ? bytes.slice(0, n) : tmp.subarray(0, n);
  if (tmp !== undefined) rowMajor.set(bytes.subarray(0, n));
  for (let c0 = 0; c0 < C; c0 += PANEL) {
    const width = Math.min(PANEL, C - c0);
    const base = O * c0 * 2;
    for (let r = 0; r < O; r++) {
      const src = (r * C + c0) * 2;
      bytes.set(rowMajor.subarray(src, src + width * 2), base + r * width * 2);
    }
  }
}
