// The WasmArena (growth, views, mark/release, the out_of_memory error naming the 4 GiB limit) and the kernel
// loader (sync and async, the shared-memory requirement, a missing or corrupt .wasm).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { WASM_MAX_BYTES, WasmArena } from "../../src/engine/kernels/wasm/wasm-arena.js";
import {
  compileKernelModule,
  compileKernelModuleSync,
  kernelsWasmPath,
  loadKernels,
  loadKernelsSync,
} from "../../src/engine/kernels/wasm/load-kernels.js";
import { ensureBuilt, getF32, put, thrown } from "./helpers.js";

beforeAll(async () => {
  await ensureBuilt();
});

describe("WasmArena", () => {
  it("aligns allocations, grows the shared memory on demand, and views see the grown memory", () => {
    const arena = new WasmArena({ initialBytes: 65536 });
    expect(arena.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(arena.capacity).toBe(65536);
    const a = arena.alloc(10);
    expect(a % 64).toBe(0);
    expect(a).toBeGreaterThan(0);
    const b = arena.alloc(3, 1);
    expect(b).toBe(a + 10);
    const c = arena.alloc(4, 16);
    expect(c % 16).toBe(0);
    const old = arena.f32(c, 1);
    old[0] = 1.5;
    const big = arena.alloc(300_000);
    expect(arena.capacity).toBeGreaterThanOrEqual(big + 300_000);
    expect(arena.capacity % 65536).toBe(0);
    // The old view still works (shared memory is never detached) and sees the same bytes.
    expect(old[0]).toBe(1.5);
    expect(arena.f32(c, 1)[0]).toBe(1.5);
    const view = arena.u8(big, 300_000);
    expect(view.every((v) => v === 0)).toBe(true);
    view[299_999] = 7;
    expect(arena.u8(big + 299_999, 1)[0]).toBe(7);
    expect(arena.used).toBe(big + 300_000);
  });

  it("mark and release reuse scratch space", () => {
    const arena = new WasmArena({ initialBytes: 65536 });
    arena.alloc(100);
    const m = arena.mark();
    const s1 = arena.alloc(1000);
    arena.release(m);
    expect(arena.alloc(1000)).toBe(s1);
    const e = thrown(() => arena.release(arena.used + 64));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe(`cpu.wasmArena.release: mark ${arena.used + 64} is not an allocation point of this arena (in use: ${arena.used})`);
  });

  it("fails with out_of_memory naming the 4 GiB WebAssembly limit when a request cannot fit", () => {
    const arena = new WasmArena({ initialBytes: 65536 });
    const used = arena.used;
    const e = thrown(() => arena.alloc(5 * 2 ** 30));
    expect(e.code).toBe("out_of_memory");
    expect(e.message).toBe(
      `cpu.wasmArena.alloc: cannot allocate 5.00 GiB (5368709120 bytes): ${used} bytes already in use and ` +
        "WebAssembly memory is limited to 4 GiB (a 32-bit address space); this arena may hold 4.00 GiB",
    );
    expect(e.details).toMatchObject({ requested: 5 * 2 ** 30, limit: WASM_MAX_BYTES });
    // Nothing was reserved by the failed request.
    expect(arena.used).toBe(used);
  });

  it("fails with out_of_memory at a lower maximum, after growing up to it", () => {
    const arena = new WasmArena({ initialBytes: 65536, maximumBytes: 4 * 65536 });
    arena.alloc(3 * 65536);
    expect(arena.capacity).toBe(4 * 65536);
    const e = thrown(() => arena.alloc(65536));
    expect(e.code).toBe("out_of_memory");
    expect(e.message).toBe(
      "cpu.wasmArena.alloc: cannot allocate 64.0 KiB (65536 bytes): 192.1 KiB already in use and WebAssembly memory is " +
        "limited to 4 GiB (a 32-bit address space); this arena may hold 256.0 KiB (this arena's maximum, below the 4 GiB WebAssembly limit)",
    );
  });

  it("rejects bad sizes, alignments, options and views", () => {
    const arena = new WasmArena({ initialBytes: 65536 });
    let e = thrown(() => arena.alloc(-1));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.wasmArena.alloc: size must be a non-negative integer number of bytes, got -1");
    e = thrown(() => arena.alloc(8, 24));
    expect(e.message).toBe("cpu.wasmArena.alloc: alignment must be a power of two from 1 to 65536, got 24");
    e = thrown(() => new WasmArena({ maximumBytes: 2 ** 33 }));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe(
      "cpu.wasmArena: maximumBytes must be an integer from 65536 to 4294967296 (the 4 GiB WebAssembly memory limit), got 8589934592",
    );
    e = thrown(() => new WasmArena({ initialBytes: 2 ** 20, maximumBytes: 2 ** 19 }));
    expect(e.message).toBe("cpu.wasmArena: initialBytes 1048576 exceeds maximumBytes 524288");
    e = thrown(() => new WasmArena({ initialBytes: -5 }));
    expect(e.message).toBe("cpu.wasmArena: initialBytes must be a non-negative integer, got -5");
    e = thrown(() => arena.f32(2, 1));
    expect(e.message).toBe("cpu.wasmArena.f32: byte offset must be a non-negative multiple of 4, got 2");
    e = thrown(() => arena.u16(65534, 2));
    expect(e.message).toBe("cpu.wasmArena.u16: view of 4 bytes at offset 65534 lies outside the memory (65536 bytes)");
    e = thrown(() => arena.i32(0, -1));
    expect(e.message).toBe("cpu.wasmArena.i32: length must be a non-negative integer, got -1");
  });
});

describe("loadKernels", () => {
  it("loads synchronously and asynchronously; two instances on one memory see the same buffers", async () => {
    const arena = new WasmArena({ initialBytes: 65536 });
    const a = loadKernelsSync(arena.memory);
    const b = await loadKernels(arena.memory, await compileKernelModule());
    const x = put(arena, Float32Array.of(1, 2, 3, 4, 5));
    const y = put(arena, Float32Array.of(10, 20, 30, 40, 50));
    const out = arena.alloc(20);
    a.add(out, x, y, 5, 0, 2);
    b.add(out, x, y, 5, 2, 5);
    expect(Array.from(getF32(arena, out, 5))).toEqual([11, 22, 33, 44, 55]);
    // Memory grown after instantiation is visible to the kernels.
    const far = arena.alloc(2 * 2 ** 20);
    arena.f32(far, 2).set([1, 2]);
    a.add(far, far, far, 2);
    expect(Array.from(getF32(arena, far, 2))).toEqual([2, 4]);
    expect(compileKernelModuleSync()).toBe(await compileKernelModule());
    expect(kernelsWasmPath().endsWith(join("cpu", "wasm-dist", "kernels.wasm"))).toBe(true);
  });

  it("rejects a memory that is not shared", async () => {
    const plain = new WebAssembly.Memory({ initial: 1, maximum: 10 });
    const e = thrown(() => loadKernelsSync(plain));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe("cpu.loadKernels: the kernels need a shared WebAssembly.Memory (use new WasmArena().memory)");
    await expect(loadKernels(plain)).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("reports a missing .wasm with the build command, and a corrupt one as unsupported", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kernels-wasm-"));
    const missing = join(dir, "missing.wasm");
    let e = thrown(() => compileKernelModuleSync(missing));
    expect(e.code).toBe("internal");
    expect(e.message).toBe(`cpu.loadKernels: cannot read the WebAssembly kernels at ${missing}: ENOENT: no such file or directory, open '${missing}'`);
    expect(e.remedy).toContain("build-wasm.mjs");
    await expect(compileKernelModule(missing)).rejects.toMatchObject({ code: "internal" });
    const corrupt = join(dir, "corrupt.wasm");
    writeFileSync(corrupt, Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 99));
    e = thrown(() => compileKernelModuleSync(corrupt));
    expect(e.code).toBe("unsupported");
    expect(e.message.startsWith(
      `cpu.loadKernels: cannot compile the WebAssembly kernels at ${corrupt}: this runtime needs WebAssembly SIMD and threads (Node 20 has both): `,
    )).toBe(true);
    await expect(compileKernelModule(corrupt)).rejects.toMatchObject({ code: "unsupported" });
  });
});
