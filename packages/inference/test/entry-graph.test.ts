// The main entry (and the core subpath) must run unchanged in browsers, Deno and Bun: no `node:` import, no Node
// builtin, no dependency at all anywhere in their import graphs, and no Node type references. Node-only code stays
// under src/node/, reachable only from the `./node` subpath.
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

function graph(entry: string): { files: string[]; external: string[]; nodeTypeRefs: string[] } {
  const files = new Set<string>();
  const external = new Set<string>();
  const nodeTypeRefs: string[] = [];
  const queue = [join(src, entry)];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, "utf8");
    if (/\/\/\/\s*<reference\s+types="node"/.test(text)) nodeTypeRefs.push(relative(src, file));
    const specifiers = [
      ...text.matchAll(/\bfrom\s+["']([^"']+)["']/g),
      ...text.matchAll(/\bimport\s+["']([^"']+)["']/g),
      ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
      ...text.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g),
    ].map((m) => m[1]!);
    for (const spec of specifiers) {
      if (spec.startsWith(".")) queue.push(join(dirname(file), spec.replace(/\.js$/, ".ts")));
      else external.add(spec);
    }
  }
  return { files: [...files].map((f) => relative(src, f)).sort(), external: [...external], nodeTypeRefs };
}

describe("import graph of the browser-safe entries", () => {
  for (const entry of ["index.ts", "core/index.ts"]) {
    it(`${entry} imports nothing outside the package and no Node module`, () => {
      const g = graph(entry);
      expect(g.external).toEqual([]);
      expect(g.nodeTypeRefs).toEqual([]);
      expect(g.files.filter((f) => f.startsWith("node/"))).toEqual([]);
    });
  }

  it("the scan sees real imports (it finds node: in the node subpath)", () => {
    const g = graph("node/index.ts");
    expect(g.external).toEqual(expect.arrayContaining(["node:fs/promises", "node:path"]));
    expect(graph("index.ts").files).toEqual(expect.arrayContaining(["registry.ts", "service.ts", "probe.ts", "core/core.ts"]));
  });
});
