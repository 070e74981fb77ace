/**
 * A CliRuntime over the real registry with a scripted backend registered, and temporary model directories for the
 * commands to find. Not used by the end-to-end tests, which use the real cpu backend.
 */
import { mkdtemp, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel, register, resetRegistry } from "@dappcore/inference";
import type { CliRuntime } from "../../src/cli-runtime.js";
import { registeredBackends } from "../../src/registered-backends.js";
import { ScriptedBackend } from "./scripted-backend.js";

export interface ScriptedSetup {
  readonly backend: ScriptedBackend;
  readonly runtime: CliRuntime;
  /** A directory with a config.json (torch_dtype bfloat16) that the scripted backend loads. */
  readonly modelDir: string;
  /** A scratch directory for other files. */
  readonly root: string;
}

export async function scriptedSetup(overrides: Partial<CliRuntime> = {}): Promise<ScriptedSetup> {
  resetRegistry();
  const backend = new ScriptedBackend();
  register(backend);
  const root = await mkdtemp(join(tmpdir(), "inference-cli-"));
  const modelDir = join(root, "model");
  await mkdir(modelDir);
  await writeFile(join(modelDir, "config.json"), JSON.stringify({ model_type: "qwen3", torch_dtype: "bfloat16" }));
  const runtime: CliRuntime = {
    version: "1.2.3",
    defaultModelDir: join(root, "no-default-model"),
    loadModel,
    backends: registeredBackends,
    convert: async () => {
      throw new Error("convert is not scripted here");
    },
    ...overrides,
  };
  return { backend, runtime, modelDir, root };
}
