// Test helper: rewrites a GGUF file through an edit of its metadata and tensors, to make broken or differently typed
// files from the ones our converter writes. Not a test itself.
import type { GGMLTypeName, GGUFMetadataValue } from "@dappcore/inference-gguf";
import { GGUFWriter, readGGUF, readGGUFTensorData } from "@dappcore/inference-gguf";

export interface EditableTensor {
  name: string;
  shape: readonly number[];
  type: GGMLTypeName;
  data: Uint8Array;
}

/** Copies the GGUF at `src` to `dst` through `edit`, which may change metadata and tensors (name, type, data). */
export async function rewriteGGUF(
  src: string,
  dst: string,
  edit: {
    metadata?: (m: Map<string, GGUFMetadataValue>) => void;
    tensor?: (t: EditableTensor) => EditableTensor | null;
  },
): Promise<void> {
  const file = await readGGUF(src);
  const metadata = new Map(file.metadata);
  edit.metadata?.(metadata);
  const writer = new GGUFWriter();
  for (const [k, v] of metadata) if (k !== "general.alignment") writer.addMetadata(k, v);
  const out: Uint8Array[] = [];
  for (const info of file.tensors) {
    const t = { name: info.name, shape: info.shape, type: info.type, data: await readGGUFTensorData(src, info) };
    const e = edit.tensor ? edit.tensor(t) : t;
    if (e === null) continue;
    writer.addTensor(e.name, e.shape, e.type);
    out.push(e.data);
  }
  await writer.write(dst, (_plan, i) => out[i]);
}
