// Creates the embedded default model (packages/cli/model) when it is missing: a small llama checkpoint with
// deterministic random weights and a byte-level tokenizer, made by the built cpu package. Run by `npm run build`
// (and so by `npm ci`). It is a stand-in until a trained demo model is committed; it never overwrites an existing one.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const target = fileURLToPath(new URL("../packages/cli/model/", import.meta.url));
if (existsSync(new URL("config.json", `file://${target}`))) {
  process.exit(0);
}
const { makeRandomCheckpoint } = await import("../packages/cpu/dist/checkpoint/random-checkpoint.js");
await makeRandomCheckpoint(target, {
  architecture: "llama",
  seed: 2026,
  hiddenSize: 128,
  numLayers: 4,
  numHeads: 4,
  numKVHeads: 2,
  intermediateSize: 256,
  maxPositionEmbeddings: 1024,
  dtype: "BF16",
});
console.error(`made the default model in ${target}`);
