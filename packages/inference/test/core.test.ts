// The small Core: services, named actions (registration, run, errors), broadcast and subscriptions.
import { describe, expect, it } from "vitest";
import { Core as CoreFromSubpath } from "@dappcore/inference/core";
import { Core, fail, InferenceError, ok } from "@dappcore/inference";

describe("Core services", () => {
  it("is the same class from the main entry and the core subpath", () => {
    expect(CoreFromSubpath).toBe(Core);
  });

  it("registers and finds services, in registration order", () => {
    const c = new Core();
    expect(c.registerService("b", { n: 1 })).toEqual(ok());
    expect(c.registerService("a", { n: 2 })).toEqual(ok());
    expect(c.services()).toEqual(["b", "a"]);
    const r = c.service<{ n: number }>("a");
    expect(r.ok && r.value.n).toBe(2);
  });

  it("rejects empty and duplicate names, and reports a missing service", () => {
    const c = new Core();
    let r = c.registerService("", {});
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("invalid_argument");
    expect(r.error.message).toBe("core.registerService: service name must be a non-empty string");
    c.registerService("x", 1);
    r = c.registerService("x", 2);
    if (r.ok) throw new Error("expected failure");
    expect(r.error.message).toBe('core.registerService: service "x" is already registered');
    const s = c.service("nope");
    if (s.ok) throw new Error("expected failure");
    expect(s.error.code).toBe("invalid_argument");
    expect(s.error.message).toBe('core.service: service "nope" is not registered');
    expect(s.error.details).toEqual({ name: "nope", registered: ["x"] });
  });
});

describe("Core actions", () => {
  it("registers, lists and runs actions with options; handlers may be async or return Results", async () => {
    const c = new Core();
    const reg = c.action("add", ({ a, b }) => Number(a) + Number(b));
    expect(reg.ok).toBe(true);
    c.action("later", async () => "done");
    c.action("result", () => ok({ x: 1 }));
    c.action("failing", () => fail(new InferenceError({ code: "unsupported", op: "failing", message: "no" })));
    expect(c.actions()).toEqual(["add", "later", "result", "failing"]);
    expect(await c.action("add").run({ a: 2, b: 3 })).toEqual(ok(5));
    expect(await c.action("later").run()).toEqual(ok("done"));
    expect(await c.action("result").run()).toEqual(ok({ x: 1 }));
    const f = await c.action("failing").run();
    expect(!f.ok && f.error.message).toBe("failing: no");
  });

  it("a handle made before registration sees the action once registered", async () => {
    const c = new Core();
    const handle = c.action("late");
    expect(handle.exists()).toBe(false);
    expect(handle.name).toBe("late");
    c.action("late", () => 1);
    expect(handle.exists()).toBe(true);
    expect(await handle.run()).toEqual(ok(1));
  });

  it("running an unknown action fails with a typed error", async () => {
    const c = new Core();
    c.action("known", () => 1);
    const r = await c.action("unknown").run();
    if (r.ok) throw new Error("expected failure");
    expect(r.error.code).toBe("invalid_argument");
    expect(r.error.message).toBe('core.action: action "unknown" is not registered');
    expect(r.error.details).toEqual({ name: "unknown", registered: ["known"] });
  });

  it("catches a throwing handler into a failed Result", async () => {
    const c = new Core();
    c.action("typed", () => { throw new InferenceError({ code: "aborted", op: "typed", message: "stopped" }); });
    c.action("plain", async () => { throw new Error("kaput"); });
    const t = await c.action("typed").run();
    expect(!t.ok && [t.error.code, t.error.message]).toEqual(["aborted", "typed: stopped"]);
    const p = await c.action("plain").run();
    expect(!p.ok && [p.error.code, p.error.message]).toEqual(["internal", "plain: unexpected failure: kaput"]);
  });

  it("rejects empty names, duplicates and non-function handlers", () => {
    const c = new Core();
    const cases: [[string, unknown], string][] = [
      [["", () => 1], "core.action: action name must be a non-empty string"],
      [["x", 5 as never], 'core.action: action "x" handler must be a function'],
    ];
    for (const [args, message] of cases) {
      const r = c.action(args[0], args[1] as () => number);
      expect(!r.ok && [r.error.code, r.error.message]).toEqual(["invalid_argument", message]);
    }
    c.action("dup", () => 1);
    const r = c.action("dup", () => 2);
    expect(!r.ok && r.error.message).toBe('core.action: action "dup" is already registered');
  });
});

describe("Core messages", () => {
  it("broadcasts to subscribers in order; unsubscribing stops delivery", () => {
    const c = new Core();
    const got: string[] = [];
    const off = c.onMessage((m) => got.push(`a:${String(m)}`));
    c.onMessage((m, core) => { got.push(`b:${String(m)}`); expect(core).toBe(c); });
    expect(c.broadcast("1")).toEqual(ok());
    off();
    off();
    c.broadcast("2");
    expect(got).toEqual(["a:1", "b:1", "b:2"]);
  });

  it("a throwing subscriber does not stop the others; the first error is returned", () => {
    const c = new Core();
    const got: string[] = [];
    c.onMessage(() => { throw new Error("first"); });
    c.onMessage(() => { throw new Error("second"); });
    c.onMessage(() => got.push("third"));
    const r = c.broadcast({});
    expect(got).toEqual(["third"]);
    expect(!r.ok && [r.error.code, r.error.message]).toEqual(["internal", "core.broadcast: unexpected failure: first"]);
  });
});
