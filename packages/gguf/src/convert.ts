/**
 * Converts a Hugging Face checkpoint of a supported architecture (llama, mistral, qwen2, qwen3, gemma3_text) into a
 * GGUF file that llama.cpp loads, the way convert_hf_to_gguf.py does: same metadata keys, tensor names, q/k
 * permutation, norm shift, tokenizer metadata, and the same rule for which tensors stay F32 (1-D tensors, norms,
 * biases) and which are stored in the requested type (F32, F16, BF16, or Q8_0 / Q4_0 with F16 for rows that are not
 * a whole number of 32-weight blocks; Q4_0 as llama-quantize makes it, but with a Q8_0 output head: outputTensorType). The checkpoint is abstract (`CheckpointSource`), so this package reads no safetensors;
 * tensors are read and written one at a time. Not a loader for inference.
 */
import { rename, rm } from "node:fs/promises";
import { InferenceError } from "@dappcore/inference";
import {
  architectureMetadata,
  detectArchitecture,
  ggufArchitecture,
  ggufTensorName,
  llama3RopeFreqs,
  normShift,
  permuteHeads,
  readHParams,
  ropePermutation,
} from "./convert-architecture.js";
import { tokenizerMetadata } from "./convert-tokenizer.js";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "./float16.js";
import { GGML_QUANT_VERSION, LlamaFileType, type GGMLTypeName } from "./gguf-types.js";
import { GGUFWriter, type GGUFTensorPlan } from "./gguf-writer.js";
import { quantizeQ4_0, quantizeQ8_0 } from "./quants.js";

const OP = "gguf.convert";

/** A checkpoint tensor as the source gives it: little-endian bytes of a row-major array. */
export interface SourceTensor {
  readonly dtype: "F32" | "F16" | "BF16";
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** A Hugging Face checkpoint, abstracted from where its files live. */
export interface CheckpointSource {
  /** The parsed config.json. */
  readonly config: Record<string, unknown>;
  /** The parsed generation_config.json, when present (informational). */
  readonly generationConfig?: Record<string, unknown>;
  /** The parsed tokenizer.json. */
  readonly tokenizer: Record<string, unknown>;
  /** The parsed tokenizer_config.json, when present. */
  readonly tokenizerConfig?: Record<string, unknown>;
  /** A chat template that overrides tokenizer_config.json's (chat_template.jinja). */
  readonly chatTemplate?: string;
  /** Every tensor name of the checkpoint. */
  readonly tensorNames: readonly string[];
  /** Dtype and shape without the data; when absent the converter reads each tensor once more to learn them. */
  tensorInfo?(name: string): Promise<{ dtype: SourceTensor["dtype"]; shape: readonly number[] }>;
  readTensor(name: string): Promise<SourceTensor>;
}

/** Weight types the converter writes. */
export type ConvertType = "f32" | "f16" | "bf16" | "q8_0" | "q4_0";

export interface ConvertProgress {
  /** GGUF name of the tensor just written. */
  readonly tensor: string;
  /** Tensors written so far, and in all. */
  readonly done: number;
  readonly total: number;
}

export interface ConvertOptions {
  /**
   * Storage type of the 2-D weights; norms, biases and other 1-D tensors are always F32. Default "f32".
   * Example: `{ type: "q8_0" }`.
   */
  readonly type?: ConvertType;
  /** `general.name`. Default: the last path part of config.json `_name_or_path`, else the architecture. */
  readonly name?: string;
  /** Called after each tensor is written. Default none. Example: `{ onProgress: (p) => log(p.done, p.total) }`. */
  readonly onProgress?: (progress: ConvertProgress) => void;
}

/** What was written. */
export interface ConvertResult {
  readonly path: string;
  readonly architecture: string;
  readonly tensors: readonly { readonly name: string; readonly type: GGMLTypeName; readonly shape: readonly number[] }[];
}

const fileTypes: Record<ConvertType, number> = {
  f32: LlamaFileType.ALL_F32,
  f16: LlamaFileType.MOSTLY_F16,
  bf16: LlamaFileType.MOSTLY_BF16,
  q8_0: LlamaFileType.MOSTLY_Q8_0,
  q4_0: LlamaFileType.MOSTLY_Q4_0,
};

const weightTypes: Record<ConvertType, GGMLTypeName> = { f32: "F32", f16: "F16", bf16: "BF16", q8_0: "Q8_0", q4_0: "Q4_0" };

/**
 * The stored type of a tensor, by convert_hf_to_gguf.py's rules, and for q4_0 by llama-quantize's: 1-D tensors and
 * norms F32; under q8_0/q4_0 a matrix whose rows are not whole 32-weight blocks F16; under q4_0 the output head
 * (`output.weight`, or `token_embd.weight` when the embeddings are tied: `outputHead`) Q8_0 where llama-quantize
 * writes Q6_K, a type the cpu backend does not run (its load-time q4_0 makes the same choice, so the two agree).
 */
export function outputTensorType(ggufName: string, shape: readonly number[], type: ConvertType, outputHead = false): GGMLTypeName {
  if (shape.length <= 1 || ggufName.endsWith("_norm.weight") || !ggufName.endsWith(".weight")) return "F32";
  if ((type === "q8_0" || type === "q4_0") && shape[shape.length - 1] % 32 !== 0) return "F16";
  if (type === "q4_0" && outputHead) return "Q8_0";
  return weightTypes[type];
}

interface PlannedTensor {
  readonly source: string | null; // null: generated (rope_freqs)
  readonly gguf: string;
  readonly srcDtype: SourceTensor["dtype"];
  readonly shape: readonly number[];
  readonly type: GGMLTypeName;
  readonly permuteHeads: number | undefined;
  readonly shift: number;
}

/**
 * Converts `source` into a GGUF file at `outPath` (written to `outPath.partial`, then renamed, so a failed conversion
 * leaves no truncated file). Unknown architectures, tensors, rope scalings or tokenizers fail with `unsupported`;
 * malformed configs and tensors with `invalid_model`.
 *
 * @example
 * await convertToGGUF(source, "model-q8_0.gguf", { type: "q8_0" });
 */
export async function convertToGGUF(source: CheckpointSource, outPath: string, opts: ConvertOptions = {}): Promise<ConvertResult> {
  const type = opts.type ?? "f32";
  if (!(type in fileTypes)) {
    throw new InferenceError({
      code: "invalid_argument",
      op: OP,
      message: `type must be one of f32, f16, bf16, q8_0, q4_0, got "${String(type)}"`,
    });
  }
  const arch = detectArchitecture(source.config);
  const h = readHParams(source.config, arch);
  const ggufArch = ggufArchitecture[arch];

  const writer = new GGUFWriter();
  const nameOrPath = source.config._name_or_path;
  const name =
    opts.name ?? (typeof nameOrPath === "string" && nameOrPath.length > 0 ? nameOrPath.split(/[\\/]/).pop()! : arch);
  writer.addMetadata("general.architecture", { type: "string", value: ggufArch });
  writer.addMetadata("general.type", { type: "string", value: "model" });
  writer.addMetadata("general.name", { type: "string", value: name });
  writer.addMetadata("general.file_type", { type: "uint32", value: fileTypes[type] });
  writer.addMetadata("general.quantization_version", { type: "uint32", value: GGML_QUANT_VERSION });
  for (const [k, v] of architectureMetadata(h)) writer.addMetadata(k, v);
  for (const [k, v] of tokenizerMetadata({
    tokenizer: source.tokenizer,
    tokenizerConfig: source.tokenizerConfig,
    config: source.config,
    vocabSize: h.vocabSize,
    chatTemplate: source.chatTemplate,
  })) {
    writer.addMetadata(k, v);
  }

  // Plan every tensor before writing: the header holds all tensor infos.
  const planned: PlannedTensor[] = [];
  const ropeFreqs = llama3RopeFreqs(h, source.config);
  if (ropeFreqs !== undefined) {
    planned.push({ source: null, gguf: "rope_freqs.weight", srcDtype: "F32", shape: [ropeFreqs.length], type: "F32", permuteHeads: undefined, shift: 0 });
  }
  const seen = new Set<string>();
  for (const srcName of source.tensorNames) {
    const gguf = ggufTensorName(srcName, h);
    if (gguf === null) continue;
    if (seen.has(gguf)) throw new InferenceError({ code: "invalid_model", op: OP, message: `two tensors map to "${gguf}"` });
    seen.add(gguf);
    const info = source.tensorInfo ? await source.tensorInfo(srcName) : await source.readTensor(srcName);
    checkDtype(srcName, info.dtype);
    planned.push({
      source: srcName,
      gguf,
      srcDtype: info.dtype,
      shape: [...info.shape],
      type: outputTensorType(gguf, info.shape, type, gguf === "output.weight" || (h.tieWordEmbeddings && gguf === "token_embd.weight")),
      permuteHeads: permuteHeads(srcName, h),
      shift: normShift(srcName, h),
    });
  }
  if (!seen.has("token_embd.weight")) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: "checkpoint has no model.embed_tokens.weight" });
  }
  const plans: GGUFTensorPlan[] = planned.map((p) => writer.addTensor(p.gguf, p.shape, p.type));

  const partial = `${outPath}.partial`;
  try {
    await writer.write(partial, async (plan, i) => {
      const p = planned[i];
      const bytes = p.source === null ? new Uint8Array(ropeFreqs!.buffer) : await convertTensor(source, p);
      if (bytes.byteLength !== plan.byteLength) {
        throw new InferenceError({ code: "internal", op: OP, message: `tensor "${p.gguf}" converted to the wrong size` });
      }
      opts.onProgress?.({ tensor: p.gguf, done: i + 1, total: planned.length });
      return bytes;
    });
    await rename(partial, outPath);
  } catch (cause) {
    await rm(partial, { force: true }).catch(() => undefined);
    throw cause;
  }
  return { path: outPath, architecture: ggufArch, tensors: plans.map((p) => ({ name: p.name, type: p.type, shape: p.shape })) };
}

function checkDtype(name: string, dtype: string): void {
  if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") {
    throw new InferenceError({
      code: "unsupported",
      op: OP,
      message: `tensor "${name}" has dtype ${dtype}; only F32, F16 and BF16 convert`,
      details: { tensor: name, dtype },
    });
  }
}

const elementBytes = { F32: 4, F16: 2, BF16: 2 } as const;

async function convertTensor(source: CheckpointSource, p: PlannedTensor): Promise<Uint8Array> {
  const t = await source.readTensor(p.source!);
  checkDtype(p.source!, t.dtype);
  const count = p.shape.reduce((a, b) => a * b, 1);
  if (t.dtype !== p.srcDtype || t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
    throw new InferenceError({ code: "invalid_model", op: OP, message: `tensor "${p.source}" changed between reads` });
  }
  if (t.data.byteLength !== count * elementBytes[t.dtype]) {
    throw new InferenceError({
      code: "invalid_model",
      op: OP,
      message: `tensor "${p.source}" has ${t.data.byteLength} bytes, ${t.dtype} [${t.shape.join(", ")}] needs ${count * elementBytes[t.dtype]}`,
    });
  }
  let data = t.data;
  if (p.permuteHeads !== undefined) data = permuteRows(data, p.shape[0], p.permuteHeads);
  const sameType = (p.type === "F32" && t.dtype === "F32") || (p.type === "F16" && t.dtype === "F16") || (p.type === "BF16" && t.dtype === "BF16");
  if (sameType && p.shift === 0) return data;

  const values = decode(data, t.dtype, count);
  if (p.shift !== 0) {
    // The converter adds in the tensor's torch dtype: F16 stays F16 (rounded), BF16 was widened to F32 first.
    for (let i = 0; i < count; i++) values[i] = t.dtype === "F16" ? f16ToF32(f32ToF16(values[i] + p.shift)) : values[i] + p.shift;
  }
  switch (p.type) {
    case "F32":
      return new Uint8Array(values.buffer);
    case "F16":
    case "BF16": {
      const out = new Uint16Array(count);
      const enc = p.type === "F16" ? f32ToF16 : f32ToBf16;
      for (let i = 0; i < count; i++) out[i] = enc(values[i]);
      return new Uint8Array(out.buffer);
    }
    case "Q8_0": {
      const out = new Uint8Array((count / 32) * 34);
      quantizeQ8_0(out, values);
      return out;
    }
    case "Q4_0": {
      const out = new Uint8Array((count / 32) * 18);
      quantizeQ4_0(out, values);
      return out;
    }
    default:
      throw new InferenceError({ code: "internal", op: OP, message: `no encoder for ${p.type}` });
  }
}

function decode(bytes: Uint8Array, dtype: SourceTensor["dtype"], count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  else if (dtype === "F16") for (let i = 0; i < count; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
  else for (let i = 0; i < count; i++) out[i] = bf16ToF32(view.getUint16(i * 2, true));
  return out;
}

/** Reorders the rows of a row-major tensor of `rows` rows by the llama rope permutation (bytes, any element type). */
function permuteRows(data: Uint8Array, rows: number, heads: number): Uint8Array {
  const rowBytes = data.byteLength / rows;
  const src = ropePermutation(rows, heads);
  const out = new Uint8Array(data.byteLength);
  for (let r = 0; r < rows; r++) out.set(data.subarray(src[r] * rowBytes, (src[r] + 1) * rowBytes), r * rowBytes);
  return out;
}
