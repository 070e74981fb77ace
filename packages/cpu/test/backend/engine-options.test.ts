// The cpu backend's own load options — kernels, threads, quantization — their defaults and typed errors, what
// info() and the capability lists report, and the 4 GiB WebAssembly limit failing at load with out_of_memory.
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  withContextLen,
  withMaxTokens,
  withParallelSlots,
  withTemperature,
  type InferenceError,
  type LoadOption,
  type TextModel,
} from "@dappcore/inference";
import { CpuBackend } from "../../src/backend.js";
import { makeRandomCheckpoint } from "../../src/checkpoint/random-checkpoint.js";
import { convertCheckpointToGGUF } from "../../src/convert-to-gguf.js";
import { withKernels, withKVCacheType, withQuantization, withThreads } from "../../src/engine/engine-options.js";

const root = mkdtempSync(join(tmpdir(), "cpu-engine-options-"));
const dir = join(root, "llama");
const longDir = join(root, "long");
const ggufPath = join(root, "llama-q8_0.gguf");
const backend = new CpuBackend();
beforeAll(async () => {
  await makeRandomCheckpoint(dir, { architecture: "llama", seed: 2, dtype: "BF16" });
  // 2 layers · 2 KV heads · head dim 16: 512 bytes of KV cache per position, so 2^23 positions need 4 GiB.
  await makeRandomCheckpoint(longDir, { architecture: "llama", seed: 2, maxPositionEmbeddings: 2 ** 24 });
  await convertCheckpointToGGUF(dir, ggufPath, { type: "q8_0" });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function load(path: string, ...opts: LoadOption[]): Promise<TextModel> {
  const r = await backend.loadModel(path, ...opts);
  if (!r.ok) throw r.error;
  return r.value;
}

async function loadError(path: string, ...opts: LoadOption[]): Promise<InferenceError> {
  const r = await backend.loadModel(path, ...opts);
  if (r.ok) {
    await r.value.close();
    throw new Error("expected the load to fail");
  }
  return r.error;
}

async function greedy(model: TextModel): Promise<number[]> {
  const ids: number[] = [];
  for await (const t of model.generate("abc", { maxTokens: 6 })) ids.push(t.id);
  return ids;
}

describe("load options", () => {
  it("defaults: WebAssembly kernels on every core, unquantised", async () => {
    const model = await load(dir);
    expect(model.info().quantBits).toBe(0);
    expect(model.info().quantGroup).toBe(0);
    expect(model.capabilities?.().some((c) => c.id === "quantization")).toBe(false);
    await model.close();
    const caps = backend.capabilities();
    const q = caps.find((c) => c.id === "quantization");
    expect(q?.status).toBe("supported");
    expect(q?.detail).toContain("Q8_0/Q4_0");
    expect(availableParallelism()).toBeGreaterThanOrEqual(1);
  });

  it("withQuantization reports 8/32 and 4/32 in info() and the model's capabilities", async () => {
    for (const [q, bits, detail] of [["q8_0", 8, "Q8_0: 8-bit"], ["q4_0", 4, "Q4_0: 4-bit"]] as const) {
      const model = await load(dir, withQuantization(q), withThreads(2));
      expect(model.info()).toMatchObject({ quantBits: bits, quantGroup: 32 });
      const cap = model.capabilities?.().find((c) => c.id === "quantization");
      expect(cap?.status).toBe("supported");
      expect(cap?.detail).toContain(detail);
      expect(cap?.detail).toContain("wasm kernels, 2 thread(s)");
      await model.close();
    }
  });

  it("the same greedy tokens with wasm and reference kernels, 1 or 2 threads, and as object keys", async () => {
    const runs: number[][] = [];
    for (const opts of [[withKernels("reference")], [withThreads(1)], [withThreads(2)], [{ kernels: "wasm", threads: 2 }]] as LoadOption[][]) {
      const model = await load(dir, ...opts);
      runs.push(await greedy(model));
      await model.close();
    }
    for (const r of runs) expect(r).toEqual(runs[0]);
    const q8 = [await load(dir, withQuantization("q8_0"), withKernels("reference")), await load(dir, { quantization: "q8_0" })];
    expect(await greedy(q8[0])).toEqual(await greedy(q8[1]));
    for (const m of q8) await m.close();
  });

  it("threads must be an integer >= 1: invalid_argument naming it", async () => {
    for (const threads of [0, -1, 1.5, "2", Number.NaN]) {
      const e = await loadError(dir, { threads });
      expect(e.code).toBe("invalid_argument");
      expect(e.message).toBe(`cpu.withThreads: threads must be an integer >= 1 (at most 256), got ${String(threads)}`);
    }
  });

  it("quantization must be q8_0 or q4_0, kernels wasm or reference: invalid_argument naming them", async () => {
    let e = await loadError(dir, { quantization: "q5_0" });
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe('cpu.withQuantization: quantization must be one of "q8_0", "q4_0", got "q5_0"');
    e = await loadError(dir, withQuantization("Q8_0" as "q8_0"));
    expect(e.code).toBe("invalid_argument");
    e = await loadError(dir, { kernels: "gpu" });
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe('cpu.withKernels: kernels must be "wasm" or "reference", got "gpu"');
    e = await loadError(dir, withKVCacheType("bf16" as "f16"));
    expect(e.code).toBe("invalid_argument");
    expect(e.message).toBe('cpu.withKVCacheType: kvCacheType must be one of "f32", "f16", got "bf16"');
  });
});

describe("withKVCacheType", () => {
  it('"f16" halves the KV cache the 4 GiB check counts, and generates', async () => {
    // 2^24 positions: 8 GiB as float32 (the test above), 4 GiB as halves.
    const e = await loadError(longDir, withContextLen(2 ** 24), withKVCacheType("f16"));
    expect(e.code).toBe("out_of_memory");
    expect(e.message).toContain("KV cache 4.00 GiB (1 × 16777216 positions)");
    const model = await load(dir, withKVCacheType("f16"), withThreads(2));
    const ids: number[] = [];
    for await (const t of model.generate("Hello", withMaxTokens(6), withTemperature(0))) ids.push(t.id);
    expect(ids.length).toBe(6);
    await model.close();
  });
});

describe("the 4 GiB WebAssembly memory limit", () => {
  it("a KV cache past 4 GiB fails at load with out_of_memory naming the limit and the sizes, without allocating it", async () => {
    const contextLen = 2 ** 24; // 8 GiB of KV cache
    const e = await loadError(longDir, withContextLen(contextLen));
    expect(e.code).toBe("out_of_memory");
    expect(e.message).toMatch(/^cpu\.loadModel: the model needs \d+\.\d\d GiB of WebAssembly memory — weights \d+\.\d KiB, KV cache 8\.00 GiB \(1 × 16777216 positions\), activations and tables \d+\.\d\d GiB — but WebAssembly memory is limited to 4 GiB/);
    expect(e.details).toMatchObject({ kvCache: 8 * 2 ** 30, limit: 4 * 2 ** 30, contextLen });
  });

  it("parallel slots count: 2 caches of 2^22 positions (2 × 2 GiB) do not fit", async () => {
    const e = await loadError(longDir, withContextLen(2 ** 22), withParallelSlots(2));
    expect(e.code).toBe("out_of_memory");
    expect(e.message).toContain("KV cache 4.00 GiB (2 × 4194304 positions)");
  });

  it("the reference kernels have no such limit to check", async () => {
    const model = await load(longDir, withContextLen(4096), withKernels("reference"));
    expect(model.info().contextLength).toBe(4096);
    await model.close();
  });
});

describe("Q8_0 GGUF files", () => {
  it("run directly: info() says 8/32, and greedy tokens equal the directory quantised at load time", async () => {
    const fromGGUF = await load(ggufPath, withThreads(2));
    expect(fromGGUF.info()).toMatchObject({ quantBits: 8, quantGroup: 32 });
    expect(fromGGUF.capabilities?.().find((c) => c.id === "quantization")?.detail).toContain("Q8_0");
    const fromDir = await load(dir, withQuantization("q8_0"));
    const reference = await load(ggufPath, withKernels("reference"));
    const tokens = await greedy(fromGGUF);
    expect(tokens.length).toBeGreaterThan(0);
    expect(await greedy(fromDir)).toEqual(tokens);
    expect(await greedy(reference)).toEqual(tokens);
    for (const m of [fromGGUF, fromDir, reference]) await m.close();
  });

  it("a quantization option with a GGUF file: unsupported naming the file", async () => {
    const e = await loadError(ggufPath, withQuantization("q4_0"));
    expect(e.code).toBe("unsupported");
    expect(e.message).toBe(
      `cpu.withQuantization: quantization applies to Hugging Face directories; the GGUF file "${ggufPath}" runs in the types it stores (Q8_0/Q4_0 included)`,
    );
  });
});
