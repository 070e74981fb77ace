// Informal timing of the WebAssembly matmul kernels (not a test; vitest does not run it): BF16, F16, F32, Q8_0 and
// Q4_0 weights at SmolLM2-135M's shapes (576→1536, 1536→576, the 49152-row head) and TinyLlama-1.1B's feed-forward,
// decode (T = 1) and a 128-token prefill (the matmul*Prefill kernels where the type has them), one thread, raw exports (no wrapper checks). Two builds can be compared in one process: the baseline
// .wasm and the current one take turns round after round, so a shared machine's load falls on both alike; medians
// of the rounds are printed with GB/s of weights streamed.
// Run: cp packages/cpu/wasm-dist/kernels.wasm /tmp/kernels-base.wasm   (before changing the kernels), then
//      npx esbuild packages/cpu/test/kernels-wasm/measure-matmul.ts --bundle --platform=node --format=esm \
//        --outfile=/tmp/measure-matmul.mjs && node /tmp/measure-matmul.mjs [base.wasm] [new.wasm] [rounds] [filter: a regular expression over the case labels]
import { readFileSync } from "node:fs";

type Kernel = (...args: number[]) => void;
interface Exports {
  [name: string]: Kernel;
}

const basePath = process.argv[2] ?? "/tmp/kernels-base.wasm";
const newPath = process.argv[3] ?? new URL("../../wasm-dist/kernels.wasm", import.meta.url).pathname;
const rounds = Number(process.argv[4] ?? 7);
const filter = process.argv[5] ?? "";

const memory = new WebAssembly.Memory({ initial: 16384, maximum: 65536, shared: true }); // 1 GiB
const bytes = new Uint8Array(memory.buffer);
let top = 1024;
function alloc(n: number): number {
  const p = top;
  top += Math.ceil(n / 64) * 64;
  if (top > bytes.length) throw new Error("measure arena full");
  return p;
}

function instantiate(path: string): Exports {
  const module = new WebAssembly.Module(readFileSync(path));
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;
}
const builds: Array<{ name: string; k: Exports }> = [
  { name: "base", k: instantiate(basePath) },
  { name: "new", k: instantiate(newPath) },
];

/** Fills n bytes at p with deterministic pseudo-random bytes whose 16-bit words are finite halves / bfloat16. */
function fillWeights(p: number, n: number, seed: number): void {
  let a = seed >>> 0;
  for (let i = 0; i < n; i += 2) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    // bf16/f16 in about ±0.06: sign, exponent 0x3a..0x3c region, random mantissa.
    const h = ((a >>> 16) & 0x807f) | 0x3c00;
    bytes[p + i] = h & 0xff;
    bytes[p + i + 1] = h >>> 8;
  }
}

/** Q8_0/Q4_0 blocks: f16 scale 0x2000 (about 0.0078) then random quants. */
function fillBlocks(p: number, nBlocks: number, bs: number, seed: number): void {
  let a = seed >>> 0;
  for (let b = 0; b < nBlocks; b++) {
    const q = p + b * bs;
    bytes[q] = 0x00;
    bytes[q + 1] = 0x20;
    for (let j = 2; j < bs; j++) {
      a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
      bytes[q + j] = (a >>> 24) & (bs === 34 ? 0x7f : 0xff);
    }
  }
}

const shapes: Array<[string, number, number]> = [
  ["576→1536", 576, 1536],
  ["1536→576", 1536, 576],
  ["head 576→49152", 576, 49152],
  ["2048→5632", 2048, 5632], // TinyLlama-1.1B's feed-forward: weights from DRAM
  ["5632→2048", 5632, 2048],
];
const types = ["BF16", "F16", "F32", "Q8_0", "Q4_0"] as const;
type WType = (typeof types)[number];
function weightBytes(type: WType, C: number, O: number): number {
  if (type === "F32") return O * C * 4;
  if (type === "Q8_0") return (O * C * 34) / 32;
  if (type === "Q4_0") return (O * C * 18) / 32;
  return O * C * 2;
}

const maxT = 128;
const maxC = 5632;
const x = alloc(maxT * maxC * 4);
{
  const xv = new Float32Array(memory.buffer, x, maxT * maxC);
  for (let i = 0; i < xv.length; i++) xv[i] = Math.sin(i * 0.37) * 0.8;
}
const xq = alloc(maxT * maxC * 2 + maxT * (maxC / 32) * 8); // int16 values, then float32 scales and int32 nibble biases
const out = alloc(maxT * 49152 * 4);
const scratch = alloc(16 * maxC * 4); // the prefill kernels' per-thread scratch (the F16/BF16 one is the larger)
const weights = new Map<string, number>();
for (const type of types) {
  for (const [name, C, O] of shapes) {
    const n = weightBytes(type, C, O);
    const p = alloc(n);
    if (type === "Q8_0") fillBlocks(p, (O * C) / 32, 34, C + O);
    else if (type === "Q4_0") fillBlocks(p, (O * C) / 32, 18, C + O);
    else if (type === "F32") {
      const v = new Float32Array(memory.buffer, p, O * C);
      for (let i = 0; i < v.length; i++) v[i] = Math.cos(i * 0.11) * 0.05;
    } else fillWeights(p, n, C * 7 + O);
    weights.set(`${type} ${name}`, p);
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Case {
  label: string;
  gb: number;
  gflop: number;
  run: (k: Exports) => void;
}
const cases: Case[] = [];
for (const type of types) {
  for (const [name, C, O] of shapes) {
    for (const T of [1, maxT]) {
      if (T > 1 && name.startsWith("head")) continue; // prefill computes logits for the last token only
      const label = `${type.padEnd(4)} ${name.padEnd(15)} T=${T}`;
      if (filter !== "" && !new RegExp(filter).test(label)) continue;
      const w = weights.get(`${type} ${name}`)!;
      const quant = type === "Q8_0" || type === "Q4_0";
      cases.push({
        label,
        gb: weightBytes(type, C, O) / 1e9,
        gflop: (2 * T * C * O) / 1e9,
        run: (k) => {
          // T > 1 takes the kernel the engine uses for a prefill: matmul*Prefill where the type has one.
          const prefill = T > 1 && type !== "F32";
          const input = quant ? xq : x;
          if (quant) k.quantizeQ8Activations(xq, x, T, C, 0, T);
          if (prefill) k[`matmul${type}Prefill`](out, input, w, scratch, T, C, O, 0, O);
          else k[`matmul${type}`](out, input, w, T, C, O, 0, O);
        },
      });
    }
  }
}

// Check: both builds give the same bits on every case (the new kernels must keep the old arithmetic or say why).
for (const c of cases) {
  const res: Uint32Array[] = [];
  for (const b of builds) {
    new Uint32Array(memory.buffer, out, maxT * 49152).fill(0);
    c.run(b.k);
    res.push(Uint32Array.from(new Uint32Array(memory.buffer, out, maxT * 49152)));
  }
  let diff = 0;
  for (let i = 0; i < res[0].length; i++) if (res[0][i] !== res[1][i]) diff++;
  if (diff > 0) console.log(`note: ${c.label}: ${diff} outputs differ in bits between base and new`);
}

const times = new Map<string, number[]>();
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    for (const b of r % 2 === 0 ? builds : [...builds].reverse()) {
      const reps = c.label.endsWith("T=1") ? Math.max(1, Math.round(0.05 / c.gb)) : 2;
      c.run(b.k);
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) c.run(b.k);
      const ms = (performance.now() - t0) / reps;
      const key = `${c.label}|${b.name}`;
      if (!times.has(key)) times.set(key, []);
      times.get(key)!.push(ms);
    }
  }
}
// Medians and minimums (the minimum is the least disturbed by other processes on a shared machine); the last
// column is GB/s of weights for decode and GFLOP/s for prefill, from the new build's minimum.
console.log(`${"case".padEnd(32)} ${"base med".padStart(9)} ${"new med".padStart(9)} ${"base min".padStart(9)} ${"new min".padStart(9)} ${"x (min)".padStart(8)} ${"rate".padStart(12)}`);
for (const c of cases) {
  const b = times.get(`${c.label}|base`)!;
  const n = times.get(`${c.label}|new`)!;
  const bmin = Math.min(...b);
  const nmin = Math.min(...n);
  const rate = c.label.endsWith("T=1") ? `${(c.gb / (nmin / 1000)).toFixed(1)} GB/s` : `${(c.gflop / (nmin / 1000)).toFixed(1)} GF/s`;
  console.log(
    `${c.label.padEnd(32)} ${median(b).toFixed(3).padStart(9)} ${median(n).toFixed(3).padStart(9)} ${bmin.toFixed(3).padStart(9)} ${nmin.toFixed(3).padStart(9)} ${(bmin / nmin).toFixed(2).padStart(8)} ${rate.padStart(12)}`,
  );
}
