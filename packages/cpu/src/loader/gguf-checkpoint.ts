/**
 * Loads a GGUF file (llama.cpp's format) as a checkpoint of the cpu backend: the same `LoadedCheckpoint` that
 * `loadModelDir` gives for a Hugging Face directory, plus the tokenizer rebuilt from the file's metadata. Tensors keep
 * their stored type (F32, F16, BF16, Q8_0, Q4_0; others are `unsupported`), get their Hugging Face names back, and the
 * llama q/k row permutation the converter applies is undone. gemma3 norms are kept as GGUF stores them, (1 + w)
 * already added, and the config says `normPlusOne: false` so the engine does not add 1 again: the stored value is
 * exactly the float32 (1 + w) that Hugging Face computes, whereas subtracting 1 would round. Everything is checked
 * before tensor data is read; data is read in bounded chunks into one buffer per tensor (or `alloc`'s).
 * Not the GGUF parser (@dappcore/inference-gguf), not the engine, and not the tokenizer (text/).
 */
import { open, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { InferenceError } from "@dappcore/inference";
import { readGGUF, type GGUFFile, type GGUFTensorInfo } from "@dappcore/inference-gguf";
import type { DType, ModelConfig, Tensor } from "../model-config.js";
import { readModelConfig, roundToDtype } from "./config.js";
import { expectedTensors } from "./expected-tensors.js";
import { GREEDY_DEFAULTS, type GenerationDefaults } from "./generation-config.js";
import { ggufArchitectureOf, ggufRawConfig, hfTensorName } from "./gguf-config.js";
import { GGUF_LOAD_OP as OP, GGUFMetadata, ggufInvalid } from "./gguf-metadata.js";
import { ggufTokenizer, type GGUFTokenizerFiles } from "./gguf-tokenizer.js";
import type { LoadedCheckpoint } from "./model-dir.js";
import { MapWeightStore } from "./weight-store.js";

export type { GGUFTokenizerFiles } from "./gguf-tokenizer.js";

/** The ggml tensor types the cpu backend loads. */
export const GGUF_LOADABLE_TYPES: readonly DType[] = ["F32", "F16", "BF16", "Q8_0", "Q4_0"];

/** Loading progress, reported after every chunk read. */
export interface GGUFLoadProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
  /** The GGUF file's name. */
  readonly file: string;
}

/** Options of `loadGGUFCheckpoint`. */
export interface LoadGGUFCheckpointOptions {
  /**
   * Called after each chunk of weights is read. Default: none.
   * @example loadGGUFCheckpoint(path, { onProgress: (p) => console.log(p.loadedBytes / p.totalBytes) })
   */
  onProgress?(p: GGUFLoadProgress): void;
  /**
   * Aborts loading between chunks with an `aborted` error. Default: none.
   * @example loadGGUFCheckpoint(path, { signal: AbortSignal.timeout(60_000) })
   */
  signal?: AbortSignal;
  /**
   * Provides the buffer of each tensor (e.g. inside WebAssembly memory); it must return exactly `byteLength` bytes
   * aligned to 4 for F32 and to 2 for the other types. Default: a fresh ArrayBuffer per tensor.
   * @example loadGGUFCheckpoint(path, { alloc: (n) => arena.take(n) })
   */
  alloc?: (byteLength: number) => Uint8Array;
  /**
   * Bytes per read. Default 64 MiB.
   * @example loadGGUFCheckpoint(path, { chunkBytes: 8 * 1024 * 1024 })
   */
  chunkBytes?: number;
}

/** A loaded GGUF file: the checkpoint and its tokenizer files. */
export interface LoadedGGUFCheckpoint {
  /** `dir` is the file's folder and `files` its name; `rawConfig` is the config.json the metadata amounts to. */
  readonly checkpoint: LoadedCheckpoint;
  /** For `createTokenizer(tokenizer.json, tokenizer.config, { chatTemplate: tokenizer.chatTemplate })`. */
  readonly tokenizer: GGUFTokenizerFiles;
}

const DEFAULT_CHUNK_BYTES = 64 * 1024 * 1024;

interface Planned {
  readonly name: string;
  readonly info: GGUFTensorInfo;
  /** Heads of the llama rope permutation to undo, when it applies. */
  readonly permuteHeads: number | undefined;
}

/**
 * Loads the GGUF file at `path`. Throws `InferenceError`: `model_load_failed` when it cannot be read,
 * `invalid_model` for a malformed file, metadata or tensor (naming the file and the tensor), `unsupported` for
 * architectures, tensor types, tokenizers and rope scalings the cpu backend does not run, `aborted` when `signal` fires.
 *
 * @example
 * const { checkpoint, tokenizer } = await loadGGUFCheckpoint("smollm2-q8_0.gguf");
 * const tok = createTokenizer(tokenizer.json, tokenizer.config, { chatTemplate: tokenizer.chatTemplate });
 */
export async function loadGGUFCheckpoint(path: string, opts: LoadGGUFCheckpointOptions = {}): Promise<LoadedGGUFCheckpoint> {
  checkAborted(opts.signal);
  const chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0) {
    throw new InferenceError({ code: "invalid_argument", op: OP, message: `chunkBytes must be a positive integer, got ${chunkBytes}` });
  }
  try {
    const info = await stat(path);
    if (!info.isFile()) throw ggufInvalid(path, "is not a file");
  } catch (cause) {
    if (cause instanceof InferenceError) throw cause;
    throw new InferenceError({ code: "model_load_failed", op: OP, message: `GGUF file "${path}" cannot be read`, cause, details: { path } });
  }
  const file: GGUFFile = await readGGUF(path);
  const meta = new GGUFMetadata(file, path);
  const { architecture } = ggufArchitectureOf(meta);
  const warnings: string[] = [];
  const byName = new Map(file.tensors.map((t) => [t.name, t]));

  const handle = await openFile(path);
  try {
    const ropeFreqsInfo = byName.get("rope_freqs.weight");
    let ropeFreqs: Float32Array | undefined;
    if (ropeFreqsInfo !== undefined) {
      if (ropeFreqsInfo.type !== "F32" || ropeFreqsInfo.shape.length !== 1) {
        throw ggufInvalid(path, `tensor "rope_freqs.weight" must be a 1-D F32 tensor, got ${ropeFreqsInfo.type} [${ropeFreqsInfo.shape.join(", ")}]`, {
          tensor: "rope_freqs.weight",
        });
      }
      const bytes = await readInto(handle, path, ropeFreqsInfo, new Uint8Array(ropeFreqsInfo.byteLength), chunkBytes, opts.signal);
      ropeFreqs = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    }

    const rawConfig = ggufRawConfig(meta, byName, ropeFreqs);
    let config: ModelConfig = readModelConfig(rawConfig, `${path} (GGUF metadata)`, warnings);
    const tokenizer = ggufTokenizer(meta, config.vocabSize, warnings);

    const bos = meta.uint("tokenizer.ggml.bos_token_id");
    const eosIds: number[] = [];
    for (const key of ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]) {
      const v = meta.uint(key);
      if (v !== undefined && v < config.vocabSize && !eosIds.includes(v)) eosIds.push(v);
    }
    const generation: GenerationDefaults = { ...GREEDY_DEFAULTS, bosTokenId: bos, eosTokenIds: eosIds, padTokenId: meta.uint("tokenizer.ggml.padding_token_id") };
    config = { ...config, bosTokenId: bos, eosTokenIds: eosIds };

    const plan = planTensors(path, config, file, warnings);
    const totalBytes = plan.reduce((s, p) => s + p.info.byteLength, 0);
    const weights = new MapWeightStore();
    const fileName = basename(path);
    let loadedBytes = 0;
    opts.onProgress?.({ loadedBytes, totalBytes, file: fileName });
    for (const p of plan) {
      checkAborted(opts.signal);
      const dtype = p.info.type as DType;
      const dest = allocate(p.info.byteLength, dtype === "F32" ? 4 : 2, opts.alloc, path, p.name);
      await readInto(handle, path, p.info, dest, chunkBytes, opts.signal, (n) => {
        loadedBytes += n;
        opts.onProgress?.({ loadedBytes, totalBytes, file: fileName });
      });
      if (p.permuteHeads !== undefined) unpermuteRows(dest, p.info.shape[0], p.permuteHeads, path, p.name);
      const tensor: Tensor = { name: p.name, dtype, shape: [...p.info.shape], data: dest };
      weights.add(tensor);
    }

    if (architecture === "gemma3_text") {
      const embed = weights.get("model.embed_tokens.weight");
      const float = embed.dtype === "F16" || embed.dtype === "BF16" ? embed.dtype : "F32";
      config = { ...config, normPlusOne: false, embeddingScale: roundToDtype(Math.sqrt(config.hiddenSize), float) };
    }
    const checkpoint: LoadedCheckpoint = { dir: dirname(path), config, rawConfig, generation, weights, files: [fileName], warnings };
    return { checkpoint, tokenizer };
  } catch (err) {
    if (err instanceof InferenceError && err.code === "aborted" && err.op !== OP) {
      throw new InferenceError({ code: "aborted", op: OP, message: `loading "${path}" was aborted`, cause: opts.signal?.reason });
    }
    throw err;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new InferenceError({ code: "aborted", op: OP, message: "loading was aborted", cause: signal.reason });
}

async function openFile(path: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (cause) {
    throw new InferenceError({ code: "model_load_failed", op: OP, message: `GGUF file "${path}" cannot be opened`, cause, details: { path } });
  }
}

/** Maps the file's tensors to the ones `config` needs and checks shapes and types; returns them in file order. */
function planTensors(path: string, config: ModelConfig, file: GGUFFile, warnings: string[]): Planned[] {
  const available = new Map<string, GGUFTensorInfo>();
  const unused: string[] = [];
  for (const t of file.tensors) {
    if (t.name === "rope_freqs.weight") continue;
    const hf = hfTensorName(t.name, config.architecture);
    if (hf === undefined) unused.push(t.name);
    else available.set(hf, t);
  }
  const expected = expectedTensors(config);
  const ggufNameOf = (hf: string) => ggufName(hf, config.architecture);
  const missing = expected.filter((e) => !available.has(e.name)).map((e) => e.name);
  if (missing.length > 0) {
    const shown = missing.slice(0, 8).map((n) => `${ggufNameOf(n)} (${n})`).join(", ");
    throw ggufInvalid(path, `missing ${missing.length} tensor(s) that ${config.architecture} needs: ${shown}${missing.length > 8 ? ", ..." : ""}`, {
      tensor: ggufNameOf(missing[0]),
      missing: missing.map(ggufNameOf),
    });
  }
  const plan: Planned[] = [];
  for (const e of expected) {
    const info = available.get(e.name)!;
    if (info.shape.length !== e.shape.length || info.shape.some((d, i) => d !== e.shape[i])) {
      throw ggufInvalid(path, `tensor "${info.name}" (${e.name}) has shape [${info.shape.join(", ")}], the metadata needs [${e.shape.join(", ")}]`, {
        tensor: info.name,
        shape: info.shape,
        expected: e.shape,
      });
    }
    if (!(GGUF_LOADABLE_TYPES as readonly string[]).includes(info.type)) {
      throw new InferenceError({
        code: "unsupported",
        op: OP,
        message: `${path}: tensor "${info.name}" has ggml type ${info.type}, which the cpu backend does not load (supported: ${GGUF_LOADABLE_TYPES.join(", ")})`,
        details: { path, tensor: info.name, type: info.type },
      });
    }
    plan.push({ name: e.name, info, permuteHeads: permuteHeadsOf(e.name, config) });
  }
  const needed = new Set(expected.map((e) => e.name));
  for (const [hf, info] of available) if (!needed.has(hf)) unused.push(info.name);
  if (unused.length > 0) {
    warnings.push(`${path}: ignored ${unused.length} tensor(s) the architecture does not use: ${unused.slice(0, 5).join(", ")}${unused.length > 5 ? ", ..." : ""}`);
  }
  return plan.sort((a, b) => a.info.offset - b.info.offset);
}

/** The GGUF name of a Hugging Face tensor name (for messages). */
function ggufName(hf: string, architecture: ModelConfig["architecture"]): string {
  if (hf === "model.embed_tokens.weight") return "token_embd.weight";
  if (hf === "model.norm.weight") return "output_norm.weight";
  if (hf === "lm_head.weight") return "output.weight";
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (m === null) return hf;
  // Search the inverse map by trying each GGUF suffix.
  for (const suffix of GGUF_LAYER_SUFFIXES) {
    if (hfTensorName(`blk.${m[1]}.${suffix}`, architecture) === hf) return `blk.${m[1]}.${suffix}`;
  }
  return hf;
}

const GGUF_LAYER_SUFFIXES = [
  "attn_norm.weight", "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_output.weight", "attn_q.bias", "attn_k.bias",
  "attn_v.bias", "attn_output.bias", "attn_q_norm.weight", "attn_k_norm.weight", "ffn_norm.weight", "post_attention_norm.weight",
  "post_ffw_norm.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_down.weight", "ffn_gate.bias", "ffn_up.bias", "ffn_down.bias",
];

/** llama.cpp's converter permutes the q/k rows of llama-architecture files; the head count to undo it with. */
function permuteHeadsOf(name: string, config: ModelConfig): number | undefined {
  if (config.architecture !== "llama" && config.architecture !== "mistral") return undefined;
  if (/\.self_attn\.q_proj\.(weight|bias)$/.test(name)) return config.numHeads;
  if (/\.self_attn\.k_proj\.(weight|bias)$/.test(name)) return config.numKVHeads;
  return undefined;
}

/**
 * Undoes the converter's rope permutation: within each head of `rows / heads` rows, GGUF row 2i + j holds Hugging Face
 * row j * half + i. Works on whole rows of bytes, so any storage type (including Q8_0/Q4_0 blocks) is moved intact.
 */
function unpermuteRows(rowsData: Uint8Array, rows: number, heads: number, path: string, name: string): void {
  const headRows = rows / heads;
  if (!Number.isInteger(headRows) || headRows % 2 !== 0) {
    throw ggufInvalid(path, `tensor "${name}" has ${rows} rows, which do not split into ${heads} heads of even size`, { tensor: name });
  }
  // In place, one head at a time through a copy of that head's rows: no second copy of the tensor.
  const rowBytes = rowsData.byteLength / rows;
  const half = headRows / 2;
  const head = new Uint8Array(headRows * rowBytes);
  for (let h = 0; h < heads; h++) {
    const base = h * headRows * rowBytes;
    head.set(rowsData.subarray(base, base + head.byteLength));
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (2 * i + j) * rowBytes;
        const to = base + (j * half + i) * rowBytes;
        rowsData.set(head.subarray(from, from + rowBytes), to);
      }
    }
  }
}

async function readInto(
  handle: FileHandle,
  path: string,
  info: GGUFTensorInfo,
  out: Uint8Array,
  chunkBytes: number,
  signal: AbortSignal | undefined,
  onBytes?: (n: number) => void,
): Promise<Uint8Array> {
  let done = 0;
  while (done < out.byteLength) {
    checkAborted(signal);
    const want = Math.min(chunkBytes, out.byteLength - done);
    const { bytesRead } = await handle.read(out, done, want, info.fileOffset + done);
    if (bytesRead === 0) {
      throw ggufInvalid(path, `file ended while reading tensor "${info.name}" (it changed after it was opened)`, { tensor: info.name });
    }
    done += bytesRead;
    onBytes?.(bytesRead);
  }
  return out;
}

function allocate(
  length: number,
  align: number,
  alloc: ((byteLength: number) => Uint8Array) | undefined,
  path: string,
  name: string,
): Uint8Array {
  if (alloc === undefined) {
    try {
      return new Uint8Array(new ArrayBuffer(length));
    } catch (cause) {
      throw new InferenceError({
        code: "out_of_memory",
        op: OP,
        message: `cannot allocate ${length} bytes for tensor "${name}" of ${basename(path)}`,
        cause,
        details: { path, tensor: name, bytes: length },
      });
    }
  }
  const data = alloc(length);
  if (!(data instanceof Uint8Array) || data.byteLength !== length || data.byteOffset % align !== 0) {
    throw new InferenceError({
      code: "invalid_argument",
      op: OP,
      message: `alloc must return a Uint8Array of exactly ${length} bytes aligned to ${align} for tensor "${name}"`,
      details: { tensor: name },
    });
  }
  return data;
}
