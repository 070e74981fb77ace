// Informal timing (not a test; vitest does not run it): F16/BF16 decode (T = 1) of rows of 1024 to 8192 channels,
// row-major (matmulBF16) against panel-major (matmulBF16Panels), over about 24 MB of weights (from DRAM) and 0.4 MB
// (in cache), one thread; GB/s of weights, the median of 15 calls. Row-major rows of 4096+ channels from DRAM ran at
// about half the bandwidth here: float32 x (16+ KB) no longer stays in L1 beside the weight stream.
// Run: npx esbuild packages/cpu/test/kernels-wasm/measure-wide-rows.ts --bundle --platform=node --format=esm \
//        --outfile=/tmp/measure-wide-rows.mjs && node /tmp/measure-wide-rows.mjs [kernels.wasm]   (from the repository root)
import { readFileSync } from "node:fs";

type Kernel = (...args: number[]) => void;
const path = process.argv[2] ?? "packages/cpu/wasm-dist/kernels.wasm"; // from the repository root
const memory = new WebAssembly.Memory({ initial: 4096, maximum: 65536, shared: true }); // 256 MiB
const k = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), { env: { memory } }).exports as Record<string, Kernel>;
const bytes = new Uint8Array(memory.buffer);
for (let i = 0; i < 64e6; i += 2) {
  bytes[i] = i & 0xff;
  bytes[i + 1] = 0x3c; // bfloat16 values near 0.01
}
const x = 1024;
const out = 1 << 20;
const w = 2 << 20;

function gbs(kernel: string, C: number, O: number, reps: number): number {
  const times: number[] = [];
  for (let r = 0; r < 15; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) k[kernel](out, x, w, 1, C, O, 0, O);
    times.push((performance.now() - t0) / reps);
  }
  times.sort((a, b) => a - b);
  return (O * C * 2) / times[7] / 1e6;
}

for (const megabytes of [24, 0.4]) {
  for (const C of [1024, 2048, 3072, 4096, 5632, 8192]) {
    const O = Math.max(4, Math.round((megabytes * 1e6) / (C * 2) / 4) * 4);
    const reps = Math.max(1, Math.round(24 / megabytes));
    const rows = gbs("matmulBF16", C, O, reps);
    const panels = gbs("matmulBF16Panels", C, O, reps);
    console.log(`${String(megabytes).padStart(4)} MB  C=${String(C).padStart(4)} O=${String(O).padStart(5)}  rows ${rows.toFixed(1).padStart(5)} GB/s  panels ${panels.toFixed(1).padStart(5)} GB/s`);
  }
}
