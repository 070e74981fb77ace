// Unit tests of the benchmark harness itself (argument parsing, statistics, report, child protocol, model cache):
// `npx vitest run --config bench/vitest.config.mjs`, which `npm test` runs after the library's suite (the root
// config only includes packages/). None of these tests runs an engine or measures time.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p) => fileURLToPath(new URL(`../packages/${p}`, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL("../", import.meta.url)),
  resolve: {
    alias: [
      { find: /^@dappcore\/inference$/, replacement: src("inference/src/index.ts") },
      { find: /^@dappcore\/inference-gguf$/, replacement: src("gguf/src/index.ts") },
      { find: /^@dappcore\/inference-cpu$/, replacement: src("cpu/src/index.ts") },
    ],
  },
  test: {
    include: ["bench/test/**/*.test.mjs"],
    testTimeout: 30_000,
    pool: "forks",
  },
});
