/**
 * Finds a duplicate key in JSON text before `JSON.parse` silently keeps the last one. A single linear pass with an
 * explicit stack (no recursion, so deeply nested input cannot overflow the call stack). It is not a validator: it
 * assumes nothing about well-formedness and leaves syntax errors to `JSON.parse`.
 */

/** A key that occurs twice in one JSON object, and the path of keys to that object (empty for the top level). */
export interface DuplicateKey {
  readonly key: string;
  readonly path: readonly string[];
}

interface Frame {
  /** Keys seen in this object; undefined for arrays. */
  readonly keys: Set<string> | undefined;
  /** The key under which this container sits in its parent (for the error path). */
  readonly name: string;
  /** In an object: true when the next string is a key. */
  expectKey: boolean;
}

/** Returns the first duplicate key in `text`, or undefined when every object's keys are distinct. */
export function findDuplicateKey(text: string): DuplicateKey | undefined {
  const stack: Frame[] = [];
  let pendingName = "";
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const end = stringEnd(text, i);
      const top = stack[stack.length - 1];
      if (top !== undefined && top.keys !== undefined && top.expectKey) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, end)) as string;
        } catch {
          return undefined; // malformed string: JSON.parse reports it
        }
        if (top.keys.has(key)) return { key, path: stack.slice(1).map((f) => f.name) };
        top.keys.add(key);
        top.expectKey = false;
        pendingName = key;
      }
      i = end;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      const top = stack[stack.length - 1];
      const name = top === undefined ? "" : top.keys !== undefined ? pendingName : "[]";
      stack.push({ keys: c === 0x7b ? new Set() : undefined, name, expectKey: c === 0x7b });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
    } else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top !== undefined && top.keys !== undefined) top.expectKey = true;
    }
    i++;
  }
  return undefined;
}

/** Index one past the closing quote of the string starting at `start` (or the end of the text when unterminated). */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i += 2;
    else if (c === 0x22) return i + 1;
    else i++;
  }
  return text.length;
}
