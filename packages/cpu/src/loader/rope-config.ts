/**
 * Reads rope settings from config.json in both spellings transformers has used: `rope_theta` + `rope_scaling`
 * (v4) and `rope_parameters` (v5, per layer type for gemma3). Supported scalings: none/default, linear and llama3;
 * others fail with `unsupported` naming them. Not the rope maths: the engine applies these numbers.
 */
import { InferenceError } from "@dappcore/inference";
import type { RopeScaling } from "../model-config.js";
import { FieldReader, isJsonObject, type JsonObject } from "./config-fields.js";

export interface RopeSettings {
  readonly theta: number;
  readonly scaling: RopeScaling;
}

const supportedScalings = ["default", "linear", "llama3"];

/**
 * Rope settings for one layer kind. `params` is the rope dict for it (v4 `rope_scaling`, or a v5 `rope_parameters`
 * entry, which also carries `rope_theta`); `thetaFallback` is used when the dict has no `rope_theta`.
 */
export function readRope(
  fields: FieldReader,
  field: string,
  params: unknown,
  thetaFallback: number,
): RopeSettings {
  if (params === undefined || params === null) return { theta: thetaFallback, scaling: { type: "none" } };
  if (!isJsonObject(params)) throw fields.invalid(field, `must be an object or null, got ${JSON.stringify(params)}`);
  const sub = new FieldReader(params, fields.source, fields.op);
  const theta = sub.positiveNumber("rope_theta", thetaFallback);
  const kind = sub.value("rope_type") ?? sub.value("type") ?? "default";
  if (typeof kind !== "string") throw fields.invalid(`${field}.rope_type`, `must be a string, got ${JSON.stringify(kind)}`);
  const at = (name: string) => `${field}.${name}`;
  const num = (name: string) => {
    const v = params[name];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw fields.invalid(at(name), `must be a finite number > 0 for rope_type "${kind}", got ${JSON.stringify(v ?? null)}`);
    }
    return v;
  };
  switch (kind) {
    case "default":
      return { theta, scaling: { type: "none" } };
    case "linear":
      return { theta, scaling: { type: "linear", factor: num("factor") } };
    case "llama3": {
      const lowFreqFactor = num("low_freq_factor");
      const highFreqFactor = num("high_freq_factor");
      if (!(highFreqFactor > lowFreqFactor)) {
        throw fields.invalid(at("high_freq_factor"), `(${highFreqFactor}) must be greater than low_freq_factor (${lowFreqFactor})`);
      }
      const original = num("original_max_position_embeddings");
      if (!Number.isSafeInteger(original)) {
        throw fields.invalid(at("original_max_position_embeddings"), `must be an integer, got ${original}`);
      }
      return {
        theta,
        scaling: { type: "llama3", factor: num("factor"), lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: original },
      };
    }
    default:
      throw new InferenceError({
        code: "unsupported",
        op: fields.op,
        message: `${fields.source}: rope_type "${kind}" is not supported (supported: ${supportedScalings.join(", ")})`,
        details: { source: fields.source, field, ropeType: kind },
      });
  }
}

/** The rope dict for full-attention layers and the one for sliding layers (gemma3 v5 nests them by layer type). */
export function ropeParams(fields: FieldReader): { full: unknown; fullField: string; sliding: unknown; slidingField: string } {
  const v5 = fields.value("rope_parameters");
  if (v5 !== undefined) {
    if (isJsonObject(v5) && (isJsonObject(v5.full_attention) || isJsonObject(v5.sliding_attention))) {
      return {
        full: (v5 as JsonObject).full_attention,
        fullField: "rope_parameters.full_attention",
        sliding: (v5 as JsonObject).sliding_attention,
        slidingField: "rope_parameters.sliding_attention",
      };
    }
    return { full: v5, fullField: "rope_parameters", sliding: undefined, slidingField: "rope_parameters" };
  }
  return { full: fields.value("rope_scaling"), fullField: "rope_scaling", sliding: undefined, slidingField: "rope_scaling" };
}
