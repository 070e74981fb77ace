// How fast this machine streams memory from WebAssembly, on one thread and on two: the roof that memory-bound decode
// (a token reads every weight once) runs into. Compiles a 20-line AssemblyScript loop (128-bit loads, four
// accumulators) with the repository's compiler, then times it over a 270 MB buffer (a BF16 SmolLM2-135M's weights),
// alone and split in halves over two worker threads, medians of 7. Informal: nothing asserts on it.
// Run: node bench/memory-bandwidth.mjs [megabytes]
import { Worker } from "node:worker_threads";

const SOURCE = `
export function stream(p: usize, bytes: usize): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end = p + bytes;
  for (; p < end; p += 64) {
    a0 = f32x4.add(a0, v128.load(p));
    a1 = f32x4.add(a1, v128.load(p, 16));
    a2 = f32x4.add(a2, v128.load(p, 32));
    a3 = f32x4.add(a3, v128.load(p, 48));
  }
  return f32x4.extract_lane(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), 0);
}`;

const megabytes = Number(process.argv[2] ?? 270);
const bytes = Math.floor((megabytes * 1e6) / 256) * 256;
const { default: asc } = await import("assemblyscript/asc");
const { binary, stderr } = await asc.compileString(SOURCE, {
  optimizeLevel: 3, enable: ["simd", "threads"], importMemory: true, sharedMemory: true, initialMemory: 1, maximumMemory: 65536, runtime: "stub",
});
if (!binary) throw new Error(`the streaming loop did not compile:\\n${stderr.toString()}`);
const module = new WebAssembly.Module(binary);
const memory = new WebAssembly.Memory({ initial: Math.ceil((bytes + 1024) / 65536), maximum: 65536, shared: true });
new Uint8Array(memory.buffer, 1024, bytes).fill(1);
const main = new WebAssembly.Instance(module, { env: { memory, abort() {} } }).exports;

const WORKER = `const { parentPort, workerData } = require("node:worker_threads");
const k = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory, abort() {} } }).exports;
parentPort.on("message", ({ p, n }) => { k.stream(p, n); parentPort.postMessage(0); });`;
const workers = [0, 1].map(() => new Worker(WORKER, { eval: true, workerData: { module, memory } }));
const half = bytes / 2;
const both = () =>
  Promise.all(workers.map((w, i) => new Promise((done) => {
    w.once("message", done);
    w.postMessage({ p: 1024 + i * half, n: half });
  })));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const one = [];
const two = [];
await both(); // warm-up: instantiation and tier-up
main.stream(1024, bytes);
for (let r = 0; r < 7; r++) {
  let t0 = performance.now();
  main.stream(1024, bytes);
  one.push(performance.now() - t0);
  t0 = performance.now();
  await both();
  two.push(performance.now() - t0);
}
await Promise.all(workers.map((w) => w.terminate()));
const gbs = (ms) => (bytes / 1e9 / (ms / 1000)).toFixed(1);
console.log(`streaming ${(bytes / 1e6).toFixed(0)} MB from WebAssembly memory: 1 thread ${gbs(median(one))} GB/s, 2 threads ${gbs(median(two))} GB/s (medians of 7)`);
