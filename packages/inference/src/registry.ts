/**
 * The backend registry: backends register themselves when their module is imported, and `loadModel` picks one
 * (pinned with `withBackend`, else the preferred available one). With nothing registered every call fails cleanly
 * with a typed error; nothing here throws, at import or later.
 *
 * The registry is one per JavaScript realm, kept on `globalThis` under a `Symbol.for` key, so two copies of this
 * package (say a backend built against one and an app importing another) still share it.
 *
 * This file is not where models run; it only chooses a backend and relays what it answers.
 */
import { safeAvailable } from "./capabilities.js";
import type { Capability } from "./capabilities.js";
import { InferenceError, isInferenceError, toInferenceError } from "./errors.js";
import { applyLoadOpts, type LoadOption } from "./options.js";
import { fail, ok, type Result } from "./result.js";
import { isTextModel, isTrainableModel } from "./trainable.js";
import type { Backend, TextModel, TrainableModel } from "./types.js";

/** The automatic choice walks these first, in this order, then every other backend by name. */
export const PREFERRED_BACKEND_ORDER: readonly string[] = Object.freeze(["metal", "rocm", "cuda", "llama_cpp"]);

const REGISTRY_KEY = Symbol.for("@dappcore/inference/registry");

function backends(): Map<string, Backend> {
  const g = globalThis as unknown as Record<symbol, Map<string, Backend> | undefined>;
  let map = g[REGISTRY_KEY];
  if (!(map instanceof Map)) {
    map = new Map<string, Backend>();
    g[REGISTRY_KEY] = map;
  }
  return map;
}

/**
 * Registers a backend under its `name`; a second backend with the same name replaces the first. null and undefined
 * are ignored (so `register(maybeBackend)` is safe). A value without a string `name` is a programming error and
 * throws `invalid_argument`.
 *
 * @example
 * register(new CpuBackend());
 */
export function register(backend: Backend | null | undefined): void {
  if (backend === null || backend === undefined) return;
  if (typeof backend !== "object" || typeof backend.name !== "string") {
    throw new InferenceError({
      code: "invalid_argument",
      op: "inference.register",
      message: "a backend must be an object with a string name",
    });
  }
  backends().set(backend.name, backend);
}

/** The backend registered under `name`, or undefined. */
export function get(name: string): Backend | undefined {
  return backends().get(name);
}

/**
 * Registered backend names, sorted. With none registered it returns an empty array (not undefined: callers can
 * iterate without a check). Each call returns a fresh array.
 */
export function list(): string[] {
  return [...backends().keys()].sort();
}

/**
 * A snapshot of the registry taken now, as `[name, backend]` pairs sorted by name. Re-iterable; later registrations
 * do not show up in it.
 */
export function all(): Iterable<[string, Backend]> {
  const snapshot = sortedEntries();
  return { [Symbol.iterator]: () => snapshot.map(([n, b]): [string, Backend] => [n, b])[Symbol.iterator]() };
}

/** Removes a backend. For tests and hot reload; true when it was registered. */
export function unregister(name: string): boolean {
  return backends().delete(name);
}

/** Removes every backend. For tests only: backends register once, at import, and do not come back. */
export function resetRegistry(): void {
  backends().clear();
}

/**
 * The backend the automatic choice picks: the first available of metal, rocm, cuda, llama_cpp, else the first
 * available of the others by name. A preferred backend that is unavailable is not reconsidered. `available()` that
 * throws counts as unavailable.
 *
 * Errors: `no_backends_registered`, `no_backends_available`.
 */
export function defaultBackend(): Result<Backend> {
  const op = "inference.defaultBackend";
  const entries = sortedEntries();
  if (entries.length === 0) {
    return fail(new InferenceError({
      code: "no_backends_registered",
      op,
      message: "no backends registered",
      remedy: "import a backend package, e.g. `import \"@dappcore/inference-cpu\"`",
    }));
  }
  const byName = new Map(entries);
  for (const name of PREFERRED_BACKEND_ORDER) {
    const b = byName.get(name);
    if (b !== undefined && safeAvailable(b)) return ok(b);
  }
  for (const [name, b] of entries) {
    if (!PREFERRED_BACKEND_ORDER.includes(name) && safeAvailable(b)) return ok(b);
  }
  const names = entries.map(([n]) => n);
  return fail(new InferenceError({
    code: "no_backends_available",
    op,
    message: "no backends available",
    details: { registered: names },
    remedy: `none of the registered backends (${names.join(", ")}) can run on this machine`,
  }));
}

/**
 * Loads a model through the pinned backend (`withBackend(name)` / `{ backend }`) or the automatic choice. Every
 * option is forwarded unchanged to the backend, the pin included. Never throws.
 *
 * Errors: `invalid_argument` (a bad option), `backend_not_registered` / `backend_unavailable` (pinned; the message
 * names the backend and lists what is registered), the `defaultBackend()` errors as they are (unpinned), and
 * `inference.loadModel: backend "x" failed to load model: <cause>` with code `model_load_failed`, or the cause's own
 * code when it is more specific (`invalid_model`, `unsupported`, ...). A backend that throws is caught the same way.
 *
 * @example
 * const r = await loadModel("./models/qwen3-0.6b", withBackend("cpu"));
 * if (!r.ok) throw r.error;
 */
export async function loadModel(path: string, ...opts: LoadOption[]): Promise<Result<TextModel>> {
  const op = "inference.loadModel";
  const chosen = chooseBackend(op, opts);
  if (!chosen.ok) return chosen;
  const backend = chosen.value;
  let answer: unknown;
  try {
    answer = await backend.loadModel(path, ...opts);
  } catch (e) {
    return fail(loadFailure(op, backend.name, toInferenceError(e, `${backend.name}.loadModel`)));
  }
  return checkModel(op, backend.name, answer);
}

/**
 * Loads a model for training through the chosen backend's `loadTrainable`. A backend without one fails with
 * `unsupported`; a returned model that is not a `TrainableModel` is closed, then the call fails with `unsupported`
 * (naming the backend, where Go names the model type). Other errors are those of `loadModel`.
 *
 * @example
 * const r = await loadTrainable(path, withAdapterPath("lora/"));
 */
export async function loadTrainable(path: string, ...opts: LoadOption[]): Promise<Result<TrainableModel>> {
  const op = "inference.loadTrainable";
  const chosen = chooseBackend(op, opts);
  if (!chosen.ok) return chosen;
  const backend = chosen.value;
  if (typeof backend.loadTrainable !== "function") {
    return fail(new InferenceError({
      code: "unsupported",
      op,
      message: `backend "${backend.name}" does not support training`,
      details: { backend: backend.name },
    }));
  }
  let answer: unknown;
  try {
    answer = await backend.loadTrainable(path, ...opts);
  } catch (e) {
    return fail(loadFailure(op, backend.name, toInferenceError(e, `${backend.name}.loadTrainable`)));
  }
  const checked = checkModel(op, backend.name, answer);
  if (!checked.ok) return checked;
  const model = checked.value;
  if (isTrainableModel(model)) return ok(model);
  let closed: Result<void>;
  try {
    closed = await model.close();
  } catch (e) {
    closed = fail(toInferenceError(e, `${backend.name}.close`));
  }
  if (!closed.ok) {
    return fail(new InferenceError({
      code: closed.error.code, op, message: "close non-trainable model", cause: closed.error,
    }));
  }
  return fail(new InferenceError({
    code: "unsupported",
    op,
    message: `backend "${backend.name}" does not support training`,
    details: { backend: backend.name, modelType: safeModelType(model) },
  }));
}

/**
 * The capabilities a registered backend declares; a backend without `capabilities()` declares `model.load`.
 * [] when no backend has that name, or when its `capabilities()` throws or returns something other than an array.
 */
export function backendCaps(name: string): readonly Capability[] {
  const b = backends().get(name);
  if (b === undefined) return [];
  if (typeof b.capabilities !== "function") return [{ id: "model.load", group: "runtime", status: "supported" }];
  try {
    const caps = b.capabilities();
    return Array.isArray(caps) ? caps.slice() : [];
  } catch {
    return [];
  }
}

function sortedEntries(): [string, Backend][] {
  return [...backends().entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function chooseBackend(op: string, opts: readonly LoadOption[]): Result<Backend> {
  let pin: string;
  try {
    pin = applyLoadOpts(opts).backend;
  } catch (e) {
    return fail(toInferenceError(e, op));
  }
  if (pin === "") return defaultBackend();
  const b = backends().get(pin);
  const registered = list();
  const listed = registered.length === 0 ? "no backends are registered" : `registered: ${registered.join(", ")}`;
  if (b === undefined) {
    return fail(new InferenceError({
      code: "backend_not_registered",
      op,
      message: `backend "${pin}" not registered (${listed})`,
      details: { backend: pin, registered },
      remedy: `import the package that registers "${pin}", or pick one of the registered backends`,
    }));
  }
  if (!safeAvailable(b)) {
    return fail(new InferenceError({
      code: "backend_unavailable",
      op,
      message: `backend "${pin}" not available on this hardware (${listed})`,
      details: { backend: pin, registered },
    }));
  }
  return ok(b);
}

function checkModel(op: string, name: string, answer: unknown): Result<TextModel> {
  if (!isResultShape(answer)) {
    return fail(new InferenceError({
      code: "model_load_failed", op, message: `backend "${name}" returned a malformed result`, details: { backend: name },
    }));
  }
  if (!answer.ok) return fail(loadFailure(op, name, toInferenceError(answer.error, `${name}.loadModel`)));
  if (answer.value === null || answer.value === undefined) {
    return fail(new InferenceError({
      code: "model_load_failed", op, message: `backend "${name}" returned a nil model`, details: { backend: name },
    }));
  }
  if (!isTextModel(answer.value)) {
    return fail(new InferenceError({
      code: "model_load_failed", op, message: `backend "${name}" returned a value that is not a TextModel`,
      details: { backend: name },
    }));
  }
  return ok(answer.value);
}

function loadFailure(op: string, name: string, cause: InferenceError): InferenceError {
  const code = isInferenceError(cause) && cause.code !== "internal" ? cause.code : "model_load_failed";
  return new InferenceError({
    code, op, message: `backend "${name}" failed to load model`, cause, details: { backend: name },
  });
}

function isResultShape(v: unknown): v is { ok: true; value: unknown } | { ok: false; error: unknown } {
  return typeof v === "object" && v !== null && typeof (v as { ok?: unknown }).ok === "boolean";
}

function safeModelType(model: TextModel): string {
  try {
    return model.modelType();
  } catch {
    return "";
  }
}
