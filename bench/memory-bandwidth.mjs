// How fast this machine streams memory from WebAssembly, on one thread and on two: the roof that memory-bound decode
// (a token reads every weight once) runs into (lib/streaming.mjs; run.mjs measures it too, at the start and the end
// of each run, and reports it). Informal: nothing asserts on it.
// Run: node bench/memory-bandwidth.mjs [megabytes]   (default 270: a BF16 SmolLM2-135M's weights; medians of 7)
import { measureStreaming } from "./lib/streaming.mjs";

const s = await measureStreaming({ megabytes: Number(process.argv[2] ?? 270) });
console.log(
  `streaming ${s.megabytes.toFixed(0)} MB from WebAssembly memory: 1 thread ${s.oneThreadGBs.toFixed(1)} GB/s, ` +
    `2 threads ${s.twoThreadsGBs.toFixed(1)} GB/s (medians of ${s.runs})`,
);
