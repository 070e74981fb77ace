/**
 * Argument checks of the WebAssembly kernel wrappers: dimensions, row ranges and buffer extents, each failing
 * with an `invalid_argument` InferenceError that names the kernel and the argument. They run before every call so
 * an engine bug surfaces as a typed error rather than a WebAssembly trap or a silent read of a neighbour buffer.
 * Not responsible for what the kernels compute.
 */
import { InferenceError } from "@dappcore/inference";

/** Fails with `invalid_argument` for kernel `op`. */
export function invalidArgument(op: string, message: string, details?: Record<string, unknown>): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message, details });
}

/** Checks against one memory; caches its size and re-reads it only when a buffer seems to lie past it. */
export class KernelChecks {
  private limit: number;

  constructor(private readonly memory: WebAssembly.Memory) {
    this.limit = memory.buffer.byteLength;
  }

  /** Every named dimension is an integer ≥ 1. */
  dims(op: string, dims: Record<string, number>): void {
    for (const name in dims) {
      const v = dims[name];
      if (!Number.isSafeInteger(v) || v < 1) {
        throw invalidArgument(op, `${name} must be a positive integer, got ${v}`, { [name]: v });
      }
    }
  }

  /** An integer ≥ 0. */
  nonNegative(op: string, name: string, v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw invalidArgument(op, `${name} must be a non-negative integer, got ${v}`, { [name]: v });
    }
  }

  /** C is a multiple of the 32-channel quantisation block. */
  blocks(op: string, C: number): void {
    if (C % 32 !== 0) {
      throw invalidArgument(op, `C must be a multiple of 32 for quantised blocks, got ${C}`, { C });
    }
  }

  /** 0 ≤ lo ≤ hi ≤ n, integers: the part of the work one call does. */
  range(op: string, what: string, lo: number, hi: number, n: number): void {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 0 || hi < lo || hi > n) {
      throw invalidArgument(op, `${what} range [${lo}, ${hi}) must lie within [0, ${n}]`, { lo, hi, n });
    }
  }

  /** Buffer `name` of `bytes` bytes at byte offset `ptr` lies inside the memory. */
  span(op: string, name: string, ptr: number, bytes: number): void {
    if (!Number.isSafeInteger(ptr) || ptr < 0) {
      throw invalidArgument(op, `${name} must be a non-negative byte offset, got ${ptr}`, { [name]: ptr });
    }
    if (ptr + bytes > this.limit) {
      this.limit = this.memory.buffer.byteLength;
      if (ptr + bytes > this.limit) {
        throw invalidArgument(
          op,
          `${name} (${bytes} bytes at offset ${ptr}) lies outside the WebAssembly memory (${this.limit} bytes)`,
          { name, ptr, bytes, capacity: this.limit },
        );
      }
    }
  }

  /** The n int32 values at ptr (4-byte aligned) each lie in [0, limit): token ids, positions. */
  indices(op: string, name: string, ptr: number, n: number, limit: number): void {
    if (ptr % 4 !== 0) throw invalidArgument(op, `${name} must be 4-byte aligned, got offset ${ptr}`, { [name]: ptr });
    const values = new Int32Array(this.memory.buffer, ptr, n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v < 0 || v >= limit) {
        throw invalidArgument(op, `${name}[${i}] = ${v} is outside [0, ${limit})`, { index: i, value: v, limit });
      }
    }
  }
}
