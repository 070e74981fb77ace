// Tests of bench/lib/cli-args.mjs, the flag reading both benchmarks' command lines share: the walk over argv with
// the common flags, the list and number checks, and their typed errors.
import { describe, expect, it } from "vitest";
import { pickList, positiveIntList, walkFlags, wholeNumber } from "../lib/cli-args.mjs";

describe("cli-args", () => {
  const errorOf = (fn) => {
    try {
      fn();
    } catch (e) {
      return e;
    }
    throw new Error("did not throw");
  };

  it("walks flags: --quick skipped, --help set, values taken, unknown flags and missing values refused", () => {
    const settings = { help: false };
    const seen = [];
    walkFlags(["--quick", "-h", "--n", "3"], settings, "test.op", (flag, value) => flag === "--n" && seen.push(value()) > 0);
    expect(settings.help).toBe(true);
    walkFlags(["--threads", "2,1,2", "--timeout", "60"], settings, "test.op", () => false);
    expect(settings).toMatchObject({ threads: [2, 1], timeoutSec: 60 });
    expect(errorOf(() => walkFlags(["--timeout", "0"], {}, "test.op", () => false)).message).toBe(
      'test.op: --timeout expects whole numbers from 1 to 86400, got "0"',
    );
    expect(seen).toEqual(["3"]);
    const unknown = errorOf(() => walkFlags(["--x"], {}, "test.op", () => false));
    expect(unknown.code).toBe("invalid_argument");
    expect(unknown.op).toBe("test.op");
    expect(unknown.message).toBe('test.op: unknown option "--x" (see --help)');
    expect(unknown.details).toEqual({ option: "--x" });
    const missing = errorOf(() => walkFlags(["--n", "--quick"], {}, "test.op", (flag, value) => value() !== undefined));
    expect(missing.message).toBe("test.op: --n needs a value");
  });

  it("picks lists in known order and reads whole numbers", () => {
    expect(pickList("test.op", "--l", " B,a ", ["a", "b", "c"], "letter")).toEqual(["a", "b"]);
    expect(errorOf(() => pickList("test.op", "--l", "a,z", ["a", "b"], "letter")).message).toBe('test.op: unknown letter "z" (known: a, b)');
    expect(positiveIntList("test.op", "--t", "2,1,2", 4)).toEqual([2, 1]);
    expect(errorOf(() => positiveIntList("test.op", "--t", "1,5", 4)).message).toBe('test.op: --t expects whole numbers from 1 to 4, got "5"');
    expect(wholeNumber("test.op", "--w", "0", 3)).toBe(0);
    expect(errorOf(() => wholeNumber("test.op", "--w", "-1", 3)).message).toBe('test.op: --w expects a whole number from 0 to 3, got "-1"');
  });
});
