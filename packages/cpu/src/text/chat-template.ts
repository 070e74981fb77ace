/**
 * Renders a model's Jinja chat template with `@huggingface/jinja` under resource limits, with the globals
 * transformers passes (`messages`, `add_generation_prompt`, `bos_token`, `eos_token`, ..., `raise_exception`,
 * `strftime_now`). A chat template is a program from an untrusted model directory: the interpreter is sandboxed (no
 * path to JS prototypes) but has no limits of its own, so every evaluation step here is counted and timed, every
 * string and list it produces is measured, `range()` is capped, `indent`/`tojson` widths are capped and nesting depth
 * is bounded. A hostile template fails with a typed `InferenceError` naming the limit; the process stays healthy.
 *
 * This file is not tokenization: `chat-encoding.ts` turns the rendered prompt into ids without letting message
 * content become special tokens.
 */
import * as jinja from "@huggingface/jinja";
import { InferenceError } from "@dappcore/inference";

// The package's .d.ts files use extensionless relative imports, which NodeNext resolution cannot follow; these are the
// few shapes this file relies on (checked by the tests against the real runtime).
interface RuntimeValue {
  readonly type: string;
  readonly value: unknown;
}
interface Node {
  readonly type: string;
}
interface Environment {
  set(name: string, value: unknown): unknown;
}
interface InterpreterApi {
  run(program: Program): RuntimeValue;
  evaluate(statement: Node | undefined, environment: Environment): RuntimeValue;
}
type Program = Node & { readonly body: Node[] };
const { Environment: EnvironmentClass, Interpreter } = jinja as unknown as {
  Environment: new () => Environment;
  Interpreter: new (env: Environment) => InterpreterApi;
};
const parse = (jinja as unknown as { parse(tokens: unknown): Program }).parse;
const tokenize = (jinja as unknown as { tokenize(src: string, o: object): unknown }).tokenize;

/** Limits on one render. Every field is optional. */
export interface ChatTemplateLimits {
  /**
   * Most interpreter evaluation steps (expressions and statements; each `for` iteration counts 10). Default 2_000_000.
   * @example { maxSteps: 100_000 }
   */
  readonly maxSteps?: number;
  /**
   * Most characters of any string the template builds, the output included. Default 16_000_000.
   * @example { maxOutputChars: 1_000_000 }
   */
  readonly maxOutputChars?: number;
  /**
   * Most items of any list the template builds, and of `range()`. Default 100_000 (Python Jinja's MAX_RANGE).
   * @example { maxItems: 10_000 }
   */
  readonly maxItems?: number;
  /**
   * Wall-clock milliseconds for one render. Default 1000.
   * @example { timeoutMs: 250 }
   */
  readonly timeoutMs?: number;
  /**
   * Deepest nesting of evaluations (macro recursion). Default 500.
   * @example { maxDepth: 200 }
   */
  readonly maxDepth?: number;
}

/** A chat message as templates see it. `content` may be a string, null, or a list of parts (`{ type, text }`). */
export interface ChatTemplateMessage {
  readonly role: string;
  readonly content?: unknown;
  readonly [key: string]: unknown;
}

/** The variables of one render. */
export interface ChatTemplateContext {
  readonly messages: readonly ChatTemplateMessage[];
  /**
   * End with the header of an assistant turn. Default `false`, as in transformers.
   * @example { messages, addGenerationPrompt: true }
   */
  readonly addGenerationPrompt?: boolean;
  readonly bosToken?: string;
  readonly eosToken?: string;
  /** Other named special tokens (`unk_token`, `pad_token`, ...), passed under their snake_case names. */
  readonly specialTokens?: Readonly<Record<string, string>>;
  /** Tool definitions (`tools` in transformers). */
  readonly tools?: readonly unknown[];
  /** Retrieval documents (`documents` in transformers). */
  readonly documents?: readonly unknown[];
  /**
   * Extra template variables (`chat_template_kwargs`, e.g. `enable_thinking`). They cannot replace the variables
   * above or the helpers: a name that is already set is refused with `invalid_argument`.
   * @example { extra: { enable_thinking: false } }
   */
  readonly extra?: Readonly<Record<string, unknown>>;
}

const OP = "cpu.renderChatTemplate";
const MAX_WIDTH = 256;
const LOOP_ITEM_STEPS = 10;

class LimitError extends Error {
  constructor(readonly limit: string, message: string) {
    super(message);
  }
}
class RaisedByTemplate extends Error {}

function limitError(limit: string, message: string): LimitError {
  return new LimitError(limit, message);
}

/** The jinja interpreter with every evaluation counted, timed and measured. */
class LimitedInterpreter extends Interpreter {
  private steps = 0;
  private depth = 0;
  private readonly deadline: number;
  /** Iterable expressions of `for` loops: the loop's per-item work bypasses `evaluate`, so it is charged up front. */
  private readonly loopIterables = new WeakSet<object>();

  constructor(env: Environment, private readonly limits: Required<ChatTemplateLimits>) {
    super(env);
    this.deadline = performance.now() + limits.timeoutMs;
  }

  override evaluate(statement: Node | undefined, environment: Environment): RuntimeValue {
    const l = this.limits;
    if (++this.steps > l.maxSteps) throw limitError("maxSteps", `chat template exceeded ${l.maxSteps} evaluation steps (limit maxSteps)`);
    if ((this.steps & 255) === 0 && performance.now() > this.deadline) {
      throw limitError("timeoutMs", `chat template ran longer than ${l.timeoutMs} ms (limit timeoutMs)`);
    }
    if (++this.depth > l.maxDepth) {
      this.depth--;
      throw limitError("maxDepth", `chat template nested deeper than ${l.maxDepth} (limit maxDepth)`);
    }
    try {
      if (statement && (statement.type === "FilterExpression" || statement.type === "FilterStatement")) {
        this.checkFilterWidth(statement, environment);
      }
      if (statement?.type === "For") {
        const iterable = (statement as unknown as { iterable: Node & { lhs?: Node } }).iterable;
        this.loopIterables.add(iterable.type === "SelectExpression" && iterable.lhs ? iterable.lhs : iterable);
      }
      const value = super.evaluate(statement, environment);
      const v = value.value as unknown;
      if (statement && this.loopIterables.has(statement)) {
        // Each iteration allocates a scope and a `loop` object inside the library: count it as LOOP_ITEM_STEPS steps.
        this.steps += LOOP_ITEM_STEPS * (Array.isArray(v) ? v.length : v instanceof Map ? v.size : 0);
        if (this.steps > l.maxSteps) throw limitError("maxSteps", `chat template exceeded ${l.maxSteps} evaluation steps (limit maxSteps)`);
        if (performance.now() > this.deadline) throw limitError("timeoutMs", `chat template ran longer than ${l.timeoutMs} ms (limit timeoutMs)`);
      }
      if (typeof v === "string" && v.length > l.maxOutputChars) {
        throw limitError("maxOutputChars", `chat template built a string of ${v.length} characters, over ${l.maxOutputChars} (limit maxOutputChars)`);
      }
      if (Array.isArray(v) && v.length > l.maxItems) {
        throw limitError("maxItems", `chat template built a list of ${v.length} items, over ${l.maxItems} (limit maxItems)`);
      }
      return value;
    } finally {
      this.depth--;
    }
  }

  /** `indent(width)` and `tojson(indent=n)` repeat a string `width` times before any result can be measured. */
  private checkFilterWidth(node: Node, environment: Environment): void {
    const filter = (node as unknown as { filter?: { type: string; callee?: { value?: string }; args?: Node[] } }).filter;
    if (!filter || filter.type !== "CallExpression") return;
    const name = filter.callee?.value;
    if (name !== "indent" && name !== "tojson") return;
    for (const arg of filter.args ?? []) {
      const expr = (arg as { type?: string; value?: Node }).type === "KeywordArgumentExpression" ? (arg as unknown as { value: Node }).value : arg;
      const value = this.evaluate(expr as Node, environment).value;
      if (typeof value === "number" && value > MAX_WIDTH) {
        throw limitError("maxWidth", `chat template asked ${name} for a width of ${value}, over ${MAX_WIDTH} (limit maxWidth)`);
      }
    }
  }
}

const programCache = new Map<string, Program>();

function compile(template: string): Program {
  let program = programCache.get(template);
  if (!program) {
    try {
      program = parse(tokenize(template, { lstrip_blocks: true, trim_blocks: true }));
    } catch (cause) {
      throw new InferenceError({ code: "invalid_argument", op: OP, message: "chat template does not parse", cause });
    }
    if (programCache.size >= 16) programCache.clear();
    programCache.set(template, program);
  }
  return program;
}

/**
 * Renders a chat template to the prompt text.
 *
 * @example renderChatTemplate(tok.chatTemplate!, { messages: [{ role: "user", content: "Hi" }], addGenerationPrompt: true, bosToken: "<bos>" })
 */
export function renderChatTemplate(template: string, ctx: ChatTemplateContext, limits: ChatTemplateLimits = {}): string {
  const l: Required<ChatTemplateLimits> = {
    maxSteps: limits.maxSteps ?? 2_000_000,
    maxOutputChars: limits.maxOutputChars ?? 16_000_000,
    maxItems: limits.maxItems ?? 100_000,
    timeoutMs: limits.timeoutMs ?? 1000,
    maxDepth: limits.maxDepth ?? 500,
  };
  const program = compile(template);
  const env = new EnvironmentClass();
  const vars: Record<string, unknown> = {
    true: true,
    false: false,
    none: null,
    True: true,
    False: false,
    None: null,
    raise_exception: (message: unknown) => {
      throw new RaisedByTemplate(String(message));
    },
    strftime_now: (format: unknown) => strftime(new Date(), String(format)),
    range: (...args: unknown[]) => cappedRange(args, l.maxItems),
    ...Object.fromEntries(Object.entries(ctx.specialTokens ?? {})),
    messages: ctx.messages,
    add_generation_prompt: ctx.addGenerationPrompt ?? false,
  };
  if (ctx.bosToken !== undefined) vars["bos_token"] = ctx.bosToken;
  if (ctx.eosToken !== undefined) vars["eos_token"] = ctx.eosToken;
  if (ctx.tools !== undefined) vars["tools"] = ctx.tools;
  if (ctx.documents !== undefined) vars["documents"] = ctx.documents;
  for (const [key, value] of Object.entries(ctx.extra ?? {})) {
    if (Object.hasOwn(vars, key)) {
      throw new InferenceError({ code: "invalid_argument", op: OP, message: `template variable ${JSON.stringify(key)} cannot be overridden`, details: { variable: key } });
    }
    vars[key] = value;
  }
  for (const [key, value] of Object.entries(vars)) env.set(key, value);
  try {
    const result = new LimitedInterpreter(env, l).run(program).value;
    return String(result);
  } catch (cause) {
    if (cause instanceof LimitError) {
      throw new InferenceError({ code: "invalid_argument", op: OP, message: cause.message, details: { limit: cause.limit } });
    }
    if (cause instanceof RaisedByTemplate) {
      throw new InferenceError({ code: "invalid_argument", op: OP, message: `chat template raised: ${cause.message}`, details: { raised: cause.message } });
    }
    if (cause instanceof RangeError) {
      throw new InferenceError({ code: "invalid_argument", op: OP, message: `chat template exhausted a resource (${cause.message})`, details: { limit: "engine" } });
    }
    if (cause instanceof InferenceError) throw cause;
    throw new InferenceError({ code: "invalid_argument", op: OP, message: "chat template failed", cause });
  }
}

function cappedRange(args: unknown[], maxItems: number): number[] {
  const nums = args.map(Number);
  if (nums.length === 0 || nums.some((n) => !Number.isInteger(n))) throw new Error("range() takes integer arguments");
  const [start, stop, step] = nums.length === 1 ? [0, nums[0] as number, 1] : [nums[0] as number, nums[1] as number, nums[2] ?? 1];
  if (step === 0) throw new Error("range() step must not be zero");
  const count = Math.max(0, Math.ceil((stop - start) / step));
  if (count > maxItems) {
    throw limitError("maxItems", `chat template asked range() for ${count} items, over ${maxItems} (limit maxItems)`);
  }
  return Array.from({ length: count }, (_, i) => start + i * step);
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/** Python's `datetime.now().strftime(format)` for the directives templates use, in the C locale (local time). */
export function strftime(d: Date, format: string): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  const h12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  const dayOfYear = Math.floor((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(d.getFullYear(), 0, 1)) / 86_400_000) + 1;
  const table: Record<string, string> = {
    Y: String(d.getFullYear()),
    y: p2(d.getFullYear() % 100),
    m: p2(d.getMonth() + 1),
    d: p2(d.getDate()),
    "-d": String(d.getDate()),
    "-m": String(d.getMonth() + 1),
    B: MONTHS[d.getMonth()] as string,
    b: (MONTHS[d.getMonth()] as string).slice(0, 3),
    A: DAYS[d.getDay()] as string,
    a: (DAYS[d.getDay()] as string).slice(0, 3),
    H: p2(d.getHours()),
    I: p2(h12),
    M: p2(d.getMinutes()),
    S: p2(d.getSeconds()),
    p: d.getHours() < 12 ? "AM" : "PM",
    j: String(dayOfYear).padStart(3, "0"),
    "%": "%",
  };
  return format.replace(/%(-?[a-zA-Z%])/g, (m, k: string) => table[k] ?? m);
}
