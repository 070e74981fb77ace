/**
 * The `@dappcore/inference/node` entry: helpers that need Node's file system. Kept out of the main entry so the
 * contract imports unchanged in browsers, Deno and Bun.
 */
export { discover, MAX_DISCOVER_DEPTH } from "./discover.js";
export type { DiscoveredModel } from "./discover.js";
export { ggufQuantization, readGGUFHeader } from "./gguf-header.js";
export type { GGUFArraySummary, GGUFHeader, GGUFQuantization, GGUFValue, ReadGGUFHeaderOptions } from "./gguf-header.js";
