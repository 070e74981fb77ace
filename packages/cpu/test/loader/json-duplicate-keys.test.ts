// The duplicate-key scan that runs before JSON.parse (which would keep only the last value silently).
import { describe, expect, it } from "vitest";
import { findDuplicateKey } from "../../src/loader/json-duplicate-keys.js";

describe("findDuplicateKey", () => {
  it("finds duplicates at the top level and in nested objects, with their path", () => {
    expect(findDuplicateKey('{"a":1,"b":2,"a":3}')).toEqual({ key: "a", path: [] });
    expect(findDuplicateKey('{"t":{"x":{"k":1,"k":2}}}')).toEqual({ key: "k", path: ["t", "x"] });
    expect(findDuplicateKey('{"l":[{"k":1},{"k":2,"k":3}]}')).toEqual({ key: "k", path: ["l", "[]"] });
  });

  it("compares keys after unescaping, as JSON.parse does", () => {
    expect(findDuplicateKey('{"a":1,"\\u0061":2}')).toEqual({ key: "a", path: [] });
    expect(findDuplicateKey('{"q\\"":1,"q\\u0022":2}')).toEqual({ key: 'q"', path: [] });
  });

  it("does not confuse values, arrays or sibling objects with keys", () => {
    expect(findDuplicateKey('{"a":"a","b":["a","a"],"c":{"a":1},"d":{"a":2},"e":"{\\"a\\":1,\\"a\\":2}"}')).toBeUndefined();
    expect(findDuplicateKey("[1,2,3]")).toBeUndefined();
    expect(findDuplicateKey("")).toBeUndefined();
  });

  it("handles deep nesting without recursion", () => {
    const deep = "[".repeat(500_000) + "]".repeat(500_000);
    expect(findDuplicateKey(`{"a":${deep},"a":1}`)).toEqual({ key: "a", path: [] });
  });
});
