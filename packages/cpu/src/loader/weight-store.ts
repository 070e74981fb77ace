/**
 * The in-memory `WeightStore`: each tensor held once, by checkpoint name, in a Map (tensor names come from files and
 * are never used as plain-object keys). Not a reader: `model-dir.ts` fills it.
 */
import { InferenceError } from "@dappcore/inference";
import type { Tensor, WeightStore } from "../model-config.js";

export class MapWeightStore implements WeightStore {
  private readonly tensors = new Map<string, Tensor>();
  private bytes = 0;

  get byteLength(): number {
    return this.bytes;
  }

  /** Adds a tensor; throws `invalid_model` when the name is already held. */
  add(tensor: Tensor): void {
    if (this.tensors.has(tensor.name)) {
      throw new InferenceError({
        code: "invalid_model",
        op: "weights.add",
        message: `tensor "${tensor.name}" appears twice`,
        details: { tensor: tensor.name },
      });
    }
    this.tensors.set(tensor.name, tensor);
    this.bytes += tensor.data.byteLength;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (t === undefined) {
      throw new InferenceError({
        code: "invalid_model",
        op: "weights.get",
        message: `no tensor "${name}" in the checkpoint`,
        details: { tensor: name },
      });
    }
    return t;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }
}
