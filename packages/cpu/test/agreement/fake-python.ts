// Stand-in Python interpreters for the reference harnesses' error tests: a shell script installed as
// TORCH_REFERENCE_PYTHON, restored after each test. Needs no torch.
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach } from "vitest";

/** Call inside a describe: returns a function that writes a fake `python3` running `body` and returns its path. */
export function useFakePython(tempDir: (prefix: string) => Promise<string>, prefix: string): (body: string) => Promise<string> {
  const saved = process.env.TORCH_REFERENCE_PYTHON;
  afterEach(() => {
    if (saved === undefined) delete process.env.TORCH_REFERENCE_PYTHON;
    else process.env.TORCH_REFERENCE_PYTHON = saved;
  });
  return async (body) => {
    const path = join(await tempDir(prefix), "python3");
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  };
}
