/**
 * The inference service for a Core (the seed's `registerCore(c)` and `newService({ defaultBackend, modelPath })(c)`):
 * registers a service named "inference" and the actions any consumer of the Core can run:
 *
 * | action                  | options                                              | value                                  |
 * |-------------------------|------------------------------------------------------|----------------------------------------|
 * | `inference.load`        | `{ path?, backend?, id?, ...load options }`          | `{ id, info, modelType }`              |
 * | `inference.generate`    | `{ prompt, model?, ...generate options }`            | `{ text, tokens, metrics }`            |
 * | `inference.chat`        | `{ messages, model?, ...generate options }`          | `{ text, tokens, metrics }`            |
 * | `inference.unload`      | `{ model? }`                                         | `{ id }`                               |
 * | `inference.backends`    | none                                                 | `[{ name, available, capabilities }]`  |
 * | `inference.capabilities`| `{ backend }` or `{ model }`                         | a `CapabilityReport`                   |
 *
 * `modelPath` and `defaultBackend` fill a load that omits `path` / `backend`. `model` is the id `inference.load`
 * returned; without it the most recently loaded model is used, and when none is loaded yet the service loads
 * `modelPath` first (if it has one).
 *
 * This file does not run models; it keeps loaded ones under ids and relays to the registry and the model.
 */
import { capabilitiesOf, type Capability, type CapabilityReport } from "./capabilities.js";
import type { Core } from "./core/core.js";
import { InferenceError, toInferenceError } from "./errors.js";
import type { GenerateOptions, LoadOptions } from "./options.js";
import { backendCaps, get, list, loadModel } from "./registry.js";
import { fail, ok, type Result } from "./result.js";
import { safeAvailable } from "./capabilities.js";
import type { GenerateMetrics, Message, ModelInfo, TextModel, Token } from "./types.js";

/** Settings of the inference service. */
export interface ServiceOptions {
  /**
   * The backend for loads that do not name one. Default: the registry's automatic choice.
   * @example newService({ defaultBackend: "cpu" })
   */
  defaultBackend?: string;
  /**
   * The model for loads that do not give a path, and the one loaded on first use when no model is loaded.
   * Default: none (loads must give a path).
   * @example newService({ modelPath: "/srv/models/qwen3-0.6b" })
   */
  modelPath?: string;
}

/** The service's name in the Core. */
export const SERVICE_NAME = "inference";

/** The actions the service registers, in registration order. */
export const SERVICE_ACTIONS = [
  "inference.load",
  "inference.generate",
  "inference.chat",
  "inference.unload",
  "inference.backends",
  "inference.capabilities",
] as const;

export interface LoadedModel {
  readonly id: string;
  readonly info: ModelInfo;
  readonly modelType: string;
}

export interface GenerationOutput {
  readonly text: string;
  readonly tokens: Token[];
  readonly metrics: GenerateMetrics;
}

export interface BackendSummary {
  readonly name: string;
  readonly available: boolean;
  readonly capabilities: readonly Capability[];
}

/** The service instance registered as "inference"; the actions call these methods. */
export class InferenceService {
  readonly options: Readonly<ServiceOptions>;
  readonly #models = new Map<string, TextModel>();
  #nextId = 1;
  #latest: string | undefined;

  constructor(options: ServiceOptions = {}) {
    this.options = Object.freeze({ ...options });
  }

  /** Ids of loaded models, in load order. */
  models(): string[] {
    return [...this.#models.keys()];
  }

  /** The loaded model with this id (or the default one when `id` is undefined). */
  async model(id?: string): Promise<Result<TextModel>> {
    return this.#resolve(id, "inference.model");
  }

  async load(request: ActionRequest = {}): Promise<Result<LoadedModel>> {
    const op = "inference.load";
    const { path, backend, id, ...rest } = request;
    if (path !== undefined && typeof path !== "string") return invalid(op, "path must be a string");
    const modelPath = path ?? this.options.modelPath;
    if (typeof modelPath !== "string" || modelPath === "") {
      return invalid(op, "no model path: give `path` or set the service's modelPath");
    }
    if (id !== undefined && (typeof id !== "string" || id === "")) return invalid(op, "id must be a non-empty string");
    if (typeof id === "string" && this.#models.has(id)) return invalid(op, `model id "${id}" is already in use`);
    const pin = backend ?? this.options.defaultBackend;
    const loadOpts: LoadOptions = pin === undefined ? { ...rest } : { ...rest, backend: pin as string };
    const r = await loadModel(modelPath, loadOpts);
    if (!r.ok) return r;
    const modelId = typeof id === "string" ? id : this.#freshId();
    this.#models.set(modelId, r.value);
    this.#latest = modelId;
    return ok({ id: modelId, info: r.value.info(), modelType: r.value.modelType() });
  }

  async generate(request: ActionRequest): Promise<Result<GenerationOutput>> {
    const op = "inference.generate";
    const { prompt, model, ...rest } = request;
    if (typeof prompt !== "string") return invalid(op, "prompt must be a string");
    const m = await this.#resolve(model, op);
    if (!m.ok) return m;
    return drain(op, m.value, m.value.generate(prompt, rest as GenerateOptions));
  }

  async chat(request: ActionRequest): Promise<Result<GenerationOutput>> {
    const op = "inference.chat";
    const { messages, model, ...rest } = request;
    if (!isMessageList(messages)) return invalid(op, "messages must be an array of { role, content } strings");
    const m = await this.#resolve(model, op);
    if (!m.ok) return m;
    return drain(op, m.value, m.value.chat(messages, rest as GenerateOptions));
  }

  async unload(request: ActionRequest = {}): Promise<Result<{ id: string }>> {
    const op = "inference.unload";
    const id = request.model ?? this.#latest;
    if (typeof id !== "string" || !this.#models.has(id)) {
      return invalid(op, id === undefined ? "no model is loaded" : `model "${String(id)}" is not loaded`);
    }
    const model = this.#models.get(id)!;
    this.#models.delete(id);
    if (this.#latest === id) this.#latest = [...this.#models.keys()].pop();
    const closed = await model.close();
    return closed.ok ? ok({ id }) : closed;
  }

  backends(): BackendSummary[] {
    return list().map((name) => {
      const b = get(name);
      return { name, available: b !== undefined && safeAvailable(b), capabilities: backendCaps(name) };
    });
  }

  async capabilities(request: ActionRequest): Promise<Result<CapabilityReport>> {
    const op = "inference.capabilities";
    if (typeof request.backend === "string") {
      const b = get(request.backend);
      if (b === undefined) {
        return fail(new InferenceError({
          code: "backend_not_registered",
          op,
          message: `backend "${request.backend}" not registered (registered: ${list().join(", ") || "none"})`,
          details: { backend: request.backend, registered: list() },
        }));
      }
      return capabilitiesOf(b);
    }
    if (typeof request.model === "string") {
      const m = this.#models.get(request.model);
      if (m === undefined) return invalid(op, `model "${request.model}" is not loaded`);
      return capabilitiesOf(m);
    }
    return invalid(op, "give `backend` (a backend name) or `model` (a loaded model id)");
  }

  /** Closes every loaded model; the first close failure is returned after all were tried. */
  async closeAll(): Promise<Result<void>> {
    let first: Result<void> | undefined;
    for (const [id, model] of [...this.#models]) {
      this.#models.delete(id);
      const r = await model.close();
      if (!r.ok) first ??= r;
    }
    this.#latest = undefined;
    return first ?? ok();
  }

  async #resolve(id: unknown, op: string): Promise<Result<TextModel>> {
    if (id !== undefined) {
      const m = typeof id === "string" ? this.#models.get(id) : undefined;
      return m === undefined ? invalid(op, `model "${String(id)}" is not loaded`) : ok(m);
    }
    if (this.#latest !== undefined) return ok(this.#models.get(this.#latest)!);
    if (this.options.modelPath === undefined) {
      return invalid(op, "no model is loaded: run inference.load first or set the service's modelPath");
    }
    const loaded = await this.load({});
    if (!loaded.ok) return loaded;
    return ok(this.#models.get(loaded.value.id)!);
  }

  #freshId(): string {
    let id: string;
    do id = `model-${this.#nextId++}`; while (this.#models.has(id));
    return id;
  }
}

/** The options an action passes: named values, as `core.action(name).run(options)` takes them. */
export type ActionRequest = Readonly<Record<string, unknown>> & {
  readonly path?: string;
  readonly backend?: string;
  readonly id?: string;
  readonly model?: string;
  readonly prompt?: string;
  readonly messages?: readonly Message[];
};

/**
 * A factory that builds the inference service and registers it in a Core under "inference", with the
 * `inference.*` actions. Fails (registering nothing) when the name or an action name is already taken.
 *
 * @example
 * const r = newService({ defaultBackend: "cpu", modelPath: "/srv/models/qwen3" })(core);
 * if (!r.ok) throw r.error;
 */
export function newService(options: ServiceOptions = {}): (c: Core) => Result<InferenceService> {
  return (c) => {
    const op = "inference.newService";
    if (options.defaultBackend !== undefined && typeof options.defaultBackend !== "string") {
      return invalid(op, "defaultBackend must be a string");
    }
    if (options.modelPath !== undefined && typeof options.modelPath !== "string") {
      return invalid(op, "modelPath must be a string");
    }
    const taken = SERVICE_ACTIONS.filter((name) => c.action(name).exists());
    if (taken.length > 0) return invalid(op, `actions already registered: ${taken.join(", ")}`);
    const svc = new InferenceService(options);
    const registered = c.registerService(SERVICE_NAME, svc);
    if (!registered.ok) return registered;
    const handlers: Record<(typeof SERVICE_ACTIONS)[number], (o: ActionRequest) => unknown> = {
      "inference.load": (o) => svc.load(o),
      "inference.generate": (o) => svc.generate(o),
      "inference.chat": (o) => svc.chat(o),
      "inference.unload": (o) => svc.unload(o),
      "inference.backends": () => svc.backends(),
      "inference.capabilities": (o) => svc.capabilities(o),
    };
    for (const name of SERVICE_ACTIONS) {
      const r = c.action(name, (o) => handlers[name](o as ActionRequest));
      if (!r.ok) return r;
    }
    return ok(svc);
  };
}

/** `newService({})(c)`: the service with no defaults. */
export function registerCore(c: Core): Result<InferenceService> {
  return newService({})(c);
}

async function drain(op: string, model: TextModel, stream: AsyncIterable<Token>): Promise<Result<GenerationOutput>> {
  const tokens: Token[] = [];
  try {
    for await (const t of stream) tokens.push(t);
  } catch (e) {
    return fail(toInferenceError(e, op));
  }
  const e = model.err();
  if (!e.ok) return e;
  return ok({ text: tokens.map((t) => t.text).join(""), tokens, metrics: model.metrics() });
}

function isMessageList(v: unknown): v is Message[] {
  return Array.isArray(v) && v.every((m) =>
    typeof m === "object" && m !== null && typeof m.role === "string" && typeof m.content === "string");
}

function invalid<T>(op: string, message: string): Result<T> {
  return fail(new InferenceError({ code: "invalid_argument", op, message }));
}
