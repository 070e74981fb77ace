#!/usr/bin/env node
// Compiles the AssemblyScript kernels (packages/cpu/assembly/) to packages/cpu/wasm-dist/kernels.wasm with
// assemblyscript's compiler API. Only the sources are committed; this script makes the binary (the root build
// calls it; the kernel tests call it when the binary is missing or older than its sources).
// Not a general build tool: one entry, the flags in assembly/asconfig.json (SIMD, threads, imported shared memory).
//
//   node packages/cpu/scripts/build-wasm.mjs            build when a source is newer than the binary
//   node packages/cpu/scripts/build-wasm.mjs --force    always build
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const sourceDir = join(packageDir, "assembly");
const outDir = join(packageDir, "wasm-dist");
/** The binary this script produces. */
export const kernelsWasmPath = join(outDir, "kernels.wasm");

/** Newest modification time (ms) among the kernel sources, this script included. */
async function newestSource() {
  let newest = (await stat(fileURLToPath(import.meta.url))).mtimeMs;
  for (const name of await readdir(sourceDir)) {
    if (!name.endsWith(".ts") && !name.endsWith(".json")) continue;
    newest = Math.max(newest, (await stat(join(sourceDir, name))).mtimeMs);
  }
  return newest;
}

/**
 * The module must own no data: the JavaScript arena places every buffer from offset 0 up, and a data segment would
 * be rewritten into the shared memory by every thread that instantiates it. Reads the section ids of the binary.
 */
function assertNoData(bytes) {
  let p = 8;
  while (p < bytes.length) {
    const id = bytes[p++];
    let size = 0;
    let shift = 0;
    for (;;) {
      const b = bytes[p++];
      size |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    if (id === 11 && size > 1) throw new Error("kernels.wasm has a data segment; the kernels must not use static data");
    p += size;
  }
}

/**
 * Builds wasm-dist/kernels.wasm when it is missing or older than a source (or always, with force). Safe to run
 * from several processes at once: each writes a private temporary file and renames it into place.
 * @returns the path of the binary and whether it was rebuilt.
 */
export async function buildWasm({ force = false, quiet = false } = {}) {
  if (!force) {
    try {
      const built = (await stat(kernelsWasmPath)).mtimeMs;
      if (built >= (await newestSource())) return { path: kernelsWasmPath, rebuilt: false };
    } catch {
      // missing: build it
    }
  }
  const { default: asc } = await import("assemblyscript/asc");
  await mkdir(outDir, { recursive: true });
  const tmp = `${kernelsWasmPath}.${process.pid}.${Date.now()}.tmp`;
  const log = [];
  const collect = { write: (chunk) => (log.push(String(chunk)), true) };
  const { error } = await asc.main(
    [join(sourceDir, "index.ts"), "--config", join(sourceDir, "asconfig.json"), "--outFile", tmp],
    { stdout: collect, stderr: collect },
  );
  if (error) {
    await rm(tmp, { force: true });
    throw new Error(`AssemblyScript build of ${relative(process.cwd(), sourceDir)} failed: ${error.message}\n${log.join("")}`);
  }
  assertNoData(await readFile(tmp));
  await rename(tmp, kernelsWasmPath);
  if (!quiet) process.stdout.write(`built ${relative(process.cwd(), kernelsWasmPath)}\n`);
  return { path: kernelsWasmPath, rebuilt: true };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  buildWasm({ force: process.argv.includes("--force") }).catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
