// Tests run against the TypeScript sources: workspace packages resolve to their src/ entry points, so `npm test`
// needs no build. The published entry points (dist/) are exercised by the smoke tests that spawn Node.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const src = (p: string) => fileURLToPath(new URL(`./packages/${p}`, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@dappcore\/inference\/core$/, replacement: src("inference/src/core/index.ts") },
      { find: /^@dappcore\/inference\/node$/, replacement: src("inference/src/node/index.ts") },
      { find: /^@dappcore\/inference$/, replacement: src("inference/src/index.ts") },
      { find: /^@dappcore\/inference-testing$/, replacement: src("inference-testing/src/index.ts") },
      { find: /^@dappcore\/inference-gguf$/, replacement: src("gguf/src/index.ts") },
      { find: /^@dappcore\/inference-cpu$/, replacement: src("cpu/src/index.ts") },
    ],
  },
  test: {
    include: ["packages/*/test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
  },
});
