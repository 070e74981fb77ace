/**
 * Ctrl-C as an AbortSignal: while a command holds an `Interrupt`, the first Ctrl-C aborts its signal (the generation
 * or load ends cleanly with an `aborted` error, exit code 130) instead of killing the process. A second Ctrl-C
 * answers false, and bin.ts exits at once. This file does not decide exit codes.
 */
import { InferenceError, isInferenceError } from "@dappcore/inference";
import type { CliIO } from "./cli-io.js";

export class Interrupt {
  readonly #controller = new AbortController();
  readonly #remove: () => void;

  constructor(io: CliIO) {
    this.#remove = io.onInterrupt(() => {
      if (this.#controller.signal.aborted) return false;
      this.#controller.abort(new DOMException("interrupted", "AbortError"));
      return true;
    });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once Ctrl-C was pressed. */
  get interrupted(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Stops listening for Ctrl-C. */
  dispose(): void {
    this.#remove();
  }
}

/**
 * After Ctrl-C, whatever a stream or load ended with counts as the interruption: a backend may report it as a plain
 * AbortError, or as a failure of the step it was in. Other errors pass through unchanged.
 */
export function interruptedError(interrupt: Interrupt, error: unknown): unknown {
  if (!interrupt.interrupted) return error;
  if (isInferenceError(error) && error.code === "aborted") return error;
  return new InferenceError({ code: "aborted", op: "inference", message: "interrupted", cause: error });
}

/** The error to report when Ctrl-C ended a stream that returned without throwing. */
export function abortedError(): InferenceError {
  return new InferenceError({ code: "aborted", op: "inference", message: "interrupted" });
}
