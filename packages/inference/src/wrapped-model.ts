/**
 * Decorated models: a wrapper (metrics, logging, a cache) exposes the model it wraps through `unwrap()`, and the
 * contract looks through the chain for optional abilities, as Go's `As[T]` does, so a decorator never hides one.
 *
 * This file does not define any decorator; it only walks chains.
 */

/** A model (or any value) that wraps another and hands it out. */
export interface Unwrappable {
  unwrap(): unknown;
}

/** How deep `unwrapChain` walks before it stops (Go's `As` limit). */
export const MAX_UNWRAP_DEPTH = 16;

/**
 * The value followed by what its `unwrap()` chain yields, outermost first: at most `MAX_UNWRAP_DEPTH` levels below
 * the value, stopping at null/undefined, at a value seen before (a cycle), or at an `unwrap()` that throws.
 *
 * @example
 * for (const layer of unwrapChain(model)) if (isTrainableModel(layer)) return layer;
 */
export function unwrapChain(value: unknown): unknown[] {
  const chain: unknown[] = [];
  const seen = new Set<unknown>();
  let current = value;
  for (let depth = 0; depth <= MAX_UNWRAP_DEPTH; depth++) {
    if (current === null || current === undefined || seen.has(current)) break;
    chain.push(current);
    seen.add(current);
    const fn = (current as Partial<Unwrappable>).unwrap;
    if (typeof fn !== "function") break;
    try {
      current = fn.call(current);
    } catch {
      break;
    }
  }
  return chain;
}

/**
 * The first value in `value`'s unwrap chain that passes `guard`, or undefined (Go's `As[T]`).
 *
 * @example
 * const trainable = findInChain(model, isTrainableModel);
 */
export function findInChain<T>(value: unknown, guard: (v: unknown) => v is T): T | undefined {
  for (const layer of unwrapChain(value)) if (guard(layer)) return layer;
  return undefined;
}
