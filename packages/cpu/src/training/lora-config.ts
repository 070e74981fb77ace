/**
 * LoRA settings for training and for adapters: `normalizeLoRAConfig` checks a (partial) `LoRAConfig` and fills the
 * defaults of the Go source (rank 8, alpha 16, q_proj and v_proj, no dropout); `matchTargets` picks the modules a
 * list of target keys selects, by PEFT's rule for a list of `target_modules` (a module matches a key when its name
 * equals the key or ends with `.` + key; see PEFT `tuners_utils.check_target_module_exists`).
 *
 * This file does not read or write adapters (`peft.ts`) and does not attach LoRA to a model.
 */
import { defaultLoRAConfig, InferenceError, type LoRAConfig } from "@dappcore/inference";

/** A checked LoRA configuration with every field present. */
export interface NormalizedLoRAConfig {
  /** Rank r of the update B·A (an integer > 0). */
  readonly rank: number;
  /** Scaling numerator: the update is multiplied by alpha / r (finite, > 0). */
  readonly alpha: number;
  /** Dropout probability on the LoRA input, in [0, 1). */
  readonly dropout: number;
  /** Module-name suffixes to adapt, without duplicates, in the order given. */
  readonly targetKeys: readonly string[];
}

const OP = "cpu.loraConfig";

function bad(field: string, message: string, value: unknown): InferenceError {
  return new InferenceError({ code: "invalid_argument", op: OP, message: `LoRA ${field} ${message}`, details: { field, value } });
}

/**
 * Checks `config` and fills the defaults (`defaultLoRAConfig()`: rank 8, alpha 16, targets q_proj and v_proj;
 * dropout 0). Throws `invalid_argument` naming the field: rank must be an integer > 0, alpha finite and > 0, dropout
 * in [0, 1), targetKeys a non-empty array of non-empty strings.
 *
 * @example normalizeLoRAConfig({ rank: 4 }) // { rank: 4, alpha: 16, dropout: 0, targetKeys: ["q_proj", "v_proj"] }
 */
export function normalizeLoRAConfig(config: Partial<LoRAConfig> = {}): NormalizedLoRAConfig {
  const defaults = defaultLoRAConfig();
  const rank = config.rank ?? defaults.rank;
  const alpha = config.alpha ?? defaults.alpha;
  const dropout = config.dropout ?? 0;
  const targetKeys = config.targetKeys ?? defaults.targetKeys;
  if (typeof rank !== "number" || !Number.isSafeInteger(rank) || rank <= 0) {
    throw bad("rank", `must be an integer > 0, got ${String(rank)}`, rank);
  }
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) {
    throw bad("alpha", `must be a finite number > 0, got ${String(alpha)}`, alpha);
  }
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) {
    throw bad("dropout", `must be in [0, 1), got ${String(dropout)}`, dropout);
  }
  if (!Array.isArray(targetKeys) || targetKeys.length === 0) {
    throw bad("targetKeys", "must be a non-empty array of module names", targetKeys);
  }
  const keys: string[] = [];
  for (const key of targetKeys as unknown[]) {
    if (typeof key !== "string" || key.trim().length === 0) {
      throw bad("targetKeys", `must hold non-empty strings, got ${JSON.stringify(key) ?? String(key)}`, targetKeys);
    }
    if (!keys.includes(key)) keys.push(key);
  }
  return { rank, alpha, dropout, targetKeys: keys };
}

/** PEFT's rule for one entry of a `target_modules` list: equal to the module name, or its last dotted components. */
export function targetMatches(moduleName: string, targetKey: string): boolean {
  return moduleName === targetKey || moduleName.endsWith(`.${targetKey}`);
}

/**
 * The modules of `moduleNames` that `targetKeys` select, in `moduleNames` order. Every key must select at least one
 * module (stricter than PEFT, which fails only when no key matches anything, so a misspelt key is caught); otherwise
 * `invalid_argument` listing the available module names (their last components in the message, every full name in
 * `details.availableModules`).
 *
 * @example matchTargets(["model.layers.0.self_attn.q_proj", "model.layers.0.mlp.up_proj"], ["q_proj"])
 */
export function matchTargets(moduleNames: readonly string[], targetKeys: readonly string[]): string[] {
  const unmatched = targetKeys.filter((key) => !moduleNames.some((name) => targetMatches(name, key)));
  if (unmatched.length > 0) {
    const leaves = [...new Set(moduleNames.map((n) => n.slice(n.lastIndexOf(".") + 1)))];
    throw new InferenceError({
      code: "invalid_argument",
      op: OP,
      message:
        `LoRA target${unmatched.length > 1 ? "s" : ""} ${unmatched.map((k) => JSON.stringify(k)).join(", ")} ` +
        `match${unmatched.length > 1 ? "" : "es"} no module; available: ${leaves.length > 0 ? leaves.join(", ") : "(none)"}`,
      details: { unmatched, availableModules: [...moduleNames] },
    });
  }
  return moduleNames.filter((name) => targetKeys.some((key) => targetMatches(name, key)));
}

/**
 * The factor LoRA's update is scaled by: alpha / r, or alpha / sqrt(r) with rank-stabilised LoRA (PEFT `use_rslora`).
 *
 * @example loraScale(8, 16) // 2
 */
export function loraScale(rank: number, alpha: number, useRslora = false): number {
  return useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
}
