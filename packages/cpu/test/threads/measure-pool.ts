// Informal timing of the kernel pool (not a test; vitest does not run it): the per-call dispatch overhead of a
// near-empty job, and matmulF32 576x1536 and 49152x576 at T = 1, for 1 thread and for N threads with several
// polling times (spinMicros). The configurations take turns round after round so that the load of a shared machine
// falls on all of them alike; medians are printed.
// Run: npx esbuild packages/cpu/test/threads/measure-pool.ts --bundle --platform=node --format=esm \
//        --alias:@dappcore/inference=./packages/inference/src/index.ts --outfile=/tmp/measure-pool.mjs \
//      && KERNELS_WASM=$PWD/packages/cpu/wasm-dist/kernels.wasm node /tmp/measure-pool.mjs [threads] [rounds] [spins]
import { compileKernelModuleSync, kernelsWasmPath } from "../../src/engine/kernels/wasm/load-kernels.js";
import { WasmArena } from "../../src/engine/kernels/wasm/wasm-arena.js";
import { createKernelPool, type KernelPool } from "../../src/engine/threads/index.js";

const threads = Number(process.argv[2] ?? 2);
const rounds = Number(process.argv[3] ?? 15);
const spins = (process.argv[4] ?? "0,50,2000").split(",").map(Number);
const module = compileKernelModuleSync(process.env.KERNELS_WASM ?? kernelsWasmPath());

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const arena = new WasmArena({ initialBytes: 120 * 2 ** 20 });
const C = 576;
const x = arena.alloc(C * 4); // (1, C)
arena.f32(x, C).fill(0.5);
const w = arena.alloc(49152 * C * 4); // (O, C) float32, both shapes read its first O rows
const wv = arena.f32(w, 49152 * C);
for (let i = 0; i < wv.length; i++) wv[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
const out = arena.alloc(49152 * 4); // (1, O)

const configs: { name: string; pool: KernelPool }[] = [
  { name: "1 thread", pool: createKernelPool({ memory: arena.memory, module, threads: 1 }) },
  ...spins.map((spin) => ({
    name: `${threads} threads spin ${spin} µs`,
    pool: createKernelPool({ memory: arena.memory, module, threads, spinMicros: spin }),
  })),
];
const tasks = [
  { name: "dispatch (add of 8 per thread)", reps: 2000, run: (p: KernelPool) => p.run("add", [out, x, x], 8 * threads, 8) },
  { name: "matmulF32 576x1536 T=1", reps: 200, run: (p: KernelPool) => p.run("matmulF32", [out, x, w, 1, C, 1536], 1536, 4) },
  { name: "matmulF32 49152x576 T=1", reps: 4, run: (p: KernelPool) => p.run("matmulF32", [out, x, w, 1, C, 49152], 49152, 4) },
];
const times = configs.map(() => tasks.map(() => [] as number[]));
await new Promise((r) => setTimeout(r, 300)); // let the workers start
for (let round = 0; round < rounds; round++) {
  configs.forEach((c, ci) =>
    tasks.forEach((t, ti) => {
      const t0 = performance.now();
      for (let i = 0; i < t.reps; i++) t.run(c.pool);
      times[ci][ti].push(((performance.now() - t0) / t.reps) * 1e3);
    }),
  );
}
tasks.forEach((t, ti) => {
  const base = median(times[0][ti]);
  const cells = configs.map((c, ci) => {
    const m = median(times[ci][ti]);
    return `${c.name}: ${m.toFixed(1)} us${ci === 0 ? "" : ` (x${(base / m).toFixed(2)})`}`;
  });
  console.log(`${t.name} | ${cells.join(" | ")}`);
});
await Promise.all(configs.map((c) => c.pool.close()));
