/**
 * What a check works with: fresh models that are always closed, the suite's options, the capabilities the backend
 * claims, and the shared expectations (a well-formed token, a typed failure, a clean `err()`), each failing with a
 * `ContractViolation` that names the check. The checks themselves live in `checks/`.
 */
import {
  type GenerateOption,
  type LoadOption,
  type Result,
  type TextModel,
  type Token,
  capabilitiesOf,
  isInferenceError,
  isUsable,
  withTemperature,
} from "@dappcore/inference";
import type { ErrorCode, InferenceError } from "@dappcore/inference";
import { ContractViolation, describeThrown } from "./contract-violation.js";
import type { ResolvedContractOptions } from "./contract-options.js";
import { type StreamRun, drainStream } from "./stream-run.js";

/** The check-facing toolkit; one per check run. */
export class ContractContext {
  readonly options: ResolvedContractOptions;
  /** The id of the running check (or `exerciser:<capability>`), used in violation messages. */
  readonly checkId: string;

  constructor(options: ResolvedContractOptions, checkId: string) {
    this.options = options;
    this.checkId = checkId;
  }

  /** Throws a `ContractViolation` for this check. */
  fail(detail: string, cause?: unknown): never {
    throw new ContractViolation(this.options.name, this.checkId, detail, cause);
  }

  /** Loads a fresh model through the suite's loader; a failed load is a violation. The caller owns closing it. */
  async load(...opts: LoadOption[]): Promise<TextModel> {
    let loaded: TextModel | Result<TextModel>;
    try {
      loaded = await this.options.load(...opts);
    } catch (e) {
      return this.fail(`load threw ${describeThrown(e)}`, e);
    }
    if (isResultLike(loaded)) {
      if (!loaded.ok) return this.fail(`load failed: ${describeThrown(loaded.error)}`, loaded.error);
      loaded = loaded.value;
    }
    if (loaded === null || typeof loaded !== "object" || typeof loaded.generate !== "function") {
      return this.fail("load did not produce a TextModel");
    }
    return loaded;
  }

  /** Runs `fn` with a fresh model and closes the model afterwards, whatever happens. */
  async withModel<T>(fn: (model: TextModel) => Promise<T>, ...opts: LoadOption[]): Promise<T> {
    const model = await this.load(...opts);
    try {
      return await fn(model);
    } finally {
      await model.close().catch(() => undefined);
    }
  }

  /** The suite's base generate options followed by `extra` (later options win). */
  opts(...extra: GenerateOption[]): GenerateOption[] {
    return [...this.options.generateOptions, ...extra];
  }

  /**
   * Like `opts`, with greedy decoding set explicitly: a backend may fill unset options from the checkpoint's
   * generation_config (which can ask for sampling), and the checks that compare runs need determinism.
   */
  greedy(...extra: GenerateOption[]): GenerateOption[] {
    return [...this.options.generateOptions, withTemperature(0), ...extra];
  }

  /**
   * The usable capability ids claimed for this backend and model: the backend's `capabilities()` plus the model's
   * report from `capabilitiesOf(model)` (its own list, or the four base capabilities of every TextModel). A list
   * that is not an array of `{ id, status }` is a violation.
   */
  claimed(model?: TextModel): ReadonlySet<string> {
    const ids = new Set<string>();
    const add = (source: string, list: unknown): void => {
      if (!Array.isArray(list)) this.fail(`${source} did not return an array`);
      for (const cap of list) {
        if (cap === null || typeof cap !== "object" || typeof cap.id !== "string" || typeof cap.status !== "string") {
          this.fail(`${source} returned a malformed capability: ${describeThrown(cap)}`);
        }
        if (isUsable(cap)) ids.add(cap.id);
      }
    };
    const backend = this.options.backend;
    if (backend !== undefined) {
      add("backend.capabilities()", callOrFail(this, "backend.capabilities()", () => backend.capabilities()));
    }
    if (model !== undefined) {
      const report = callOrFail(this, "capabilitiesOf(model)", () => capabilitiesOf(model));
      if (!report.ok) this.fail(`capabilitiesOf(model) failed: ${describeThrown(report.error)}`, report.error);
      add("the model's capabilities", report.value.capabilities);
    }
    return ids;
  }

  /** The model's vocabulary size from `info()`; a violation unless it is a positive integer. */
  vocabSize(model: TextModel): number {
    const info = callOrFail(this, "info()", () => model.info());
    const vocab = info?.vocabSize;
    if (!Number.isInteger(vocab) || vocab <= 0) this.fail(`info().vocabSize must be a positive integer, got ${vocab}`);
    return vocab;
  }

  /** Drains a stream (see `drainStream`); a synchronous throw from the stream method is a violation. */
  async drain(
    what: string,
    start: () => AsyncIterable<Token>,
    limit: number,
    onToken?: (token: Token, count: number) => void | "break",
  ): Promise<StreamRun> {
    const run = await drainStream(start, limit, onToken);
    if (run.threwSynchronously) {
      this.fail(`${what} threw synchronously (${describeThrown(run.error)}); failures must end the stream instead`, run.error);
    }
    return run;
  }

  /** A violation unless the stream ended cleanly within `limit` tokens. */
  expectClean(what: string, run: StreamRun, limit: number): void {
    if (run.overflow) this.fail(`${what} yielded more than ${limit} tokens`);
    if (run.error !== undefined) this.fail(`${what} failed: ${describeThrown(run.error)}`, run.error);
  }

  /** A violation unless `token` is `{ id: integer in [0, vocabSize), text: string }` with well-formed logits if any. */
  expectToken(what: string, token: Token, vocabSize: number): void {
    if (token === null || typeof token !== "object") this.fail(`${what} yielded a non-object token: ${describeThrown(token)}`);
    if (!Number.isInteger(token.id) || token.id < 0 || token.id >= vocabSize) {
      this.fail(`${what} yielded token id ${token.id}, outside [0, ${vocabSize})`);
    }
    if (typeof token.text !== "string") this.fail(`${what} yielded token ${token.id} whose text is not a string`);
    if (token.logits !== undefined && !(token.logits instanceof Float32Array)) {
      this.fail(`${what} yielded token ${token.id} whose logits are not a Float32Array`);
    }
  }

  /** A violation unless `error` is an `InferenceError` with `code`. */
  expectCode(what: string, error: unknown, code: ErrorCode): InferenceError {
    if (!isInferenceError(error)) {
      this.fail(`${what}: expected an InferenceError with code "${code}", got ${describeThrown(error)}`, error);
    }
    if (error.code !== code) this.fail(`${what}: expected code "${code}", got ${describeThrown(error)}`, error);
    return error;
  }

  /** A violation unless `result` is a well-formed `Result` (ok boolean; a failure carries an `InferenceError`). */
  expectResult<T>(what: string, result: unknown): Result<T> {
    if (!isResultLike(result)) this.fail(`${what} did not return a Result: ${describeThrown(result)}`);
    if (!result.ok && !isInferenceError(result.error)) {
      this.fail(`${what} returned a failed Result without an InferenceError: ${describeThrown(result.error)}`);
    }
    return result as Result<T>;
  }

  /** A violation unless `result` is ok; returns its value. */
  expectOk<T>(what: string, result: unknown): T {
    const r = this.expectResult<T>(what, result);
    if (!r.ok) this.fail(`${what} failed: ${describeThrown(r.error)}`, r.error);
    return r.value;
  }

  /** A violation unless `result` is a failed Result with `code`. */
  expectFailedResult(what: string, result: unknown, code: ErrorCode): InferenceError {
    const r = this.expectResult<unknown>(what, result);
    if (r.ok) this.fail(`${what} succeeded; expected a failed Result with code "${code}"`);
    return this.expectCode(what, r.error, code);
  }

  /** A violation unless `model.err()` is ok. */
  expectErrOk(model: TextModel, after: string): void {
    const r = this.expectResult<void>(`err() after ${after}`, callOrFail(this, "err()", () => model.err()));
    if (!r.ok) this.fail(`err() after ${after} should be ok, got ${describeThrown(r.error)}`, r.error);
  }

  /** A violation unless `model.err()` is a failure with `code`. */
  expectErrCode(model: TextModel, after: string, code: ErrorCode): void {
    const r = this.expectResult<void>(`err() after ${after}`, callOrFail(this, "err()", () => model.err()));
    if (r.ok) this.fail(`err() after ${after} is ok; the failure must be recorded with code "${code}"`);
    this.expectCode(`err() after ${after}`, r.error, code);
  }
}

/** True for `{ ok: boolean, ... }`, the shape of a `Result`. */
export function isResultLike(value: unknown): value is Result<unknown> {
  return value !== null && typeof value === "object" && typeof (value as { ok?: unknown }).ok === "boolean";
}

/** Calls `fn`; a throw is a violation of `ctx` naming `what`. */
export function callOrFail<T>(ctx: ContractContext, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    return ctx.fail(`${what} threw ${describeThrown(e)}`, e);
  }
}

/** Awaits `fn()`; a rejection is a violation of `ctx` naming `what` (contract calls answer with Results, not throws). */
export async function awaitOrFail<T>(ctx: ContractContext, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    return ctx.fail(`${what} threw ${describeThrown(e)}; it must answer with a Result`, e);
  }
}
