// The kernel pool's failures, each a typed InferenceError: bad options and arguments, a WebAssembly trap in a
// worker or on the calling thread (the pool stays usable), a worker that cannot instantiate the module, close()
// and run() after it, and workers terminated from outside (run() throws, never waits on a dead worker).
import type { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileKernelModuleSync } from "../../src/engine/kernels/wasm/load-kernels.js";
import { WasmArena } from "../../src/engine/kernels/wasm/wasm-arena.js";
import { createKernelPool, type KernelPool } from "../../src/engine/threads/index.js";
import { ensureBuilt, getF32, put, thrown } from "../kernels-wasm/helpers.js";

let arena: WasmArena;
let module: WebAssembly.Module;
const open: KernelPool[] = [];

beforeAll(async () => {
  await ensureBuilt();
  arena = new WasmArena({ initialBytes: 1 << 20 });
  module = compileKernelModuleSync();
});

afterAll(async () => {
  await Promise.all(open.map((p) => p.close()));
});

function pool(threads: number, memory = arena.memory, mod = module): KernelPool {
  const p = createKernelPool({ memory, module: mod, threads });
  open.push(p);
  return p;
}

/** The pool's Worker objects (internal), to terminate one from outside as a crash or a stray caller would. */
function workersOf(p: KernelPool): Worker[] {
  return (p as unknown as { workers: Worker[] }).workers;
}

/** Three (N) float32 buffers a, b = 1, 2 and out, for `add`. */
function addBuffers(N: number): { out: number; a: number; b: number } {
  return { out: arena.alloc(N * 4), a: put(arena, new Float32Array(N).fill(1)), b: put(arena, new Float32Array(N).fill(2)) };
}

function expectAddWorks(p: KernelPool): void {
  const N = 64;
  const { out, a, b } = addBuffers(N);
  p.run("add", [out, a, b], N, 4);
  expect(Array.from(getF32(arena, out, N))).toEqual(new Array(N).fill(3));
}

/**
 * A module that imports the shared memory and exports `noop(start, end)` and `wide(17 arguments, start, end)`; its
 * start function atomically adds 1 at address 0 and traps unless it was the first: the calling thread instantiates
 * it, every worker fails to.
 */
function firstInstanceOnlyModule(): WebAssembly.Module {
  const section = (id: number, body: number[]) => [id, body.length, ...body];
  const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: () -> (), (i32, i32) -> (), (19 × i32) -> ()
    ...section(1, [3, 0x60, 0, 0, 0x60, 2, 0x7f, 0x7f, 0, 0x60, 19, ...new Array(19).fill(0x7f), 0]),
    ...section(2, [1, ...name("env"), ...name("memory"), 0x02, 0x03, 1, 0x80, 0x80, 0x04]), // shared, 1 .. 65536 pages
    ...section(3, [3, 0, 1, 2]),
    ...section(7, [2, ...name("noop"), 0x00, 1, ...name("wide"), 0x00, 2]),
    ...section(8, [0]),
    ...section(10, [
      3,
      // i32.atomic.rmw.add [0] += 1; if the old value was not 0: unreachable
      14, 0, 0x41, 0, 0x41, 1, 0xfe, 0x1e, 2, 0, 0x04, 0x40, 0x00, 0x0b, 0x0b,
      2, 0, 0x0b,
      2, 0, 0x0b,
    ]),
  ];
  return new WebAssembly.Module(new Uint8Array(bytes));
}

describe("kernel pool errors", () => {
  it("rejects a bad thread count, spinMicros, module or memory", () => {
    for (const threads of [0, 1.5, 257]) {
      const e = thrown(() => createKernelPool({ memory: arena.memory, module, threads }));
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toBe(`cpu.kernelPool.create: threads must be an integer from 1 to 256, got ${threads}`);
    }
    let e = thrown(() => createKernelPool({ memory: arena.memory, module, threads: 2, spinMicros: -1 }));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernelPool.create: spinMicros must be a non-negative number of microseconds, got -1");
    for (const spinMicros of [Number.NaN, Number.POSITIVE_INFINITY]) {
      e = thrown(() => createKernelPool({ memory: arena.memory, module, threads: 2, spinMicros }));
      expect(e.message).toBe(`cpu.kernelPool.create: spinMicros must be a non-negative number of microseconds, got ${spinMicros}`);
    }
    e = thrown(() => createKernelPool({ memory: arena.memory, module: {} as WebAssembly.Module, threads: 2 }));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernelPool.create: module must be a compiled WebAssembly.Module (use compileKernelModuleSync())");
    e = thrown(() => createKernelPool({ memory: new WebAssembly.Memory({ initial: 1 }), module, threads: 2 }));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.loadKernels: the kernels need a shared WebAssembly.Memory (use new WasmArena().memory)");
  });

  it("rejects an unknown kernel, a wrong argument count, a bad total, grain or scratch", () => {
    const p = pool(2);
    const cases: [() => void, string][] = [
      [() => p.run("matmulF64", [], 1), 'unknown kernel "matmulF64"'],
      [() => p.run("add", [0, 0], 1), "add takes 3 arguments before (start, end), got 2"],
      [() => p.run("add", [0, 0, 0], -1), "total must be an integer from 0 to 2^31 − 1, got -1"],
      [() => p.run("add", [0, 0, 0], 1.5), "total must be an integer from 0 to 2^31 − 1, got 1.5"],
      [() => p.run("add", [0, 0, 0], 8, 0), "grain must be an integer from 1 to 2^31 − 1, got 0"],
      [() => p.run("add", [0, 0, 0], 8, 1, { arg: 3, stride: 4 }), "scratch.arg must index one of the 3 arguments of add, got 3"],
      [
        () => p.run("add", [0, 0, 0], 8, 1, { arg: 0, stride: -4 }),
        "scratch.stride must be a non-negative integer number of bytes below 4 GiB in all, got -4",
      ],
    ];
    for (const [fn, message] of cases) {
      const e = thrown(fn);
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toBe(`cpu.kernelPool.run: ${message}`);
    }
    expectAddWorks(p);
  });

  it("turns a trap in a worker's chunk into an internal error and stays usable", () => {
    const p = pool(2);
    const N = 16;
    const { a, b } = addBuffers(2 * N);
    // out ends N floats past the memory: chunk 0 (rows 0 .. 16, the caller's) fits, chunk 1 (a worker's) traps.
    const out = arena.capacity - N * 4;
    const e = thrown(() => p.run("add", [out, a, b], 2 * N, 4));
    expect(e.code).toBe("internal");
    expect(e.message).toBe("cpu.kernelPool.run: add failed on thread 1 (rows 16 to 32): memory access out of bounds");
    expect(e.details).toEqual({ kernel: "add", thread: 1, threads: 2 });
    expectAddWorks(p);
  });

  it("turns a trap on the calling thread into an internal error with its cause, with and without workers", () => {
    for (const threads of [1, 3]) {
      const p = pool(threads);
      const { a, b } = addBuffers(30);
      const e = thrown(() => p.run("add", [arena.capacity, a, b], 30));
      expect(e.code).toBe("internal");
      // Every chunk traps; the caller's own (thread 0) is reported.
      expect(e.message).toBe(
        `cpu.kernelPool.run: add failed on thread 0 (rows 0 to ${threads === 1 ? 30 : 10}): memory access out of bounds`,
      );
      expect(e.cause).toBeInstanceOf(WebAssembly.RuntimeError);
      expect(e.details).toEqual({ kernel: "add", thread: 0, threads });
      expectAddWorks(p);
    }
  });

  it("reports workers that cannot instantiate the module, then refuses to run", () => {
    const memory = new WasmArena({ initialBytes: 1 << 16 }).memory;
    const p = pool(2, memory, firstInstanceOnlyModule());
    let e = thrown(() => p.run("noop", [], 2));
    expect(e.code).toBe("internal");
    expect(e.message).toBe("cpu.kernelPool.run: worker 1 could not instantiate the kernels: unreachable");
    e = thrown(() => p.run("noop", [], 2));
    expect(e.code).toBe("internal");
    expect(e.message).toBe("cpu.kernelPool.run: cannot run noop: 1 kernel worker(s) could not instantiate the kernels");
  });

  it("rejects a kernel with more arguments than the control block holds", () => {
    const p = pool(1, new WasmArena({ initialBytes: 1 << 16 }).memory, firstInstanceOnlyModule());
    const e = thrown(() => p.run("wide", new Array(17).fill(0), 4));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.kernelPool.run: wide takes 17 arguments before (start, end); the pool passes at most 16");
    p.run("noop", [], 4);
  });

  it("throws closed after close(), which is idempotent", async () => {
    const p = pool(3);
    expectAddWorks(p);
    const closing = p.close();
    expect(p.close()).toBe(closing);
    const e = thrown(() => p.run("add", [0, 0, 0], 8));
    expect(e.code).toBe("closed");
    expect(e.message).toBe("cpu.kernelPool.run: the kernel pool is closed; cannot run add");
    await closing;
    expect(thrown(() => p.run("add", [0, 0, 0], 8)).code).toBe("closed");
    const single = pool(1);
    await single.close();
    expect(thrown(() => single.run("add", [0, 0, 0], 8)).code).toBe("closed");
  });

  it("does not wait on a worker terminated from outside, even before its exit event", async () => {
    const p = pool(3);
    expectAddWorks(p);
    const worker = workersOf(p)[1];
    const exited = new Promise((resolve) => worker.once("exit", resolve));
    const terminating = worker.terminate();
    // Synchronously, before the exit event: a run() that waited for worker 2 would hang here.
    let e = thrown(() => p.run("add", [0, 0, 0], 8));
    expect(e.code).toBe("internal");
    expect(e.message).toBe("cpu.kernelPool.run: cannot run add: kernel worker 2 was terminated");
    await Promise.all([terminating, exited]);
    e = thrown(() => p.run("add", [0, 0, 0], 8));
    expect(e.message).toBe("cpu.kernelPool.run: cannot run add: kernel worker 2 was terminated");
    await p.close();
  });

  it("marks itself broken when a worker exits by other means", async () => {
    const p = pool(2);
    const worker = workersOf(p)[0];
    const exited = new Promise((resolve) => worker.once("exit", resolve));
    // The Worker's own terminate, not the pool's wrapper: the pool learns of it only from the exit event.
    const { Worker: WorkerClass } = await import("node:worker_threads");
    await WorkerClass.prototype.terminate.call(worker);
    await exited;
    const e = thrown(() => p.run("add", [0, 0, 0], 8));
    expect(e.code).toBe("internal");
    expect(e.message).toMatch(/^cpu\.kernelPool\.run: cannot run add: kernel worker 1 exited \(code \d+\)$/);
    await p.close();
  });
});
