// How fast this machine streams memory from WebAssembly, on one thread and on two: the roof that memory-bound decode
// (a token reads every weight once) runs into, and so the most a second thread can add to it. Compiles a 20-line
// AssemblyScript loop (128-bit loads, four accumulators) with the repository's compiler and times it over a buffer
// larger than the caches, alone and split in halves over two worker threads. Measures only; run.mjs puts the figures
// in its report and memory-bandwidth.mjs prints them.
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

const WORKER = `const { parentPort, workerData } = require("node:worker_threads");
const k = new WebAssembly.Instance(workerData.module, { env: { memory: workerData.memory, abort() {} } }).exports;
parentPort.on("message", ({ p, n }) => { k.stream(p, n); parentPort.postMessage(0); });`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Streams `megabytes` (default 270: a BF16 SmolLM2-135M's weights) `runs` times on one thread and on two, and returns
 * the medians in GB/s (10^9 bytes per second): `{ megabytes, runs, oneThreadGBs, twoThreadsGBs }`.
 *
 * @example const { oneThreadGBs, twoThreadsGBs } = await measureStreaming({ megabytes: 270 });
 */
export async function measureStreaming({ megabytes = 270, runs = 7 } = {}) {
  const bytes = Math.floor((megabytes * 1e6) / 256) * 256;
  if (!(bytes >= 256) || !Number.isSafeInteger(runs) || runs < 1) {
    throw new RangeError(`measureStreaming needs at least 256 bytes and one run, got ${megabytes} MB and ${runs} runs`);
  }
  const { default: asc } = await import("assemblyscript/asc");
  const { binary, stderr } = await asc.compileString(SOURCE, {
    optimizeLevel: 3, enable: ["simd", "threads"], importMemory: true, sharedMemory: true, initialMemory: 1, maximumMemory: 65536, runtime: "stub",
  });
  if (!binary) throw new Error(`the streaming loop did not compile:\n${stderr.toString()}`);
  const module = new WebAssembly.Module(binary);
  const memory = new WebAssembly.Memory({ initial: Math.ceil((bytes + 1024) / 65536), maximum: 65536, shared: true });
  new Uint8Array(memory.buffer, 1024, bytes).fill(1);
  const main = new WebAssembly.Instance(module, { env: { memory, abort() {} } }).exports;
  const workers = [0, 1].map(() => new Worker(WORKER, { eval: true, workerData: { module, memory } }));
  try {
    const half = bytes / 2;
    const both = () =>
      Promise.all(workers.map((w, i) => new Promise((done, fail) => {
        w.once("message", done);
        w.once("error", fail);
        w.postMessage({ p: 1024 + i * half, n: half });
      })));
    const one = [];
    const two = [];
    await both(); // warm-up: instantiation and tier-up
    main.stream(1024, bytes);
    for (let r = 0; r < runs; r++) {
      let t0 = performance.now();
      main.stream(1024, bytes);
      one.push(performance.now() - t0);
      t0 = performance.now();
      await both();
      two.push(performance.now() - t0);
    }
    const gbs = (ms) => bytes / 1e9 / (ms / 1000);
    return { megabytes: bytes / 1e6, runs, oneThreadGBs: gbs(median(one)), twoThreadsGBs: gbs(median(two)) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
