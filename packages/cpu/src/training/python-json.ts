/**
 * Python's `json.dumps(value, indent=2, sort_keys=True)` in TypeScript, so the adapter_config.json we write is byte for
 * byte what PEFT's `save_pretrained` writes (floats as `0.0`, `1e-05`; ASCII escapes). Only what PEFT configs hold: no
 * parser, no general JSON library.
 */

/** A number Python holds as a float, so `json.dumps` writes `0.0` rather than `0`. */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** Python's `repr` of a finite float: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
function pyFloatRepr(x: number): string {
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mantissa, expText] = x.toExponential().split("e") as [string, string];
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    return `${mantissa}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  const s = String(x);
  return s.includes(".") ? s : `${s}.0`;
}

/** `json.dumps(value, indent=2, sort_keys=True)` as Python writes it (ASCII only, `\uXXXX` escapes). */
export function pythonJsonDumps(value: unknown, indent = ""): string {
  const inner = `${indent}  `;
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (value === null || value === undefined) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : pyFloatRepr(value);
  if (typeof value === "string") return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => inner + pythonJsonDumps(v, inner)).join(",\n")}\n${indent}]`;
  }
  const keys = Object.keys(value as object).sort();
  if (keys.length === 0) return "{}";
  const rec = value as Record<string, unknown>;
  return `{\n${keys.map((k) => `${inner}${pythonJsonDumps(k)}: ${pythonJsonDumps(rec[k], inner)}`).join(",\n")}\n${indent}}`;
}
