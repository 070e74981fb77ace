// The model shapes the inference benchmark can build: named presets (the configs of public checkpoints, with
// deterministic random weights) and custom llama shapes given as `key=value` lists, as `--shape` takes them, plus
// the sizes derived from a shape (parameters, KV cache). Pure: it reads no file and builds no model (models.mjs
// does); its errors are the typed `invalid_argument` errors of cli-args.mjs, naming the flag.
import { invalidArgument } from "./cli-args.mjs";

/**
 * The smallest vocabulary the benchmark's checkpoints can have: makeRandomCheckpoint writes a byte-level tokenizer
 * with no merges (ids 0..255 are the bytes) and three special tokens, so it needs 256 + 3 ids; the prompt is then
 * one token per byte in both engines.
 */
export const MIN_VOCAB = 259;

/** SmolLM2-135M's shape (config.json of HuggingFaceTB/SmolLM2-135M), weights random with a fixed seed. */
export const SMOLLM2_135M_SHAPE = Object.freeze({
  architecture: "llama",
  seed: 135,
  hiddenSize: 576,
  intermediateSize: 1536,
  numLayers: 30,
  numHeads: 9,
  numKVHeads: 3,
  headDim: 64,
  vocabSize: 49152,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 8192,
  ropeTheta: 100000,
});

/** SmolLM2-360M's shape (config.json of HuggingFaceTB/SmolLM2-360M). */
export const SMOLLM2_360M_SHAPE = Object.freeze({
  architecture: "llama",
  seed: 360,
  hiddenSize: 960,
  intermediateSize: 2560,
  numLayers: 32,
  numHeads: 15,
  numKVHeads: 5,
  headDim: 64,
  vocabSize: 49152,
  tieWordEmbeddings: true,
  maxPositionEmbeddings: 8192,
  ropeTheta: 100000,
});

/** TinyLlama-1.1B's shape (config.json of TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T and its chat model). */
export const TINYLLAMA_1_1B_SHAPE = Object.freeze({
  architecture: "llama",
  seed: 1100,
  hiddenSize: 2048,
  intermediateSize: 5632,
  numLayers: 22,
  numHeads: 32,
  numKVHeads: 4,
  headDim: 64,
  vocabSize: 32000,
  tieWordEmbeddings: false,
  maxPositionEmbeddings: 2048,
  ropeTheta: 10000,
});

/** The presets `--shape` names, the first being the default. `dir` is the folder under bench/.cache/. */
export const SHAPE_PRESETS = Object.freeze({
  "smollm2-135m": Object.freeze({ name: "smollm2-135m", title: "SmolLM2-135M shape", spec: SMOLLM2_135M_SHAPE }),
  "smollm2-360m": Object.freeze({ name: "smollm2-360m", title: "SmolLM2-360M shape", spec: SMOLLM2_360M_SHAPE }),
  "tinyllama-1.1b": Object.freeze({ name: "tinyllama-1.1b", title: "TinyLlama-1.1B shape", spec: TINYLLAMA_1_1B_SHAPE }),
});

export const DEFAULT_SHAPE = "smollm2-135m";

/** Positions of a custom shape: enough for the longest prompt + generation the flags allow (4096 + 4096). */
const CUSTOM_MAX_POSITIONS = 8192;

/**
 * The keys of a custom spec: the spec field each sets, the largest value, whether it is required, its default and
 * the short tag it has in the shape's name.
 */
const CUSTOM_KEYS = Object.freeze({
  hidden: { field: "hiddenSize", max: 65536, required: true, tag: "h" },
  ffn: { field: "intermediateSize", max: 262144, required: true, tag: "f" },
  layers: { field: "numLayers", max: 1024, required: true, tag: "l" },
  heads: { field: "numHeads", max: 1024, required: true, tag: "a" },
  "kv-heads": { field: "numKVHeads", max: 1024, required: true, tag: "kv" },
  vocab: { field: "vocabSize", max: 1_048_576, default: 32000, tag: "v" },
  tied: { field: "tieWordEmbeddings", default: false, tag: "tied" },
  "head-dim": { field: "headDim", max: 1024, tag: "d" },
  "rope-theta": { field: "ropeTheta", max: 1_000_000_000, default: 10000, tag: "rt" },
  seed: { field: "seed", max: 0xffffffff, default: 1, tag: "s" },
});

/**
 * The shape `--shape` names: a preset name (see SHAPE_PRESETS) or a custom llama spec
 * `hidden=H,ffn=F,layers=L,heads=A,kv-heads=K[,vocab=V][,tied=0|1][,head-dim=D][,rope-theta=T][,seed=S]`.
 * Returns `{ name, title, spec, custom }`; `spec` is what makeRandomCheckpoint takes (without dtype). Throws
 * `invalid_argument` naming `flag` for an unknown preset, an unknown or repeated key, a bad value or an
 * inconsistent shape.
 *
 * @example parseShape("bench.args", "--shape", "hidden=128,ffn=256,layers=2,heads=4,kv-heads=2,vocab=512").name // "custom-h128-f256-l2-a4-kv2-v512"
 */
export function parseShape(op, flag, text) {
  const trimmed = text.trim().toLowerCase();
  if (Object.hasOwn(SHAPE_PRESETS, trimmed)) return { ...SHAPE_PRESETS[trimmed], custom: false };
  if (!trimmed.includes("=")) {
    throw invalidArgument(
      op,
      flag,
      `unknown shape "${text}" (known: ${Object.keys(SHAPE_PRESETS).join(", ")}, or a custom spec ` +
        "hidden=H,ffn=F,layers=L,heads=A,kv-heads=K[,vocab=V][,tied=0|1][,head-dim=D][,rope-theta=T][,seed=S])",
    );
  }
  const given = {};
  for (const entry of trimmed.split(",")) {
    const eq = entry.indexOf("=");
    const key = (eq < 0 ? entry : entry.slice(0, eq)).trim();
    const value = eq < 0 ? "" : entry.slice(eq + 1).trim();
    if (key === "") throw invalidArgument(op, flag, `${flag}: empty entry in "${text}" (entries are key=value, separated by commas)`);
    if (!Object.hasOwn(CUSTOM_KEYS, key)) {
      throw invalidArgument(op, flag, `${flag}: unknown key "${key}" (known: ${Object.keys(CUSTOM_KEYS).join(", ")})`);
    }
    if (Object.hasOwn(given, key)) throw invalidArgument(op, flag, `${flag}: key "${key}" given twice`);
    if (eq < 0 || value === "") throw invalidArgument(op, flag, `${flag}: key "${key}" needs a value (${key}=...)`);
    given[key] = value;
  }
  const missing = Object.keys(CUSTOM_KEYS).filter((k) => CUSTOM_KEYS[k].required && !Object.hasOwn(given, k));
  if (missing.length > 0) throw invalidArgument(op, flag, `${flag}: a custom shape needs ${missing.join(", ")}`);

  const values = {};
  for (const [key, value] of Object.entries(given)) values[key] = parseValue(op, flag, key, value);
  const spec = { architecture: "llama" };
  for (const [key, def] of Object.entries(CUSTOM_KEYS)) {
    const v = Object.hasOwn(values, key) ? values[key] : def.default;
    if (v !== undefined) spec[def.field] = v;
  }
  const { hiddenSize: hidden, numHeads: heads, numKVHeads: kvHeads } = spec;
  if (kvHeads > heads || heads % kvHeads !== 0) {
    throw invalidArgument(op, flag, `${flag}: heads (${heads}) must be a multiple of kv-heads (${kvHeads})`);
  }
  if (spec.headDim === undefined) {
    if (hidden % heads !== 0) {
      throw invalidArgument(op, flag, `${flag}: hidden (${hidden}) is not a multiple of heads (${heads}); give head-dim`);
    }
    spec.headDim = hidden / heads;
  }
  if (spec.headDim % 2 !== 0) throw invalidArgument(op, flag, `${flag}: head-dim must be even (rotary embeddings rotate pairs), got ${spec.headDim}`);
  spec.maxPositionEmbeddings = CUSTOM_MAX_POSITIONS;
  const ordered = {
    architecture: "llama",
    seed: spec.seed,
    hiddenSize: spec.hiddenSize,
    intermediateSize: spec.intermediateSize,
    numLayers: spec.numLayers,
    numHeads: spec.numHeads,
    numKVHeads: spec.numKVHeads,
    headDim: spec.headDim,
    vocabSize: spec.vocabSize,
    tieWordEmbeddings: spec.tieWordEmbeddings,
    maxPositionEmbeddings: spec.maxPositionEmbeddings,
    ropeTheta: spec.ropeTheta,
  };
  return { name: customName(ordered), title: `custom shape (${describeShape(ordered)})`, spec: Object.freeze(ordered), custom: true };
}

/** One value of a custom spec, checked. */
function parseValue(op, flag, key, value) {
  if (key === "tied") {
    if (value === "1" || value === "true") return true;
    if (value === "0" || value === "false") return false;
    throw invalidArgument(op, flag, `${flag}: tied must be 0 or 1, got "${value}"`);
  }
  const def = CUSTOM_KEYS[key];
  const min = key === "seed" ? 0 : 1;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > def.max) {
    throw invalidArgument(op, flag, `${flag}: ${key} expects a whole number from ${min} to ${def.max}, got "${value}"`);
  }
  if (key === "vocab" && n < MIN_VOCAB) {
    throw invalidArgument(
      op,
      flag,
      `${flag}: vocab ${n} is too small: the byte-level tokenizer the benchmark writes (one token per byte, so the ` +
        `prompt is the same ids in both engines) has ${MIN_VOCAB} tokens, so vocab must be at least ${MIN_VOCAB}`,
    );
  }
  return n;
}

/**
 * The name of a custom shape, used for its cache folder and result files: the required keys, then each optional
 * key whose value is not its default. @example "custom-h768-f2048-l12-a12-kv4" (vocab 32000, untied, head dim 64)
 */
function customName(spec) {
  const parts = ["custom"];
  for (const def of Object.values(CUSTOM_KEYS)) {
    const v = spec[def.field];
    if (def.field === "headDim") {
      if (v !== spec.hiddenSize / spec.numHeads) parts.push(`${def.tag}${v}`);
    } else if (def.field === "tieWordEmbeddings") {
      if (v) parts.push("tied");
    } else if (def.required || v !== def.default) {
      parts.push(`${def.tag}${v}`);
    }
  }
  return parts.join("-");
}

/** One line naming a shape's dimensions. @example "hidden 576, FFN 1536, 30 layers, 9 heads, 3 KV heads, head dim 64, vocab 49152, tied" */
export function describeShape(spec) {
  return (
    `hidden ${spec.hiddenSize}, FFN ${spec.intermediateSize}, ${spec.numLayers} layers, ${spec.numHeads} heads, ` +
    `${spec.numKVHeads} KV heads, head dim ${spec.headDim}, vocab ${spec.vocabSize}, ` +
    `${spec.tieWordEmbeddings ? "tied" : "untied"}, rope theta ${spec.ropeTheta}`
  );
}

/** The number of weights of a llama shape: embeddings, per layer attention + MLP + 2 norms, final norm, LM head. */
export function parameterCount(spec) {
  const { hiddenSize: h, intermediateSize: f, numLayers: l, numHeads: a, numKVHeads: kv, headDim: d, vocabSize: v } = spec;
  const perLayer = h * a * d * 2 + h * kv * d * 2 + 3 * h * f + 2 * h;
  return v * h + l * perLayer + h + (spec.tieWordEmbeddings ? 0 : v * h);
}

/** A parameter count as "134.5M" or "1.10B". */
export function formatParameters(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  return `${(n / 1e3).toFixed(1)}K`;
}

/** Bytes of the K and V caches of `contextLen` positions with `bytesPerValue`-byte entries (4: F32, 2: F16). */
export function kvCacheBytes(spec, contextLen, bytesPerValue) {
  return 2 * spec.numLayers * spec.numKVHeads * spec.headDim * contextLen * bytesPerValue;
}
