/**
 * The generation side of a `CpuTrainableModel`: the `CpuTextModel` it generates with, swapped for a new one when
 * fully fine-tuned weights are synced, with leases so that a model still streaming when it is replaced is closed only
 * once its last operation ends. Not training, and not the sync policy (cpu-trainable-model.ts decides when).
 */
import type { Token } from "@dappcore/inference";
import type { CpuTextModel } from "../model/cpu-text-model.js";

export class GenerationEngines {
  private model: CpuTextModel;
  private readonly leases = new Map<CpuTextModel, number>();
  private readonly retired = new Set<CpuTextModel>();
  /** The model of the last operation started, for `metrics()` and `err()`. */
  last: CpuTextModel;

  constructor(model: CpuTextModel) {
    this.model = model;
    this.last = model;
  }

  get current(): CpuTextModel {
    return this.model;
  }

  /** Makes `next` the model new operations run on; the old one closes when its running operations end. */
  async replace(next: CpuTextModel): Promise<void> {
    const old = this.model;
    this.model = next;
    this.last = next;
    if ((this.leases.get(old) ?? 0) === 0) await old.close();
    else this.retired.add(old);
  }

  /** Runs `fn` on the current model, holding it open until `fn` settles. */
  async run<T>(fn: (m: CpuTextModel) => Promise<T>): Promise<T> {
    const m = this.acquire();
    try {
      return await fn(m);
    } finally {
      await this.release(m);
    }
  }

  /** A stream on the model current when iteration starts (after `before`, the sync), held open until it ends. */
  stream(before: () => Promise<void>, make: (m: CpuTextModel) => AsyncIterable<Token>): AsyncIterable<Token> {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        await before();
        const m = self.acquire();
        try {
          yield* make(m);
        } finally {
          await self.release(m);
        }
      },
    };
  }

  /** Closes the current model and every retired one. */
  async closeAll(): Promise<void> {
    for (const m of this.retired) await m.close();
    this.retired.clear();
    await this.model.close();
  }

  private acquire(): CpuTextModel {
    const m = this.model;
    this.leases.set(m, (this.leases.get(m) ?? 0) + 1);
    this.last = m;
    return m;
  }

  private async release(m: CpuTextModel): Promise<void> {
    const n = (this.leases.get(m) ?? 1) - 1;
    if (n > 0) {
      this.leases.set(m, n);
      return;
    }
    this.leases.delete(m);
    if (this.retired.delete(m)) await m.close();
  }
}
