/**
 * Reads a GGUF converter's progress callback argument into the `{ done, total }` the progress bar draws, as the
 * cpu package's converter reports it (tensors written of all tensors). This file does not draw anything.
 */
import type { ConvertProgress } from "./cli-runtime.js";

/** Reads the converter's `{ done, total, tensor }` report; anything else is ignored (undefined). */
export function readConvertProgress(p: unknown): ConvertProgress | undefined {
  if (typeof p !== "object" || p === null) return undefined;
  const r = p as Record<string, unknown>;
  if (typeof r.done !== "number" || typeof r.total !== "number") return undefined;
  return typeof r.tensor === "string" ? { done: r.done, total: r.total, item: r.tensor } : { done: r.done, total: r.total };
}
