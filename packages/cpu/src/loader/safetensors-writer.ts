/**
 * Writes safetensors files: the header (JSON, padded with spaces to 8 bytes) then the tensors' bytes back to back in
 * the order given. Used for adapters, trained weights and checkpoints made at test setup. Not a reader: see
 * `safetensors-reader.ts`.
 */
import { open } from "node:fs/promises";
import { InferenceError } from "@dappcore/inference";

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: "F32" | "F16" | "BF16" | "I32" | "I64" | "U8";
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

const elementBytes = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 } as const;

/** Writes `tensors` to `path` as one safetensors file, with optional string `metadata`. */
export async function writeSafetensors(
  path: string,
  tensors: readonly TensorToWrite[],
  metadata: Readonly<Record<string, string>> = {},
): Promise<void> {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) {
      throw new InferenceError({ code: "invalid_argument", op: "safetensors.write", message: `duplicate tensor name "${t.name}"` });
    }
    seen.add(t.name);
    const expected = t.shape.reduce((a, b) => a * b, 1) * elementBytes[t.dtype];
    if (expected !== t.data.byteLength) {
      throw new InferenceError({
        code: "invalid_argument",
        op: "safetensors.write",
        message: `tensor "${t.name}" has ${t.data.byteLength} bytes, its dtype and shape need ${expected}`,
      });
    }
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  const file = await open(path, "w");
  try {
    await file.write(prefix);
    await file.write(headerBytes);
    for (const t of tensors) await file.write(t.data);
  } finally {
    await file.close();
  }
}
