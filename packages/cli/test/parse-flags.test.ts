import { describe, expect, it } from "vitest";
import { UsageError } from "../src/cli-failure.js";
import { decimalFlag, integerFlag, listFlag, parseFlags } from "../src/parse-flags.js";
import { generateOptionsFrom, modelRequestFrom, samplingFlags, loadFlags } from "../src/model-flags.js";

const spec = { ...loadFlags, ...samplingFlags, json: { type: "boolean" } } as const;

function usage(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return e as UsageError;
  }
  throw new Error("expected a UsageError");
}

describe("parseFlags", () => {
  it("reads long, short and repeated flags", () => {
    const { values, positionals } = parseFlags("generate", ["-m", "dir", "--stop", "a", "--stop", "b", "hi", "there"], spec, 5);
    expect(values.model).toBe("dir");
    expect(listFlag(values, "stop")).toEqual(["a", "b"]);
    expect(positionals).toEqual(["hi", "there"]);
  });

  it("names an unknown flag", () => {
    const e = usage(() => parseFlags("generate", ["--tempreature", "1"], spec, 1));
    expect(e.message).toBe('unknown flag "--tempreature"');
    expect(e.command).toBe("generate");
  });

  it("names a flag that lacks its value", () => {
    expect(usage(() => parseFlags("generate", ["--model"], spec, 1)).message).toBe('flag "--model" needs a value');
    expect(usage(() => parseFlags("generate", ["-m"], spec, 1)).message).toBe('flag "--model" needs a value');
  });

  it("explains a value that looks like a flag, and takes anything after --", () => {
    expect(usage(() => parseFlags("generate", ["--stop", "-x"], spec, 1)).message)
      .toBe('flag "--stop" needs a value (write --stop=VALUE for a value that starts with "-")');
    expect(parseFlags("generate", ["--", "--seed", "-1"], spec, 2).positionals).toEqual(["--seed", "-1"]);
  });

  it("refuses a value on a boolean flag", () => {
    expect(usage(() => parseFlags("info", ["--json=yes"], spec, 1)).message).toBe('flag "--json" does not take a value');
  });

  it("refuses surplus arguments", () => {
    expect(usage(() => parseFlags("backends", ["x"], spec, 0)).message).toBe('unexpected argument "x" (takes no arguments)');
    expect(usage(() => parseFlags("info", ["a", "b"], spec, 1)).message).toBe('unexpected argument "b" (takes at most 1 argument)');
  });
});

describe("number flags", () => {
  it("accepts integers at the bounds and rejects the rest, naming the flag and the range", () => {
    expect(integerFlag("g", { "top-k": "0" }, "top-k", 0)).toBe(0);
    expect(integerFlag("g", { "top-k": "40" }, "top-k", 0)).toBe(40);
    expect(integerFlag("g", {}, "top-k", 0)).toBeUndefined();
    for (const bad of ["-1", "1.5", "abc", "", "0x10", "1e3", "99999999999999999999"]) {
      expect(usage(() => integerFlag("g", { "top-k": bad }, "top-k", 0)).message).toBe(`--top-k must be an integer >= 0, got ${JSON.stringify(bad)}`);
    }
    expect(usage(() => integerFlag("g", { n: "11" }, "n", 1, 10)).message).toBe('--n must be an integer in [1, 10], got "11"');
  });

  it("accepts decimals in range and rejects the rest", () => {
    expect(decimalFlag("g", { "top-p": "0.9" }, "top-p", { min: 0, max: 1 })).toBe(0.9);
    expect(decimalFlag("g", { "top-p": "1" }, "top-p", { min: 0, max: 1 })).toBe(1);
    expect(decimalFlag("g", { "top-p": ".5" }, "top-p", { min: 0, max: 1 })).toBe(0.5);
    for (const bad of ["1.5", "-0.1", "nan", "Infinity", "", "0.5x"]) {
      expect(usage(() => decimalFlag("g", { "top-p": bad }, "top-p", { min: 0, max: 1 })).message).toBe(`--top-p must be a number in [0, 1], got ${JSON.stringify(bad)}`);
    }
    expect(usage(() => decimalFlag("g", { t: "1e400" }, "t", { min: 0 })).message).toBe('--t must be a number >= 0, got "1e400"');
    expect(usage(() => decimalFlag("g", { r: "0" }, "r", { min: 0, minExclusive: true })).message).toBe('--r must be a number > 0, got "0"');
  });
});

describe("model flags", () => {
  it("turn sampling flags into generate options, leaving unset ones out", () => {
    const { values } = parseFlags("generate", [
      "--max-tokens", "12", "--temperature", "0.7", "--top-k", "40", "--top-p", "0.9", "--min-p", "0.05",
      "--seed", "42", "--repeat-penalty", "1.1", "--stop", "\n\n",
    ], spec, 0);
    expect(generateOptionsFrom("generate", values)).toEqual({
      maxTokens: 12, temperature: 0.7, topK: 40, topP: 0.9, minP: 0.05, seed: 42, repeatPenalty: 1.1, stop: ["\n\n"],
    });
    expect(generateOptionsFrom("generate", parseFlags("generate", [], spec, 0).values)).toEqual({});
  });

  it("check every sampling range", () => {
    const cases: [string[], string][] = [
      [["--max-tokens", "-5"], '--max-tokens must be an integer >= 0, got "-5"'],
      [["--temperature", "-1"], '--temperature must be a number >= 0, got "-1"'],
      [["--top-k", "x"], '--top-k must be an integer >= 0, got "x"'],
      [["--top-p", "2"], '--top-p must be a number in [0, 1], got "2"'],
      [["--min-p", "2"], '--min-p must be a number in [0, 1], got "2"'],
      [["--seed", "-3"], '--seed must be an integer >= 0, got "-3"'],
      [["--repeat-penalty", "0"], '--repeat-penalty must be a number > 0, got "0"'],
      [["--stop", ""], "--stop needs a non-empty string"],
    ];
    for (const [args, message] of cases) {
      const { values } = parseFlags("generate", args, spec, 0);
      expect(usage(() => generateOptionsFrom("generate", values)).message).toBe(message);
    }
  });

  it("check the load flags", () => {
    const parse = (args: string[]) => modelRequestFrom("chat", parseFlags("chat", args, spec, 0).values);
    expect(parse(["--backend", "cpu", "--context-len", "512", "-m", "d"])).toEqual({ model: "d", backend: "cpu", contextLen: 512 });
    expect(usage(() => parse(["--context-len", "-1"])).message).toBe('--context-len must be an integer >= 0, got "-1"');
    expect(usage(() => parse(["--backend", " "])).message).toBe("--backend needs a backend name");
    expect(usage(() => parse(["--model", ""])).message).toBe("--model needs a directory");
  });
});
