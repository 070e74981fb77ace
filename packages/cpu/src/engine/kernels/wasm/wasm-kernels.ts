/**
 * Typed wrappers of the WebAssembly SIMD kernels: the same outputs-first signatures as the reference kernels
 * (../reference/), but every buffer is a byte offset into the shared memory of a WasmArena, and each call may be
 * limited to a range of output rows (or heads, tokens, elements) so threads can split one operation; the result
 * never depends on the split. Each wrapper checks its arguments (kernel-checks.ts) and calls the module.
 * Not responsible for allocation (wasm-arena.ts), loading (load-kernels.ts) or choosing kernels (the engine).
 *
 * Numerics: float32 accumulation in SIMD lanes in a fixed order (see packages/cpu/assembly/*.ts); agreement with
 * the float64 reference is within float32 rounding. Q8_0/Q4_0 matmuls read activations quantised to Q8 blocks by
 * `quantizeQ8Activations` first, as llama.cpp does.
 */
import { KernelChecks, invalidArgument } from "./kernel-checks.js";
import {
  Q4_0_BLOCK_BYTES,
  Q8_0_BLOCK_BYTES,
  attentionScratchBytes,
  interleaveScratchBytes,
  prefillScratchBytes,
  q8ActivationBytes,
  quantPrefillScratchBytes,
} from "./quant-layout.js";

type AttentionExport = (
  out: number, q: number, k: number, v: number, scores: number, T: number, H: number, G: number, D: number,
  S: number, pos0: number, window: number, scale: number, softcapValue: number, h0: number, h1: number,
) => void;
type MatmulExport = (out: number, x: number, w: number, T: number, C: number, O: number, o0: number, o1: number) => void;
type PrefillExport = (
  out: number, x: number, w: number, scratch: number, T: number, C: number, O: number, o0: number, o1: number,
) => void;
type RangeExport = (out: number, a: number, b: number, i0: number, i1: number) => void;
type EmbeddingExport = (out: number, ids: number, table: number, scale: number, C: number, V: number, t0: number, t1: number) => void;

/** The raw exports of kernels.wasm (packages/cpu/assembly/index.ts). */
export interface KernelExports {
  matmulF32: MatmulExport;
  matmulF16: MatmulExport;
  matmulBF16: MatmulExport;
  quantizeQ8Activations(xq: number, x: number, T: number, C: number, t0: number, t1: number): void;
  matmulQ8_0: MatmulExport;
  matmulQ4_0: MatmulExport;
  matmulF16Prefill: PrefillExport;
  matmulBF16Prefill: PrefillExport;
  matmulQ8_0Prefill: PrefillExport;
  matmulQ4_0Prefill: PrefillExport;
  matmulF16Panels: MatmulExport;
  matmulBF16Panels: MatmulExport;
  matmulF16PanelsPrefill: PrefillExport;
  matmulBF16PanelsPrefill: PrefillExport;
  quantizeQ8_0Blocks(dst: number, src: number, type: number, nBlocks: number): void;
  interleaveQ8_0(w: number, tmp: number, O: number, C: number): void;
  interleaveQ4_0(w: number, tmp: number, O: number, C: number): void;
  attention: AttentionExport;
  attentionF16: AttentionExport;
  widenKVF16(out: number, x: number, S: number, D: number, span: number, g0: number, g1: number): void;
  rmsNorm(out: number, x: number, w: number, C: number, eps: number, n0: number, n1: number): void;
  rmsNormPlusOne(out: number, x: number, w: number, C: number, eps: number, n0: number, n1: number): void;
  rope(x: number, cos: number, sin: number, positions: number, NH: number, D: number, r0: number, r1: number): void;
  softmax(out: number, x: number, K: number, n0: number, n1: number): void;
  swiglu: RangeExport;
  geglu: RangeExport;
  add: RangeExport;
  embeddingF32: EmbeddingExport;
  embeddingF16: EmbeddingExport;
  embeddingBF16: EmbeddingExport;
  embeddingQ8_0: EmbeddingExport;
  embeddingQ4_0: EmbeddingExport;
}

/** The kernels of one instance, bound to one shared memory. Create with `loadKernels(arena.memory)`. */
export class WasmKernels {
  private readonly check: KernelChecks;

  constructor(
    /** The raw module exports, for callers that have checked their arguments once (e.g. a worker's inner loop). */
    readonly raw: KernelExports,
    /** The memory the instance imports. */
    readonly memory: WebAssembly.Memory,
  ) {
    this.check = new KernelChecks(memory);
  }

  /** out (T, O) rows o0 .. o1 = x (T, C) · w (O, C)ᵀ, w float32. */
  matmulF32(out: number, x: number, w: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.matmul("cpu.kernels.matmulF32", this.raw.matmulF32, 4 * C, out, x, w, T, C, O, o0, o1);
  }

  /** out (T, O) rows o0 .. o1 = x (T, C) · w (O, C)ᵀ, w IEEE half bits (finite values; subnormals exact). */
  matmulF16(out: number, x: number, w: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.matmul("cpu.kernels.matmulF16", this.raw.matmulF16, 2 * C, out, x, w, T, C, O, o0, o1);
  }

  /** out (T, O) rows o0 .. o1 = x (T, C) · w (O, C)ᵀ, w bfloat16 bits. */
  matmulBF16(out: number, x: number, w: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.matmul("cpu.kernels.matmulBF16", this.raw.matmulBF16, 2 * C, out, x, w, T, C, O, o0, o1);
  }

  /**
   * xq = x (T, C) quantised to Q8 blocks, rows t0 .. t1: (T, C/32, 32) int16, then (T, C/32) float32 scales, then
   * (T, C/32) int32 nibble biases (8 · each block's sum), `q8ActivationBytes(T, C)` bytes in all. C must be a
   * multiple of 32.
   */
  quantizeQ8Activations(xq: number, x: number, T: number, C: number, t0 = 0, t1 = T): void {
    const op = "cpu.kernels.quantizeQ8Activations";
    this.check.dims(op, { T, C });
    this.check.blocks(op, C);
    this.check.range(op, "token", t0, t1, T);
    this.check.span(op, "xq", xq, q8ActivationBytes(T, C));
    this.check.span(op, "x", x, T * C * 4);
    this.raw.quantizeQ8Activations(xq, x, T, C, t0, t1);
  }

  /**
   * out (T, O) rows o0 .. o1 = xq (T, C) · w (O, C)ᵀ, w row-interleaved Q8_0 blocks (`interleaveQ8_0`), xq from
   * quantizeQ8Activations. Per output element: the sum over blocks, in order, of float(exact integer block
   * dot)·(dw·dx) in float32 (bitwise matmulQ8_0Prefill and the reference kernel). o0 and o1 must be multiples of 4
   * or lie among the last O mod 4 rows.
   */
  matmulQ8_0(out: number, xq: number, w: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    const op = "cpu.kernels.matmulQ8_0";
    this.checkGroupRows(op, O, o0, o1);
    this.matmulQuant(op, this.raw.matmulQ8_0, Q8_0_BLOCK_BYTES, out, xq, w, T, C, O, o0, o1);
  }

  /** matmulQ8_0 over row-interleaved Q4_0 blocks (`interleaveQ4_0`); bitwise matmulQ4_0Prefill and the reference kernel. */
  matmulQ4_0(out: number, xq: number, w: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    const op = "cpu.kernels.matmulQ4_0";
    this.checkGroupRows(op, O, o0, o1);
    this.matmulQuant(op, this.raw.matmulQ4_0, Q4_0_BLOCK_BYTES, out, xq, w, T, C, O, o0, o1);
  }

  /**
   * Prefill form of matmulF16: the same product with each block of PREFILL_ROWS weight rows widened once into
   * `scratch` (`prefillScratchBytes(C)` bytes, one per thread) and multiplied in matmulF32's order, so the result
   * is bitwise matmulF32 over the widened weights.
   * @example kernels.matmulF16Prefill(out, x, w, scratch, 128, 576, 1536)
   */
  matmulF16Prefill(out: number, x: number, w: number, scratch: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.prefill("cpu.kernels.matmulF16Prefill", this.raw.matmulF16Prefill, 2 * C, out, x, w, scratch, T, C, O, o0, o1);
  }

  /** Prefill form of matmulBF16 (as matmulF16Prefill, w bfloat16 bits). */
  matmulBF16Prefill(out: number, x: number, w: number, scratch: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.prefill("cpu.kernels.matmulBF16Prefill", this.raw.matmulBF16Prefill, 2 * C, out, x, w, scratch, T, C, O, o0, o1);
  }

  /**
   * matmulF16 over a panel-major matrix (relayout.ts's toPanels: panel after panel of PANEL channels, all rows each):
   * panel after panel over the rows, so x's panel stays in L1 while the weights stream. Per element: the panels'
   * sums in order (each: four accumulators over steps of 16 channels, (a0 + a1) + (a2 + a3), the fixed-order
   * horizontal sum), then the C mod 16 tail in order. Any T (token after token) and any row split.
   * @example kernels.matmulF16Panels(out, x, w, 1, 5632, 2048)
   */
  matmulF16Panels(out: number, x: number, w: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.matmul("cpu.kernels.matmulF16Panels", this.raw.matmulF16Panels, 2 * C, out, x, w, T, C, O, o0, o1);
  }

  /** matmulBF16 over a panel-major matrix (as matmulF16Panels). */
  matmulBF16Panels(out: number, x: number, w: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.matmul("cpu.kernels.matmulBF16Panels", this.raw.matmulBF16Panels, 2 * C, out, x, w, T, C, O, o0, o1);
  }

  /** matmulF16Prefill over a panel-major matrix: bitwise matmulF16Prefill over the same matrix row-major. */
  matmulF16PanelsPrefill(out: number, x: number, w: number, scratch: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.prefill("cpu.kernels.matmulF16PanelsPrefill", this.raw.matmulF16PanelsPrefill, 2 * C, out, x, w, scratch, T, C, O, o0, o1);
  }

  /** matmulBF16Prefill over a panel-major matrix: bitwise matmulBF16Prefill over the same matrix row-major. */
  matmulBF16PanelsPrefill(out: number, x: number, w: number, scratch: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    this.prefill("cpu.kernels.matmulBF16PanelsPrefill", this.raw.matmulBF16PanelsPrefill, 2 * C, out, x, w, scratch, T, C, O, o0, o1);
  }

  /**
   * Prefill form of matmulQ8_0: the product of Q8 activations `xq` (from quantizeQ8Activations) with row-interleaved
   * Q8_0 weights (`interleaveQ8_0`), each group of QUANT_PREFILL_ROWS weight rows widened to int16 once into
   * `scratch` (`quantPrefillScratchBytes(C)` bytes, one per thread) and met by every token. Per output element: the
   * sum over blocks, in order, of float(exact integer block dot)·(dw·dx) in float32, as llama.cpp's
   * vec_dot_q8_0_q8_0. o0 and o1 as matmulQ8_0.
   * @example kernels.matmulQ8_0Prefill(out, xq, w, scratch, 128, 576, 1536)
   */
  matmulQ8_0Prefill(out: number, xq: number, w: number, scratch: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    const op = "cpu.kernels.matmulQ8_0Prefill";
    this.checkGroupRows(op, O, o0, o1);
    this.prefillQuant(op, this.raw.matmulQ8_0Prefill, Q8_0_BLOCK_BYTES, out, xq, w, scratch, T, C, O, o0, o1);
  }

  /** Prefill form of matmulQ4_0 (as matmulQ8_0Prefill, w row-interleaved Q4_0 blocks: `interleaveQ4_0`). */
  matmulQ4_0Prefill(out: number, xq: number, w: number, scratch: number, T: number, C: number, O: number, o0 = 0, o1 = O): void {
    const op = "cpu.kernels.matmulQ4_0Prefill";
    this.checkGroupRows(op, O, o0, o1);
    this.prefillQuant(op, this.raw.matmulQ4_0Prefill, Q4_0_BLOCK_BYTES, out, xq, w, scratch, T, C, O, o0, o1);
  }

  /**
   * Quantises `nBlocks` consecutive blocks of 32 weights at `src` (stored as `from`) into Q8_0 blocks at `dst`, bit
   * for bit @dappcore/inference-gguf's quantizeQ8_0 (llama.cpp's quantize_row_q8_0_ref); dst may equal src (in
   * place) or start before it. F16 weights must be finite (as for the F16 matmuls).
   * @example kernels.quantizeQ8_0Blocks(ptr, ptr, "BF16", rows * (C / 32))
   */
  quantizeQ8_0Blocks(dst: number, src: number, from: "F32" | "F16" | "BF16", nBlocks: number): void {
    const op = "cpu.kernels.quantizeQ8_0Blocks";
    this.check.dims(op, { nBlocks });
    const type = from === "F32" ? 0 : from === "F16" ? 1 : from === "BF16" ? 2 : -1;
    if (type < 0) throw invalidArgument(op, `from must be F32, F16 or BF16, got ${String(from)}`, { from });
    const srcBytes = nBlocks * 32 * (type === 0 ? 4 : 2);
    this.check.span(op, "src", src, srcBytes);
    this.check.span(op, "dst", dst, nBlocks * Q8_0_BLOCK_BYTES);
    if (dst > src && dst < src + srcBytes) {
      throw invalidArgument(op, `dst (${dst}) starts inside src (${src}, ${srcBytes} bytes): blocks are written front to back, so dst must start at or before src, or after it`, { dst, src });
    }
    this.raw.quantizeQ8_0Blocks(dst, src, type, nBlocks);
  }

  /**
   * Rewrites the Q8_0 matrix at `w` (O, C/32 blocks in llama.cpp's layout) in place into the row-interleaved layout
   * the Q8_0 kernels read: rows in groups of 4, block b of a group = the 4 rows' f16 scales then their 32 quants
   * each (136 bytes), groups in order, the last O mod 4 rows unchanged after them. Same size; `tmp` is
   * `interleaveScratchBytes(C)` bytes that do not overlap w. Not idempotent: the caller interleaves a matrix once.
   * @example kernels.interleaveQ8_0(ptr, tmp, 1536, 576)
   */
  interleaveQ8_0(w: number, tmp: number, O: number, C: number): void {
    this.interleave("cpu.kernels.interleaveQ8_0", this.raw.interleaveQ8_0, Q8_0_BLOCK_BYTES, w, tmp, O, C);
  }

  /** interleaveQ8_0 for Q4_0 blocks (a group's block: the 4 scales, then the 4 rows' 16 bytes of nibbles: 72 bytes). */
  interleaveQ4_0(w: number, tmp: number, O: number, C: number): void {
    this.interleave("cpu.kernels.interleaveQ4_0", this.raw.interleaveQ4_0, Q4_0_BLOCK_BYTES, w, tmp, O, C);
  }

  /**
   * out (T, H, D) heads h0 .. h1 = causal attention of q (T, H, D) at positions pos0 .. pos0 + T − 1 over the
   * cache k, v (G, S, D) float32 (S positions per KV head, at least pos0 + T), which must hold positions up to
   * pos0 + T − 1. As the reference `attention`: window W > 0 limits each query to its last W positions;
   * softcapValue > 0 applies cap·tanh(score / cap).
   * @param scores scratch of attentionScratchBytes(H, G, D, pos0 + T), private to this call (one per thread).
   */
  attention(
    out: number, q: number, k: number, v: number, scores: number,
    T: number, H: number, G: number, D: number, S: number,
    pos0: number, window: number, scale: number, softcapValue: number,
    h0 = 0, h1 = H,
  ): void {
    this.attend("cpu.kernels.attention", this.raw.attention, 4, out, q, k, v, scores, T, H, G, D, S, pos0, window, scale, softcapValue, h0, h1);
  }

  /** attention over a cache of IEEE halves, k, v (G, S, D) uint16: the bits of attention over the widened values. */
  attentionF16(
    out: number, q: number, k: number, v: number, scores: number,
    T: number, H: number, G: number, D: number, S: number,
    pos0: number, window: number, scale: number, softcapValue: number,
    h0 = 0, h1 = H,
  ): void {
    this.attend("cpu.kernels.attentionF16", this.raw.attentionF16, 2, out, q, k, v, scores, T, H, G, D, S, pos0, window, scale, softcapValue, h0, h1);
  }

  /**
   * out (G, S, D) float32 = positions 0 .. span − 1 of KV heads g0 .. g1 of x (G, S, D), IEEE halves, widened
   * (exact); the rest of out is left as it was. attention over the copy has the bits of attentionF16 over x.
   */
  widenKVF16(out: number, x: number, G: number, S: number, D: number, span: number, g0 = 0, g1 = G): void {
    const op = "cpu.kernels.widenKVF16";
    this.check.dims(op, { G, S, D });
    this.check.nonNegative(op, "span", span);
    if (span > S) throw invalidArgument(op, `span (${span}) must be at most S (${S})`, { span, S });
    this.check.range(op, "KV head", g0, g1, G);
    this.check.span(op, "out", out, G * S * D * 4);
    this.check.span(op, "x", x, G * S * D * 2);
    this.raw.widenKVF16(out, x, S, D, span, g0, g1);
  }

  private attend(
    op: string, kernel: AttentionExport, valueBytes: number,
    out: number, q: number, k: number, v: number, scores: number,
    T: number, H: number, G: number, D: number, S: number,
    pos0: number, window: number, scale: number, softcapValue: number,
    h0: number, h1: number,
  ): void {
    this.check.dims(op, { T, H, G, D });
    if (H % G !== 0) throw invalidArgument(op, `H (${H}) must be a multiple of G (${G})`, { H, G });
    this.check.nonNegative(op, "pos0", pos0);
    this.check.nonNegative(op, "window", window);
    if (!Number.isFinite(scale)) throw invalidArgument(op, `scale must be finite, got ${scale}`, { scale });
    if (!(softcapValue >= 0) || !Number.isFinite(softcapValue)) {
      throw invalidArgument(op, `softcapValue must be 0 or a positive number, got ${softcapValue}`, { softcapValue });
    }
    this.check.range(op, "head", h0, h1, H);
    if (!Number.isSafeInteger(S) || S < pos0 + T) {
      throw invalidArgument(op, `S (${S}) must be an integer of at least pos0 + T (${pos0 + T})`, { S, pos0, T });
    }
    this.check.span(op, "out", out, T * H * D * 4);
    this.check.span(op, "q", q, T * H * D * 4);
    this.check.span(op, "k", k, G * S * D * valueBytes);
    this.check.span(op, "v", v, G * S * D * valueBytes);
    this.check.span(op, "scores", scores, attentionScratchBytes(H, G, D, pos0 + T));
    kernel(out, q, k, v, scores, T, H, G, D, S, pos0, window, scale, softcapValue, h0, h1);
  }


  /** out (N, C) rows n0 .. n1 = rmsnorm(x (N, C)) · w (C). `out` may be `x`. */
  rmsNorm(out: number, x: number, w: number, N: number, C: number, eps: number, n0 = 0, n1 = N): void {
    this.norm("cpu.kernels.rmsNorm", false, out, x, w, N, C, eps, n0, n1);
  }

  /** out (N, C) rows n0 .. n1 = rmsnorm(x (N, C)) · (1 + w (C)), Gemma's convention. `out` may be `x`. */
  rmsNormPlusOne(out: number, x: number, w: number, N: number, C: number, eps: number, n0 = 0, n1 = N): void {
    this.norm("cpu.kernels.rmsNormPlusOne", true, out, x, w, N, C, eps, n0, n1);
  }

  /**
   * Rotates x (T, NH, D) in place, head rows r0 .. r1 of T·NH, by the cos/sin tables (P, D/2) of the reference
   * `ropeTable` at positions (T) int32, each in [0, P). D must be even.
   */
  rope(x: number, cos: number, sin: number, positions: number, T: number, NH: number, D: number, P: number, r0 = 0, r1 = T * NH): void {
    const op = "cpu.kernels.rope";
    this.check.dims(op, { T, NH, D, P });
    if (D % 2 !== 0) throw invalidArgument(op, `D must be even, got ${D}`, { D });
    this.check.range(op, "row", r0, r1, T * NH);
    this.check.span(op, "x", x, T * NH * D * 4);
    this.check.span(op, "cos", cos, P * (D / 2) * 4);
    this.check.span(op, "sin", sin, P * (D / 2) * 4);
    this.check.span(op, "positions", positions, T * 4);
    this.check.indices(op, "positions", positions, T, P);
    this.raw.rope(x, cos, sin, positions, NH, D, r0, r1);
  }

  /** out (N, K) rows n0 .. n1 = softmax(x (N, K)) along K. `out` may be `x`. */
  softmax(out: number, x: number, N: number, K: number, n0 = 0, n1 = N): void {
    const op = "cpu.kernels.softmax";
    this.check.dims(op, { N, K });
    this.check.range(op, "row", n0, n1, N);
    this.check.span(op, "out", out, N * K * 4);
    this.check.span(op, "x", x, N * K * 4);
    this.raw.softmax(out, x, K, n0, n1);
  }

  /** out (N) elements i0 .. i1 = silu(gate (N)) · up (N). */
  swiglu(out: number, gate: number, up: number, N: number, i0 = 0, i1 = N): void {
    this.elementwise("cpu.kernels.swiglu", this.raw.swiglu, out, gate, up, N, i0, i1);
  }

  /** out (N) elements i0 .. i1 = gelu_tanh(gate (N)) · up (N). */
  geglu(out: number, gate: number, up: number, N: number, i0 = 0, i1 = N): void {
    this.elementwise("cpu.kernels.geglu", this.raw.geglu, out, gate, up, N, i0, i1);
  }

  /** out (N) elements i0 .. i1 = a (N) + b (N): the residual connection. */
  add(out: number, a: number, b: number, N: number, i0 = 0, i1 = N): void {
    this.elementwise("cpu.kernels.add", this.raw.add, out, a, b, N, i0, i1);
  }

  /** out (T, C) rows t0 .. t1 = table (V, C) float32 [ids[t]] · scale; ids (T) int32 in [0, V). */
  embeddingF32(out: number, ids: number, table: number, scale: number, T: number, C: number, V: number, t0 = 0, t1 = T): void {
    this.embedding("cpu.kernels.embeddingF32", this.raw.embeddingF32, V * C * 4, out, ids, table, scale, T, C, V, t0, t1);
  }

  /** out (T, C) rows t0 .. t1 = table (V, C) IEEE half bits [ids[t]] · scale. */
  embeddingF16(out: number, ids: number, table: number, scale: number, T: number, C: number, V: number, t0 = 0, t1 = T): void {
    this.embedding("cpu.kernels.embeddingF16", this.raw.embeddingF16, V * C * 2, out, ids, table, scale, T, C, V, t0, t1);
  }

  /** out (T, C) rows t0 .. t1 = table (V, C) bfloat16 bits [ids[t]] · scale. */
  embeddingBF16(out: number, ids: number, table: number, scale: number, T: number, C: number, V: number, t0 = 0, t1 = T): void {
    this.embedding("cpu.kernels.embeddingBF16", this.raw.embeddingBF16, V * C * 2, out, ids, table, scale, T, C, V, t0, t1);
  }

  /** out (T, C) rows t0 .. t1 = dequantised row-interleaved Q8_0 table (V, C/32 blocks; interleaveQ8_0) [ids[t]] · scale. */
  embeddingQ8_0(out: number, ids: number, table: number, scale: number, T: number, C: number, V: number, t0 = 0, t1 = T): void {
    const op = "cpu.kernels.embeddingQ8_0";
    this.check.dims(op, { C });
    this.check.blocks(op, C);
    this.embedding(op, this.raw.embeddingQ8_0, V * (C / 32) * Q8_0_BLOCK_BYTES, out, ids, table, scale, T, C, V, t0, t1);
  }

  /** out (T, C) rows t0 .. t1 = dequantised row-interleaved Q4_0 table (V, C/32 blocks; interleaveQ4_0) [ids[t]] · scale. */
  embeddingQ4_0(out: number, ids: number, table: number, scale: number, T: number, C: number, V: number, t0 = 0, t1 = T): void {
    const op = "cpu.kernels.embeddingQ4_0";
    this.check.dims(op, { C });
    this.check.blocks(op, C);
    this.embedding(op, this.raw.embeddingQ4_0, V * (C / 32) * Q4_0_BLOCK_BYTES, out, ids, table, scale, T, C, V, t0, t1);
  }

  private matmul(
    op: string, kernel: MatmulExport, wRowBytes: number,
    out: number, x: number, w: number, T: number, C: number, O: number, o0: number, o1: number,
  ): void {
    this.checkFloat(op, wRowBytes, out, x, w, T, C, O, o0, o1);
    kernel(out, x, w, T, C, O, o0, o1);
  }

  private prefill(
    op: string, kernel: PrefillExport, wRowBytes: number,
    out: number, x: number, w: number, scratch: number, T: number, C: number, O: number, o0: number, o1: number,
  ): void {
    this.checkFloat(op, wRowBytes, out, x, w, T, C, O, o0, o1);
    this.check.span(op, "scratch", scratch, prefillScratchBytes(C));
    kernel(out, x, w, scratch, T, C, O, o0, o1);
  }

  private matmulQuant(
    op: string, kernel: MatmulExport, blockBytes: number,
    out: number, xq: number, w: number, T: number, C: number, O: number, o0: number, o1: number,
  ): void {
    this.checkQuant(op, blockBytes, out, xq, w, T, C, O, o0, o1);
    kernel(out, xq, w, T, C, O, o0, o1);
  }

  private prefillQuant(
    op: string, kernel: PrefillExport, blockBytes: number,
    out: number, xq: number, w: number, scratch: number, T: number, C: number, O: number, o0: number, o1: number,
  ): void {
    this.checkQuant(op, blockBytes, out, xq, w, T, C, O, o0, o1);
    this.check.span(op, "scratch", scratch, quantPrefillScratchBytes(C));
    kernel(out, xq, w, scratch, T, C, O, o0, o1);
  }

  /** The checks of a product over float32 x and weights of `wRowBytes` bytes per row. */
  private checkFloat(op: string, wRowBytes: number, out: number, x: number, w: number, T: number, C: number, O: number, o0: number, o1: number): void {
    this.check.dims(op, { T, C, O });
    this.check.range(op, "output row", o0, o1, O);
    this.check.span(op, "out", out, T * O * 4);
    this.check.span(op, "x", x, T * C * 4);
    this.check.span(op, "w", w, O * wRowBytes);
  }

  private interleave(
    op: string, kernel: (w: number, tmp: number, O: number, C: number) => void, blockBytes: number,
    w: number, tmp: number, O: number, C: number,
  ): void {
    this.check.dims(op, { O, C });
    this.check.blocks(op, C);
    const bytes = O * (C / 32) * blockBytes;
    const tmpBytes = interleaveScratchBytes(C);
    this.check.span(op, "w", w, bytes);
    this.check.span(op, "tmp", tmp, tmpBytes);
    if (tmp < w + bytes && w < tmp + tmpBytes) {
      throw invalidArgument(op, `tmp (${tmp}, ${tmpBytes} bytes) overlaps w (${w}, ${bytes} bytes)`, { w, tmp });
    }
    kernel(w, tmp, O, C);
  }

  /** Row-interleaved Q8_0/Q4_0: a row range must not cut a group of 4 rows (rows from O − O mod 4 on stand alone). */
  private checkGroupRows(op: string, O: number, o0: number, o1: number): void {
    const O4 = O - (O % 4);
    for (const [name, v] of [["o0", o0], ["o1", o1]] as const) {
      if (v < O4 && v % 4 !== 0) {
        throw invalidArgument(op, `${name} (${v}) must be a multiple of 4 below ${O4}: row-interleaved blocks keep rows in groups of 4`, { [name]: v });
      }
    }
  }

  /** The checks of a product over Q8 activations xq and weights in blocks of `blockBytes` per 32 channels. */
  private checkQuant(op: string, blockBytes: number, out: number, xq: number, w: number, T: number, C: number, O: number, o0: number, o1: number): void {
    this.check.dims(op, { T, C, O });
    this.check.blocks(op, C);
    this.check.range(op, "output row", o0, o1, O);
    this.check.span(op, "out", out, T * O * 4);
    this.check.span(op, "xq", xq, q8ActivationBytes(T, C));
    this.check.span(op, "w", w, O * (C / 32) * blockBytes);
  }

  private norm(
    op: string, plusOne: boolean,
    out: number, x: number, w: number, N: number, C: number, eps: number, n0: number, n1: number,
  ): void {
    this.check.dims(op, { N, C });
    if (!(eps >= 0) || !Number.isFinite(eps)) throw invalidArgument(op, `eps must be a non-negative number, got ${eps}`, { eps });
    this.check.range(op, "row", n0, n1, N);
    this.check.span(op, "out", out, N * C * 4);
    this.check.span(op, "x", x, N * C * 4);
    this.check.span(op, "w", w, C * 4);
    (plusOne ? this.raw.rmsNormPlusOne : this.raw.rmsNorm)(out, x, w, C, eps, n0, n1);
  }

  private elementwise(op: string, kernel: RangeExport, out: number, a: number, b: number, N: number, i0: number, i1: number): void {
    this.check.dims(op, { N });
    this.check.range(op, "element", i0, i1, N);
    this.check.span(op, "out", out, N * 4);
    this.check.span(op, "a", a, N * 4);
    this.check.span(op, "b", b, N * 4);
    kernel(out, a, b, i0, i1);
  }

  private embedding(
    op: string, kernel: EmbeddingExport, tableBytes: number,
    out: number, ids: number, table: number, scale: number, T: number, C: number, V: number, t0: number, t1: number,
  ): void {
    this.check.dims(op, { T, C, V });
    if (!Number.isFinite(scale)) throw invalidArgument(op, `scale must be finite, got ${scale}`, { scale });
    this.check.range(op, "token", t0, t1, T);
    this.check.span(op, "out", out, T * C * 4);
    this.check.span(op, "ids", ids, T * 4);
    this.check.span(op, "table", table, tableBytes);
    this.check.indices(op, "ids", ids, T, V);
    kernel(out, ids, table, scale, C, V, t0, t1);
  }
}
