/**
 * A small Core (the TypeScript form of dappco.re/go's Core): a place where services are registered by name, named
 * actions any consumer can run, and a broadcast channel for events. The inference service (`newService`,
 * `registerCore`) registers itself and its `inference.*` actions here; the telemetry sink broadcasts into it.
 *
 * This is not a dependency-injection framework: no lifecycles, no reflection, no entitlements. Names are explicit.
 *
 * @example
 * const c = new Core();
 * c.action("greet", ({ name }) => `hello ${String(name)}`);
 * const r = await c.action("greet").run({ name: "ada" }); // { ok: true, value: "hello ada" }
 */
import { InferenceError, toInferenceError } from "../errors.js";
import { fail, ok, type Result } from "../result.js";

/** The options an action receives: a plain bag of named values. */
export type ActionOptions = Readonly<Record<string, unknown>>;

/**
 * An action's implementation. It may return a value, a `Result`, or a promise of either; a thrown value becomes a
 * failed Result.
 */
export type ActionHandler = (options: ActionOptions, core: Core) => unknown;

/** A handle on a named action; valid before the action exists (`exists()` tells). */
export interface Action {
  readonly name: string;
  exists(): boolean;
  /** Runs the action. Never throws: an unknown action, a throwing handler or a failed Result all give `ok: false`. */
  run(options?: ActionOptions): Promise<Result<unknown>>;
}

/** Receives each broadcast message, in subscription order. */
export type MessageHandler = (message: unknown, core: Core) => void;

export class Core {
  readonly #services = new Map<string, unknown>();
  readonly #actions = new Map<string, ActionHandler>();
  readonly #handlers: MessageHandler[] = [];

  /** Registers `service` under `name`. Fails with `invalid_argument` for an empty name or one already taken. */
  registerService(name: string, service: unknown): Result<void> {
    const op = "core.registerService";
    if (typeof name !== "string" || name === "") {
      return fail(new InferenceError({ code: "invalid_argument", op, message: "service name must be a non-empty string" }));
    }
    if (this.#services.has(name)) {
      return fail(new InferenceError({
        code: "invalid_argument", op, message: `service "${name}" is already registered`, details: { name },
      }));
    }
    this.#services.set(name, service);
    return ok();
  }

  /**
   * The service registered under `name`. The type parameter is the caller's claim: it is not checked.
   * Fails with `invalid_argument` when nothing is registered under that name.
   */
  service<T = unknown>(name: string): Result<T> {
    if (!this.#services.has(name)) {
      return fail(new InferenceError({
        code: "invalid_argument",
        op: "core.service",
        message: `service "${name}" is not registered`,
        details: { name, registered: this.services() },
      }));
    }
    return ok(this.#services.get(name) as T);
  }

  /** Service names, in registration order. */
  services(): string[] {
    return [...this.#services.keys()];
  }

  /**
   * With a handler: registers the action and returns its handle, or fails with `invalid_argument` for an empty name,
   * a name already taken (handlers are never silently replaced) or a handler that is not a function.
   * Without: a handle on the action of that name, registered or not.
   */
  action(name: string, handler: ActionHandler): Result<Action>;
  action(name: string): Action;
  action(name: string, handler?: ActionHandler): Result<Action> | Action {
    if (arguments.length < 2) return this.#handle(name);
    const op = "core.action";
    if (typeof name !== "string" || name === "") {
      return fail(new InferenceError({ code: "invalid_argument", op, message: "action name must be a non-empty string" }));
    }
    if (typeof handler !== "function") {
      return fail(new InferenceError({ code: "invalid_argument", op, message: `action "${name}" handler must be a function` }));
    }
    if (this.#actions.has(name)) {
      return fail(new InferenceError({
        code: "invalid_argument", op, message: `action "${name}" is already registered`, details: { name },
      }));
    }
    this.#actions.set(name, handler);
    return ok(this.#handle(name));
  }

  /** Action names, in registration order. */
  actions(): string[] {
    return [...this.#actions.keys()];
  }

  /**
   * Delivers `message` to every handler, synchronously, in subscription order. A handler that throws does not stop
   * delivery to the others; the first such error is returned (code `internal` unless it was typed) after all ran.
   */
  broadcast(message: unknown): Result<void> {
    let first: InferenceError | undefined;
    for (const handler of this.#handlers.slice()) {
      try {
        handler(message, this);
      } catch (e) {
        first ??= toInferenceError(e, "core.broadcast");
      }
    }
    return first === undefined ? ok() : fail(first);
  }

  /** Subscribes to broadcasts. Returns a function that unsubscribes (calling it twice is harmless). */
  onMessage(handler: MessageHandler): () => void {
    this.#handlers.push(handler);
    return () => {
      const i = this.#handlers.indexOf(handler);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  #handle(name: string): Action {
    return {
      name,
      exists: () => this.#actions.has(name),
      run: (options) => this.#run(name, options ?? {}),
    };
  }

  async #run(name: string, options: ActionOptions): Promise<Result<unknown>> {
    const handler = this.#actions.get(name);
    if (handler === undefined) {
      return fail(new InferenceError({
        code: "invalid_argument",
        op: "core.action",
        message: `action "${name}" is not registered`,
        details: { name, registered: this.actions() },
      }));
    }
    try {
      const value = await handler(options, this);
      return isResult(value) ? value : ok(value);
    } catch (e) {
      return fail(toInferenceError(e, name));
    }
  }
}

function isResult(value: unknown): value is Result<unknown> {
  if (typeof value !== "object" || value === null) return false;
  const r = value as { ok?: unknown; value?: unknown; error?: unknown };
  if (r.ok === true) return "value" in r && Object.keys(r).length === 2;
  if (r.ok === false) return r.error instanceof Error;
  return false;
}
