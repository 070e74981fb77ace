// PEFT adapters: LoRA config checks and PEFT's target matching, the exact adapter_config.json PEFT 0.19.1 writes,
// PEFT's tensor keys, a save/load round trip (with rslora scaling and F16 tensors), and every bad adapter failing with
// its typed error naming the file and tensor or field.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { openSafetensors } from "../../src/loader/safetensors-reader.js";
import { writeSafetensors, type TensorToWrite } from "../../src/loader/safetensors-writer.js";
import { encodeFloats } from "../../src/dtype.js";
import { loraScale, matchTargets, normalizeLoRAConfig } from "../../src/training/lora-config.js";
import { loadAdapter, peftAdapterConfig, pythonJsonDumps, PyFloat, saveAdapter, type AdapterTensor } from "../../src/training/peft.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "peft-"));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function expectError(p: Promise<unknown> | (() => unknown), code: string, message: RegExp): Promise<InferenceError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(InferenceError);
    expect((e as InferenceError).code).toBe(code);
    expect((e as InferenceError).message).toMatch(message);
    return e as InferenceError;
  }
  throw new Error(`expected a ${code} error`);
}

const MODULES = new Map<string, { in: number; out: number }>();
for (let l = 0; l < 2; l++) {
  for (const [n, inDim, outDim] of [["self_attn.q_proj", 8, 8], ["self_attn.k_proj", 8, 4], ["self_attn.v_proj", 8, 4], ["self_attn.o_proj", 8, 8], ["mlp.up_proj", 8, 16], ["mlp.down_proj", 16, 8]] as const) {
    MODULES.set(`model.layers.${l}.${n}`, { in: inDim, out: outDim });
  }
}

function ramp(n: number, offset: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + offset) * 0.1);
}

/** The lora tensors of `targets` at rank r, named as the trainer names them. */
function loraTensors(r: number, targets: readonly string[]): AdapterTensor[] {
  const out: AdapterTensor[] = [];
  let k = 0;
  for (const [name, { in: inDim, out: outDim }] of MODULES) {
    if (!targets.some((t) => name.endsWith(`.${t}`))) continue;
    out.push({ name: `${name}.lora_A.weight`, value: ramp(r * inDim, k++), shape: [r, inDim] });
    out.push({ name: `${name}.lora_B.weight`, value: ramp(outDim * r, k++), shape: [outDim, r] });
  }
  return out;
}

const GOOD = { rank: 2, alpha: 16, dropout: 0.05, targetKeys: ["q_proj", "v_proj"] };

describe("normalizeLoRAConfig", () => {
  it("fills the Go defaults: rank 8, alpha 16, q_proj and v_proj, no dropout", () => {
    expect(normalizeLoRAConfig()).toEqual({ rank: 8, alpha: 16, dropout: 0, targetKeys: ["q_proj", "v_proj"] });
    expect(normalizeLoRAConfig({ rank: 4, targetKeys: ["up_proj", "up_proj", "down_proj"] })).toEqual({
      rank: 4, alpha: 16, dropout: 0, targetKeys: ["up_proj", "down_proj"],
    });
  });

  it("names the bad field", async () => {
    await expectError(() => normalizeLoRAConfig({ rank: 0 }), "invalid_argument", /LoRA rank must be an integer > 0, got 0/);
    await expectError(() => normalizeLoRAConfig({ rank: 2.5 }), "invalid_argument", /LoRA rank must be an integer > 0, got 2.5/);
    await expectError(() => normalizeLoRAConfig({ alpha: NaN }), "invalid_argument", /LoRA alpha must be a finite number > 0, got NaN/);
    await expectError(() => normalizeLoRAConfig({ alpha: -1 }), "invalid_argument", /LoRA alpha .* got -1/);
    await expectError(() => normalizeLoRAConfig({ dropout: 1 }), "invalid_argument", /LoRA dropout must be in \[0, 1\), got 1/);
    await expectError(() => normalizeLoRAConfig({ targetKeys: [] }), "invalid_argument", /LoRA targetKeys must be a non-empty array/);
    await expectError(() => normalizeLoRAConfig({ targetKeys: ["q_proj", ""] }), "invalid_argument", /LoRA targetKeys must hold non-empty strings, got ""/);
    await expectError(() => normalizeLoRAConfig({ targetKeys: [3 as unknown as string] }), "invalid_argument", /got 3/);
  });
});

describe("matchTargets", () => {
  const names = [...MODULES.keys()];
  it("matches by equality or by dotted suffix, as PEFT does for a list", () => {
    expect(matchTargets(names, ["q_proj"])).toEqual(["model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]);
    expect(matchTargets(names, ["1.mlp.up_proj"])).toEqual(["model.layers.1.mlp.up_proj"]);
    expect(matchTargets(names, ["model.layers.0.self_attn.k_proj"])).toEqual(["model.layers.0.self_attn.k_proj"]);
  });

  it("does not match a partial component", async () => {
    const e = await expectError(() => matchTargets(names, ["proj"]), "invalid_argument", /LoRA target "proj" matches no module; available: q_proj, k_proj, v_proj, o_proj, up_proj, down_proj/);
    expect((e.details as { availableModules: string[] }).availableModules).toEqual(names);
  });

  it("fails for every target that matches nothing", async () => {
    await expectError(() => matchTargets(names, ["q_proj", "gate_proj", "x"]), "invalid_argument", /LoRA targets "gate_proj", "x" match no module/);
  });

  it("scales by alpha / r, or alpha / sqrt(r) with rslora", () => {
    expect(loraScale(8, 16)).toBe(2);
    expect(loraScale(4, 16, true)).toBe(8);
  });
});

describe("adapter_config.json", () => {
  it("is what PEFT 0.19.1's save_pretrained writes (sorted keys, indent 2, Python floats)", async () => {
    const dir = await tempDir();
    await saveAdapter(dir, { config: { rank: 8, alpha: 16, targetKeys: ["q_proj", "v_proj"] }, baseModelPath: "Qwen/Qwen3-0.6B", tensors: loraTensors(8, ["q_proj", "v_proj"]) });
    const text = await readFile(join(dir, "adapter_config.json"), "utf8");
    expect(text).toBe(`{
  "alora_invocation_tokens": null,
  "alpha_pattern": {},
  "arrow_config": null,
  "auto_mapping": null,
  "base_model_name_or_path": "Qwen/Qwen3-0.6B",
  "bias": "none",
  "corda_config": null,
  "ensure_weight_tying": false,
  "eva_config": null,
  "exclude_modules": null,
  "fan_in_fan_out": false,
  "inference_mode": true,
  "init_lora_weights": true,
  "layer_replication": null,
  "layers_pattern": null,
  "layers_to_transform": null,
  "loftq_config": {},
  "lora_alpha": 16,
  "lora_bias": false,
  "lora_dropout": 0.0,
  "lora_ga_config": null,
  "megatron_config": null,
  "megatron_core": "megatron.core",
  "modules_to_save": null,
  "peft_type": "LORA",
  "peft_version": "0.19.1",
  "qalora_group_size": 16,
  "r": 8,
  "rank_pattern": {},
  "revision": null,
  "target_modules": [
    "q_proj",
    "v_proj"
  ],
  "target_parameters": null,
  "task_type": "CAUSAL_LM",
  "trainable_token_indices": null,
  "use_bdlora": null,
  "use_dora": false,
  "use_qalora": false,
  "use_rslora": false
}`);
    expect(peftAdapterConfig(normalizeLoRAConfig())["base_model_name_or_path"]).toBeNull();
  });

  it("writes numbers and strings as Python's json.dumps does", () => {
    expect(pythonJsonDumps(new PyFloat(0.05))).toBe("0.05");
    expect(pythonJsonDumps(new PyFloat(1e-5))).toBe("1e-05");
    expect(pythonJsonDumps(new PyFloat(2))).toBe("2.0");
    expect(pythonJsonDumps(16.5)).toBe("16.5");
    expect(pythonJsonDumps(1e20 + 0.5)).toBe("100000000000000000000");
    expect(pythonJsonDumps(new PyFloat(1e20))).toBe("1e+20");
    expect(pythonJsonDumps("café")).toBe('"caf\\u00e9"');
  });
});

describe("saveAdapter / loadAdapter", () => {
  it("round-trips tensors, config and scale under PEFT's key names", async () => {
    const dir = await tempDir();
    const tensors = loraTensors(2, GOOD.targetKeys);
    await saveAdapter(dir, { config: GOOD, tensors });
    const file = await openSafetensors(join(dir, "adapter_model.safetensors"));
    expect([...file.entries.keys()]).toContain("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
    expect([...file.entries.keys()].every((k) => k.startsWith("base_model.model.model.layers."))).toBe(true);
    expect(file.metadata["format"]).toBe("pt");
    expect(file.entries.get("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight")?.shape).toEqual([4, 2]);
    await file.close();

    const loaded = await loadAdapter(dir, { modules: MODULES });
    expect(loaded.config).toMatchObject({ rank: 2, alpha: 16, dropout: 0.05, targetKeys: ["q_proj", "v_proj"], useRslora: false });
    expect(loaded.scale).toBe(8);
    expect([...loaded.modules.keys()]).toEqual([
      "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj",
    ]);
    const v1 = loaded.modules.get("model.layers.1.self_attn.v_proj")!;
    expect(v1).toMatchObject({ rank: 2, in: 8, out: 4 });
    expect(Array.from(v1.a)).toEqual(Array.from(tensors.find((t) => t.name === "model.layers.1.self_attn.v_proj.lora_A.weight")!.value));
    expect(Array.from(v1.b)).toEqual(Array.from(tensors.find((t) => t.name === "model.layers.1.self_attn.v_proj.lora_B.weight")!.value));
    // Without the base model's modules it still loads.
    expect((await loadAdapter(dir)).modules.size).toBe(4);
  });

  it("reads F16 tensors, use_rslora and a regex target_modules as PEFT files may have them", async () => {
    const dir = await tempDir();
    const a = Float32Array.from({ length: 4 * 8 }, (_, i) => i / 64);
    const b = Float32Array.from({ length: 8 * 4 }, (_, i) => -i / 64);
    await writeSafetensors(join(dir, "adapter_model.safetensors"), [
      { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", dtype: "F16", shape: [4, 8], data: encodeFloats(a, "F16") },
      { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", dtype: "F16", shape: [8, 4], data: encodeFloats(b, "F16") },
    ]);
    await writeFile(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: 4, lora_alpha: 8, use_rslora: true, target_modules: ".*layers\\.0\\.self_attn\\.q_proj" }));
    const loaded = await loadAdapter(dir, { modules: MODULES });
    expect(loaded.scale).toBe(4);
    expect(loaded.config.targetRegex).toBe(".*layers\\.0\\.self_attn\\.q_proj");
    expect(loaded.config.targetKeys).toEqual(["q_proj"]);
    expect(Array.from(loaded.modules.get("model.layers.0.self_attn.q_proj")!.a)).toEqual(Array.from(a));
  });

  it("rejects bad tensors on save with invalid_argument", async () => {
    const dir = await tempDir();
    const t = loraTensors(2, ["q_proj"]);
    await expectError(saveAdapter(dir, { config: { ...GOOD, rank: 0 }, tensors: t }), "invalid_argument", /LoRA rank must be an integer > 0/);
    await expectError(saveAdapter(dir, { config: GOOD, tensors: t.slice(1) }), "invalid_argument", /module "model.layers.0.self_attn.q_proj" has lora_B but no lora_A/);
    await expectError(saveAdapter(dir, { config: { ...GOOD, rank: 3 }, tensors: t }), "invalid_argument", /must be \(r, in\) .* with r = 3/);
    await expectError(saveAdapter(dir, { config: GOOD, tensors: [{ ...t[0]!, name: "model.layers.0.q.weight" }] }), "invalid_argument", /is not named <module>.lora_A.weight/);
    await expectError(saveAdapter(dir, { config: GOOD, tensors: [{ ...t[0]!, shape: [2, 9] }] }), "invalid_argument", /has 16 values, its shape \[2, 9\] needs 18/);
    const nan = t.map((x) => ({ ...x, value: x.value.slice() }));
    nan[1]!.value[3] = NaN;
    await expectError(saveAdapter(dir, { config: GOOD, tensors: nan }), "invalid_argument", /lora_B.weight" holds a non-finite value \(NaN\) at index 3/);
    await expectError(saveAdapter(dir, { config: GOOD, tensors: [] }), "invalid_argument", /at least one lora_A\/lora_B pair/);
  });
});

describe("loadAdapter rejects bad adapters", () => {
  /** A valid adapter directory, then `edit` applied to its config or tensors. */
  async function badAdapter(editConfig: (c: Record<string, unknown>) => void, editTensors?: (t: TensorToWrite[]) => TensorToWrite[]): Promise<string> {
    const dir = await tempDir();
    await saveAdapter(dir, { config: GOOD, tensors: loraTensors(2, GOOD.targetKeys) });
    const cfgPath = join(dir, "adapter_config.json");
    const cfg = JSON.parse(await readFile(cfgPath, "utf8")) as Record<string, unknown>;
    editConfig(cfg);
    await writeFile(cfgPath, JSON.stringify(cfg));
    if (editTensors !== undefined) {
      const tensors = loraTensors(2, GOOD.targetKeys).map<TensorToWrite>((t) => ({
        name: `base_model.model.${t.name}`, dtype: "F32", shape: t.shape, data: new Uint8Array(t.value.buffer),
      }));
      await writeSafetensors(join(dir, "adapter_model.safetensors"), editTensors(tensors));
    }
    return dir;
  }
  const cfgFile = /adapter_config\.json/;

  it("rank <= 0", async () => {
    const e = await expectError(loadAdapter(await badAdapter((c) => (c["r"] = 0)), { modules: MODULES }), "invalid_model", /adapter_config\.json: r must be an integer > 0, got 0/);
    expect(e.message).toMatch(cfgFile);
    await expectError(loadAdapter(await badAdapter((c) => (c["r"] = -4))), "invalid_model", /r must be an integer > 0, got -4/);
  });

  it("non-finite alpha", async () => {
    const dir = await badAdapter(() => undefined);
    const path = join(dir, "adapter_config.json");
    await writeFile(path, (await readFile(path, "utf8")).replace('"lora_alpha":16', '"lora_alpha":"NaN"'));
    await expectError(loadAdapter(dir), "invalid_model", /lora_alpha must be a finite number > 0, got "NaN"/);
    await expectError(loadAdapter(await badAdapter((c) => (c["lora_alpha"] = null))), "invalid_model", /lora_alpha must be a finite number > 0, got null/);
  });

  it("shape mismatch with the base module", async () => {
    const modules = new Map(MODULES);
    modules.set("model.layers.0.self_attn.v_proj", { in: 8, out: 6 });
    await expectError(
      loadAdapter(await badAdapter(() => undefined), { modules }),
      "invalid_model",
      /adapter_model\.safetensors: tensor "base_model\.model\.model\.layers\.0\.self_attn\.v_proj\.lora_B\.weight" has shape \[4, 2\]; the base module gives 6 outputs, so it must be \[6, 2\]/,
    );
    modules.set("model.layers.0.self_attn.v_proj", { in: 12, out: 4 });
    await expectError(loadAdapter(await badAdapter(() => undefined), { modules }), "invalid_model", /v_proj\.lora_A\.weight" has shape \[2, 8\]; the base module takes 12 inputs/);
  });

  it("a rank different from r", async () => {
    await expectError(loadAdapter(await badAdapter((c) => (c["r"] = 3))), "invalid_model", /lora_A\.weight" has shape \[2, 8\], its first dimension must be r = 3/);
  });

  it("targets that match no module", async () => {
    const e = await expectError(
      loadAdapter(await badAdapter((c) => (c["target_modules"] = ["q_proj", "v_proj", "gate_proj"])), { modules: MODULES }),
      "invalid_model",
      /adapter_config\.json: target_modules do not fit the base model: .*LoRA target "gate_proj" matches no module; available: q_proj, k_proj/,
    );
    expect((e.cause as InferenceError).code).toBe("invalid_argument");
    await expectError(loadAdapter(await badAdapter((c) => (c["target_modules"] = ["q_proj"]))), "invalid_model", /adapts "model\.layers\.0\.self_attn\.v_proj", which target_modules does not select/);
  });

  it("a missing tensor", async () => {
    await expectError(
      loadAdapter(await badAdapter(() => undefined, (t) => t.filter((x) => !x.name.endsWith("layers.1.self_attn.q_proj.lora_B.weight")))),
      "invalid_model",
      /tensor "base_model\.model\.model\.layers\.1\.self_attn\.q_proj\.lora_B\.weight" is missing/,
    );
    await expectError(
      loadAdapter(await badAdapter(() => undefined, (t) => t.filter((x) => !x.name.includes("layers.1.self_attn.q_proj"))), { modules: MODULES }),
      "invalid_model",
      /tensor "base_model\.model\.model\.layers\.1\.self_attn\.q_proj\.lora_A\.weight" is missing: target_modules selects/,
    );
  });

  it("a tensor for no module of the base model, or that is not a LoRA weight", async () => {
    const extra = (name: string) => (t: TensorToWrite[]) => [...t, { ...t[0]!, name }];
    await expectError(
      loadAdapter(await badAdapter((c) => (c["target_modules"] = ["q_proj", "v_proj", "w_proj"]), extra("base_model.model.model.layers.0.self_attn.w_proj.lora_A.weight")), { modules: MODULES }),
      "invalid_model",
      /tensor "base_model\.model\.model\.layers\.0\.self_attn\.w_proj\.lora_A\.weight" is missing its pair|w_proj\.lora_B\.weight" is missing/,
    );
    await expectError(loadAdapter(await badAdapter(() => undefined, extra("model.layers.0.self_attn.q_proj.lora_A.weight"))), "invalid_model", /tensor "model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight" is not a LoRA weight/);
    const both = (t: TensorToWrite[]) => [...t, { ...t[0]!, name: "base_model.model.model.layers.0.self_attn.x_proj.lora_A.weight" }, { ...t[1]!, name: "base_model.model.model.layers.0.self_attn.x_proj.lora_B.weight" }];
    await expectError(
      loadAdapter(await badAdapter((c) => (c["target_modules"] = ["q_proj", "v_proj", "x_proj"]), both), { modules: MODULES }),
      "invalid_model",
      /adapts "model\.layers\.0\.self_attn\.x_proj", which is not a module of the base model/,
    );
  });

  it("DoRA and other unsupported variants", async () => {
    await expectError(loadAdapter(await badAdapter((c) => (c["use_dora"] = true))), "unsupported", /adapter_config\.json: use_dora \(DoRA\) is not supported/);
    await expectError(
      loadAdapter(await badAdapter(() => undefined, (t) => [...t, { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", dtype: "F32", shape: [8], data: new Uint8Array(32) }])),
      "unsupported",
      /is a DoRA magnitude/,
    );
    await expectError(loadAdapter(await badAdapter((c) => (c["peft_type"] = "IA3"))), "unsupported", /peft_type "IA3" is not supported/);
    await expectError(loadAdapter(await badAdapter((c) => (c["rank_pattern"] = { q_proj: 4 }))), "unsupported", /rank_pattern is not supported/);
    await expectError(loadAdapter(await badAdapter((c) => (c["modules_to_save"] = ["lm_head"]))), "unsupported", /modules_to_save is not supported/);
    await expectError(loadAdapter(await badAdapter((c) => (c["bias"] = "all"))), "unsupported", /bias "all" is not supported/);
    await expectError(loadAdapter(await badAdapter((c) => (c["init_lora_weights"] = "pissa"))), "unsupported", /init_lora_weights "pissa" \(it changes the base weights\)/);
  });

  it("missing or malformed files", async () => {
    const dir = await tempDir();
    await expectError(loadAdapter(dir), "invalid_model", /cannot read .*adapter_config\.json/);
    await writeFile(join(dir, "adapter_config.json"), "{ not json");
    await expectError(loadAdapter(dir), "invalid_model", /adapter_config\.json is not valid JSON/);
    await writeFile(join(dir, "adapter_config.json"), '{"peft_type": "LORA", "r": 2, "r": 4}');
    await expectError(loadAdapter(dir), "invalid_model", /has the key "r" twice/);
    await writeFile(join(dir, "adapter_config.json"), '{"r": 2}');
    await expectError(loadAdapter(dir), "invalid_model", /peft_type is missing/);
    await writeFile(join(dir, "adapter_config.json"), '{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "lora_dropout": 1.5}');
    await expectError(loadAdapter(dir), "invalid_model", /lora_dropout must be in \[0, 1\), got 1.5/);
    await writeFile(join(dir, "adapter_config.json"), '{"peft_type": "LORA", "r": 2, "lora_alpha": 4}');
    // The reader's own error for an unreadable file, naming it.
    await expectError(loadAdapter(dir), "model_load_failed", /adapter_model\.safetensors/);
  });
});
