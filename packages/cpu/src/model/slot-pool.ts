/**
 * A fixed pool of generation slots (one KV cache each), sized by `withParallelSlots`. A request takes a free slot or
 * waits in FIFO order; an aborted wait leaves the queue. It is not a scheduler across models: one pool per model.
 */
import { InferenceError } from "@dappcore/inference";

export class SlotPool<T> {
  private readonly free: T[];
  private readonly waiters: { resolve(slot: T): void; reject(e: unknown): void }[] = [];

  constructor(slots: readonly T[]) {
    this.free = [...slots];
  }

  /** Takes a slot, waiting for one when all are busy. Rejects with `aborted` when `signal` fires while waiting. */
  acquire(signal: AbortSignal | undefined, op: string): Promise<T> {
    if (signal?.aborted) return Promise.reject(aborted(op, signal));
    const slot = this.free.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        resolve: (s: T) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(s);
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(aborted(op, signal));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(slot: T): void {
    const next = this.waiters.shift();
    if (next) next.resolve(slot);
    else this.free.push(slot);
  }

  /** Fails every waiting request (used by close). */
  rejectWaiters(error: unknown): void {
    for (const w of this.waiters.splice(0)) w.reject(error);
  }
}

export function aborted(op: string, signal: AbortSignal | undefined): InferenceError {
  return new InferenceError({ code: "aborted", op, message: "request aborted", cause: signal?.reason });
}
