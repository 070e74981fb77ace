// Informal timing of the attention kernel at T = 1 (not a test; vitest does not run it): the query heads of
// SmolLM2-135M (9 heads over 3 KV heads) and TinyLlama-1.1B (32 over 4), head dim 64, over 256 to 4000 cached
// positions, one thread. "hot": one layer's cache, called again and again (it stays in L2/L3); "model": a cache per
// layer for every layer of the model, called layer after layer as decode does, so the caches stream from memory
// once they outgrow L3. The median of 5 rounds; µs per layer and multiply-adds per second; a float32 cache
// (attention) and a cache of halves (attentionF16, half the bytes).
// Run: npx esbuild packages/cpu/test/kernels-wasm/measure-attention.ts --bundle --platform=node --format=esm \
//        --outfile=/tmp/measure-attention.mjs && node /tmp/measure-attention.mjs [kernels.wasm]   (from the repository root)
import { readFileSync } from "node:fs";

type Kernel = (...args: number[]) => void;
const path = process.argv[2] ?? "packages/cpu/wasm-dist/kernels.wasm";
const memory = new WebAssembly.Memory({ initial: 8192, maximum: 65536, shared: true });
const kernels = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), { env: { memory } }).exports as Record<string, Kernel>;
const D = 64;

for (const [name, H, G, layers] of [["SmolLM2-135M", 9, 3, 30], ["TinyLlama-1.1B", 32, 4, 22]] as const) {
  for (const S of [256, 1000, 2000, 4000]) {
    const kvBytes = G * S * D * 4; // one layer's keys, (G, S, D)
    const base = 1 << 20;
    const end = base + layers * 2 * kvBytes;
    if (memory.buffer.byteLength < end) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
    const f = new Float32Array(memory.buffer);
    for (let i = base / 4; i < end / 4; i++) f[i] = Math.sin(i * 0.01);
    const q = 1024;
    const out = q + H * D * 4;
    const scores = 1 << 18;
    const time = (L: number, f16: boolean): number => {
      const kernel = f16 ? kernels.attentionF16 : kernels.attention;
      const bytes = f16 ? kvBytes / 2 : kvBytes;
      const reps = Math.max(2, Math.floor(20000 / S));
      const times: number[] = [];
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) {
          for (let l = 0; l < L; l++) {
            const k = base + l * 2 * bytes;
            kernel(out, q, k, k + bytes, scores, 1, H, G, D, S, S - 1, 0, 0.125, 0, 0, H);
          }
        }
        times.push(((performance.now() - t0) / reps / L) * 1000);
      }
      times.sort((a, c) => a - c);
      return times[2];
    };
    const gmac = (us: number) => ((H * S * D * 2) / (us * 1e3)).toFixed(1);
    for (const f16 of [false, true]) {
      const hot = time(1, f16);
      const model = time(layers, f16);
      console.log(
        `${name} ${f16 ? "f16" : "f32"} S=${String(S).padStart(4)}: hot ${hot.toFixed(0).padStart(5)} µs/layer (${gmac(hot)} GMAC/s), ` +
          `${layers} layers ${model.toFixed(0).padStart(5)} µs/layer (${gmac(model)} GMAC/s)`,
      );
    }
  }
}
