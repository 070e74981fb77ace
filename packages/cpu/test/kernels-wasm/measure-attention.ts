// Informal timing of the attention kernel at T = 1 (not a test; vitest does not run it): SmolLM2-135M's heads
// (9 query heads, 3 KV heads, head dim 64) over 100 to 2000 cached positions, one thread, two builds taking turns
// (a baseline .wasm and the current one), the median of 5 rounds of 500 calls.
// Run: cp packages/cpu/wasm-dist/kernels.wasm /tmp/kernels-base.wasm   (before changing the kernels), then
//      npx esbuild packages/cpu/test/kernels-wasm/measure-attention.ts --bundle --platform=node --format=esm \
//        --outfile=/tmp/measure-attention.mjs && node /tmp/measure-attention.mjs [base.wasm] [new.wasm]   (from the repository root)
import { readFileSync } from "node:fs";

type Kernel = (...args: number[]) => void;
const paths = [process.argv[2] ?? "/tmp/kernels-base.wasm", process.argv[3] ?? "packages/cpu/wasm-dist/kernels.wasm"];
const memory = new WebAssembly.Memory({ initial: 4096, maximum: 65536, shared: true });
const builds = paths.map((p) => new WebAssembly.Instance(new WebAssembly.Module(readFileSync(p)), { env: { memory } }).exports as Record<string, Kernel>);
const f = new Float32Array(memory.buffer);
for (let i = 0; i < 8e6; i++) f[i] = Math.sin(i * 0.01);
const [H, G, D] = [9, 3, 64];

for (const S of [100, 250, 500, 1000, 2000]) {
  const q = 1024;
  const out = q + H * D * 4;
  const scores = out + H * D * 4;
  const k = 1 << 20;
  const v = k + S * G * D * 4 + 4096;
  const med: number[] = [];
  for (const b of builds) {
    const times: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      for (let i = 0; i < 500; i++) b.attention(out, q, k, v, scores, 1, H, G, D, S - 1, 0, 0.125, 0, 0, H);
      times.push(((performance.now() - t0) / 500) * 1000);
    }
    times.sort((a, c) => a - c);
    med.push(times[2]);
  }
  console.log(`S=${String(S).padStart(4)}  base ${med[0].toFixed(1).padStart(6)} µs  new ${med[1].toFixed(1).padStart(6)} µs  x${(med[0] / med[1]).toFixed(2)}`);
}
