/**
 * Translates the Oniguruma regular expressions found in `tokenizer.json` (Split pre-tokenizers, Replace normalizers)
 * into JavaScript `RegExp`s with the same meaning on the inputs tokenizers see: `\s` is Unicode White_Space (JS adds
 * U+FEFF and drops U+0085), `\d`/`\w` are Unicode-aware, and `(?i:...)` groups (not in Node 20) are expanded.
 *
 * It also refuses patterns that can backtrack exponentially (a quantified group that contains a quantifier, such as
 * `(a+)+`), because a model directory is untrusted input. This file is not a regex engine.
 */
import { InferenceError } from "@dappcore/inference";

const WS = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WORD = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";

function unsupported(pattern: string, why: string): InferenceError {
  return new InferenceError({
    code: "unsupported",
    op: "cpu.loadTokenizer",
    message: `tokenizer.json regex ${JSON.stringify(pattern)}: ${why}`,
    details: { pattern },
  });
}

/** Compiles an Oniguruma pattern from `tokenizer.json` to a global Unicode `RegExp`. */
export function compileTokenizerRegex(pattern: string): RegExp {
  rejectNestedQuantifiers(pattern);
  let out = "";
  let inClass = false;
  let caseInsensitiveDepth = 0;
  const groupIsCi: boolean[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "\\") {
      const n = pattern[i + 1];
      if (n === undefined) throw unsupported(pattern, "trailing backslash");
      i++;
      if (n === "s") out += inClass ? WS : `[${WS}]`;
      else if (n === "S") {
        if (inClass) throw unsupported(pattern, "\\S inside a character class");
        out += `[^${WS}]`;
      } else if (n === "d") out += "\\p{Nd}";
      else if (n === "D") {
        if (inClass) throw unsupported(pattern, "\\D inside a character class");
        out += "\\P{Nd}";
      } else if (n === "w") out += inClass ? WORD : `[${WORD}]`;
      else if (n === "W") {
        if (inClass) throw unsupported(pattern, "\\W inside a character class");
        out += `[^${WORD}]`;
      } else if (n === "p" || n === "P") {
        const close = pattern.indexOf("}", i);
        if (pattern[i + 1] !== "{" || close < 0) throw unsupported(pattern, "\\p without {name}");
        out += `\\${n}${pattern.slice(i + 1, close + 1)}`;
        i = close;
      } else if (/[A-Za-z]/.test(n) && !"tnrfvbBux0".includes(n)) {
        throw unsupported(pattern, `escape \\${n}`);
      } else out += `\\${n}`;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      out += c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      if (pattern[i + 1] === "^") out += pattern[++i];
      if (pattern[i + 1] === "]") out += `\\${pattern[++i]}`;
      continue;
    }
    if (c === "(") {
      if (pattern.startsWith("(?i:", i)) {
        groupIsCi.push(true);
        caseInsensitiveDepth++;
        out += "(?:";
        i += 3;
        continue;
      }
      if (pattern.startsWith("(?>", i)) throw unsupported(pattern, "atomic groups");
      if (pattern[i + 1] === "?" && /[a-zA-Z-]/.test(pattern[i + 2] ?? "")) throw unsupported(pattern, "inline flags");
      groupIsCi.push(false);
      out += c;
      continue;
    }
    if (c === ")") {
      if (groupIsCi.pop()) caseInsensitiveDepth--;
      out += c;
      continue;
    }
    if ((c === "+" || c === "*" || c === "?" || c === "}") && pattern[i + 1] === "+") {
      throw unsupported(pattern, "possessive quantifiers");
    }
    out += caseInsensitiveDepth > 0 && /[A-Za-z]/.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
  }
  try {
    return new RegExp(out, "gu");
  } catch (cause) {
    throw unsupported(pattern, `not a valid pattern (${(cause as Error).message})`);
  }
}

/** Throws when a group that contains a quantifier is itself repeated without bound: `(a+)+`, `(?:x*y)*`, `(a|b+){2,}`. */
function rejectNestedQuantifiers(pattern: string): void {
  const stack: boolean[] = []; // per open group: does it contain an unbounded quantifier?
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      if (pattern[i + 1] === "]") i++;
    } else if (c === "(") stack.push(false);
    else if (c === ")") {
      const inner = stack.pop() ?? false;
      const q = pattern.slice(i + 1, i + 12);
      const repeated = /^(?:[+*]|\{\d*,\})/.test(q);
      if (inner && repeated) throw unsupported(pattern, "nested quantifiers can backtrack exponentially");
      if ((inner || repeated) && stack.length > 0) stack[stack.length - 1] = true;
    } else if ((c === "+" || c === "*" || (c === "{" && /^\{\d*,\}/.test(pattern.slice(i)))) && stack.length > 0) {
      stack[stack.length - 1] = true;
    }
  }
}
