/**
 * The weights a TrainableTransformer computes with, and which of them train: in full mode a float copy of every
 * checkpoint tensor with a gradient buffer each; in LoRA mode the checkpoint's matrices read in place in their stored
 * dtype (frozen) plus float LoRA A/B pairs on the targeted projections, initialised as PEFT does. Also the options'
 * validation and the parameter list with Hugging Face / PEFT names. Not the forward or backward pass
 * (trainable-transformer.ts) and not an optimizer.
 */
import { InferenceError, type LoRAConfig } from "@dappcore/inference";
import type { ModelConfig, WeightStore } from "../model-config.js";
import { bindModelWeights } from "../engine/model-weights.js";
import { isRelaidOut, relaidOutError } from "../engine/relayout.js";
import type { LinearWeight } from "../engine/linear.js";
import { bf16Table, f16Table } from "../engine/kernels/reference/index.js";
import { createRng, type ResumableRng } from "../sampling/rng.js";
import type { Floats } from "./kernels/floats.js";
import { matchTargets, normalizeLoRAConfig, type NormalizedLoRAConfig } from "./lora-config.js";

/** The modules LoRA can target in each layer: the attention and MLP projections, by their HF module paths. */
const projections = [
  "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
] as const;

/** Options of `new TrainableTransformer(config, weights, opts)`. */
export interface TrainableOptions {
  /**
   * "full": every checkpoint tensor becomes a float32 parameter (small models only: about 2× the float32 model
   * size for values and grads). "lora": the base stays frozen in its stored dtype and only LoRA A/B train.
   * @example { mode: "lora", lora: { rank: 8, alpha: 16, targetKeys: ["q_proj", "v_proj"] } }
   */
  readonly mode: "lora" | "full";
  /**
   * LoRA settings (mode "lora" only), checked by `normalizeLoRAConfig`: rank (default 8), alpha (default 16; the
   * update is scaled by alpha / rank), targetKeys (default q_proj and v_proj; PEFT's matching: a module matches a key
   * equal to its name or to its last dotted components, e.g. "layers.0.self_attn.q_proj"), dropout on the LoRA input
   * during `forwardLoss` (default 0).
   * @example { mode: "lora", lora: { rank: 16, alpha: 32, targetKeys: ["q_proj", "k_proj", "v_proj", "o_proj"] } }
   */
  readonly lora?: Partial<LoRAConfig>;
  /**
   * Seed of the LoRA A initialisation and of the dropout masks, so runs are reproducible. Default 0.
   * @example { mode: "lora", seed: 42 }
   */
  readonly seed?: number;
  /**
   * Which kernels run a float32 model: "wasm" the WebAssembly SIMD kernels with parameters, gradients and
   * activations in one shared-memory arena (fast), "plain" the JavaScript loops, "auto" wasm where this runtime
   * and the built kernels.wasm allow it, else plain. float64 models always run plain. Default "auto".
   * @example { mode: "full", kernels: "wasm", threads: 2 }
   */
  readonly kernels?: "auto" | "wasm" | "plain";
  /**
   * Threads that split each big WebAssembly kernel call, the calling one included (the wasm kernels only; the
   * workers start on the first call big enough to be worth splitting). From 1 to 256. Default
   * os.availableParallelism().
   * @example { mode: "lora", threads: 1 }
   */
  readonly threads?: number;
}

/** A (O, C) projection: exactly one of `w` (float) or `half` (frozen F16/BF16 bits) is set. */
export interface TrainMatrix {
  /** Checkpoint name of the weight, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  readonly name: string;
  readonly O: number;
  readonly C: number;
  readonly w: Floats | undefined; // (O, C)
  readonly half: Uint16Array | undefined; // (O, C)
  readonly halfDtype: "F16" | "BF16" | undefined;
  readonly lut: Float32Array | undefined; // (65536)
  readonly dW: Floats | undefined; // (O, C), full mode
  readonly bias: Floats | undefined; // (O)
  readonly dBias: Floats | undefined; // (O), full mode
  readonly lora: LoraPair | undefined;
}

/** One LoRA adapter on a projection; xa and keep are the forward's saved activations, sized by the arena. */
export interface LoraPair {
  /** PEFT prefix, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly prefix: string;
  readonly r: number;
  readonly scale: number;
  readonly A: Floats; // (r, C)
  readonly B: Floats; // (O, r)
  readonly dA: Floats; // (r, C)
  readonly dB: Floats; // (O, r)
  xa: Floats; // (R, r)
  keep: Floats | undefined; // (R, C) dropout keep mask, when dropout > 0
}

export interface TrainNorm {
  readonly name: string;
  readonly w: Floats; // (C)
  readonly dW: Floats | undefined; // (C), full mode
}

export interface TrainLayer {
  readonly inputNorm: TrainNorm;
  readonly q: TrainMatrix;
  readonly k: TrainMatrix;
  readonly v: TrainMatrix;
  readonly o: TrainMatrix;
  readonly qNorm: TrainNorm | undefined;
  readonly kNorm: TrainNorm | undefined;
  readonly postAttnNorm: TrainNorm;
  readonly preFfNorm: TrainNorm | undefined;
  readonly postFfNorm: TrainNorm | undefined;
  readonly gate: TrainMatrix;
  readonly up: TrainMatrix;
  readonly down: TrainMatrix;
}

/** A trainable tensor: its value (read by the forward, updated in place by an optimizer) and its gradient. */
export interface TrainableParameter<A extends Floats = Float32Array> {
  readonly name: string;
  readonly shape: readonly number[];
  readonly value: A;
  readonly grad: A;
}

export interface TrainWeights {
  readonly embed: TrainMatrix; // (V, C)
  readonly layers: readonly TrainLayer[];
  readonly norm: TrainNorm;
  /** The embedding matrix itself when tied (so its gradient gets both contributions). */
  readonly lmHead: TrainMatrix; // (V, C)
  readonly params: readonly TrainableParameter<Floats>[];
  /** Dropout probability of the LoRA inputs, 0 in full mode. */
  readonly dropout: number;
  /** Largest LoRA rank, 0 in full mode. */
  readonly maxRank: number;
  /** The RNG for dropout masks (continues from the LoRA initialisation); its state is saved for resuming. */
  readonly rng: ResumableRng;
}

const op = "cpu.trainable";

function fail(message: string, details?: Record<string, unknown>): never {
  throw new InferenceError({ code: "invalid_argument", op, message, details });
}

/** Checks the options (LoRA settings through `normalizeLoRAConfig`); throws `invalid_argument` naming the field. */
export function resolveOptions(opts: TrainableOptions): { mode: "lora" | "full"; lora: NormalizedLoRAConfig | undefined; seed: number } {
  if (opts === null || typeof opts !== "object" || (opts.mode !== "lora" && opts.mode !== "full")) {
    fail(`mode must be "lora" or "full", got ${String((opts as { mode?: unknown } | null)?.mode)}`);
  }
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0) fail(`seed must be a non-negative safe integer, got ${seed}`);
  if (opts.mode === "full") {
    if (opts.lora !== undefined) fail('lora options need mode "lora"');
    return { mode: "full", lora: undefined, seed };
  }
  return { mode: "lora", lora: normalizeLoRAConfig(opts.lora ?? {}), seed };
}

/**
 * Builds the weights for `mode` from the checkpoint (shapes checked against the config by the engine's binder),
 * with float arrays made by `make` (Float32Array, or Float64Array for gradient checks).
 */
export function buildTrainWeights(
  config: ModelConfig,
  store: WeightStore,
  opts: TrainableOptions,
  make: (n: number) => Floats,
): TrainWeights {
  const { mode, lora, seed } = resolveOptions(opts);
  const bound = bindModelWeights(config, store);
  const moduleNames: string[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    for (const m of projections) moduleNames.push(`model.layers.${l}.${m}`);
  }
  const targeted = new Set(lora === undefined ? [] : matchTargets(moduleNames, lora.targetKeys));
  const rng = createRng(seed);
  const full = mode === "full";
  const params: TrainableParameter<Floats>[] = [];
  const loraPairs: LoraPair[] = [];

  const copy = (src: ArrayLike<number>): Floats => {
    const out = make(src.length);
    for (let i = 0; i < src.length; i++) out[i] = src[i];
    return out;
  };
  const norm = (name: string, w: Float32Array): TrainNorm => {
    if (!full) return { name, w, dW: undefined };
    const n: TrainNorm = { name, w: copy(w), dW: make(w.length) };
    params.push({ name, shape: [w.length], value: n.w, grad: n.dW! });
    return n;
  };
  const matrix = (lw: LinearWeight): TrainMatrix => {
    const { name, O, C } = lw;
    // A matrix a WebAssembly engine rewrote for itself (relayout.ts) no longer holds rows in order.
    if (isRelaidOut(lw.data)) throw relaidOutError("cpu.trainable", name, lw.dtype);
    const lut = lw.dtype === "F16" ? f16Table() : lw.dtype === "BF16" ? bf16Table() : undefined;
    if (full) {
      const w = make(O * C);
      if (lw.dtype === "F32") w.set(lw.data);
      else for (let i = 0; i < O * C; i++) w[i] = lut![lw.data[i]];
      const m: TrainMatrix = {
        name, O, C, w, half: undefined, halfDtype: undefined, lut: undefined, dW: make(O * C),
        bias: lw.bias === undefined ? undefined : copy(lw.bias),
        dBias: lw.bias === undefined ? undefined : make(O),
        lora: undefined,
      };
      params.push({ name, shape: [O, C], value: w, grad: m.dW! });
      if (m.bias !== undefined) params.push({ name: name.replace(/weight$/, "bias"), shape: [O], value: m.bias, grad: m.dBias! });
      return m;
    }
    let pair: LoraPair | undefined;
    if (lora !== undefined && targeted.has(name.replace(/\.weight$/, ""))) {
      const r = lora.rank;
      const limit = 1 / Math.sqrt(C); // kaiming_uniform_(a=√5) on (r, C): U(−1/√C, 1/√C)
      const A = make(r * C);
      for (let i = 0; i < r * C; i++) A[i] = (2 * rng.nextFloat() - 1) * limit;
      pair = {
        prefix: name.replace(/\.weight$/, ""),
        r, scale: lora.alpha / r, A, B: make(O * r), dA: make(r * C), dB: make(O * r),
        xa: make(0), keep: undefined,
      };
      loraPairs.push(pair);
    }
    return {
      name, O, C,
      w: lw.dtype === "F32" ? lw.data : undefined,
      half: lw.dtype === "F32" ? undefined : lw.data,
      halfDtype: lw.dtype === "F32" ? undefined : lw.dtype,
      lut,
      dW: undefined, bias: lw.bias, dBias: undefined, lora: pair,
    };
  };

  const embed = matrix(bound.embedTokens);
  const layers: TrainLayer[] = bound.layers.map((lw, l) => {
    const p = `model.layers.${l}`;
    const a = `${p}.self_attn`;
    const optional = (name: string, w: Float32Array | undefined) => (w === undefined ? undefined : norm(name, w));
    return {
      inputNorm: norm(`${p}.input_layernorm.weight`, lw.inputLayernorm),
      q: matrix(lw.qProj),
      k: matrix(lw.kProj),
      v: matrix(lw.vProj),
      o: matrix(lw.oProj),
      qNorm: optional(`${a}.q_norm.weight`, lw.qNorm),
      kNorm: optional(`${a}.k_norm.weight`, lw.kNorm),
      postAttnNorm: norm(`${p}.post_attention_layernorm.weight`, lw.postAttentionLayernorm),
      preFfNorm: optional(`${p}.pre_feedforward_layernorm.weight`, lw.preFeedforwardLayernorm),
      postFfNorm: optional(`${p}.post_feedforward_layernorm.weight`, lw.postFeedforwardLayernorm),
      gate: matrix(lw.gateProj),
      up: matrix(lw.upProj),
      down: matrix(lw.downProj),
    };
  });
  const finalNorm = norm("model.norm.weight", bound.norm);
  const lmHead = config.tieWordEmbeddings ? embed : matrix(bound.lmHead);
  if (!full) {
    // PEFT order: per module, lora_A then lora_B.
    for (const pair of loraPairs) {
      params.push({ name: `${pair.prefix}.lora_A.weight`, shape: [pair.r, pair.A.length / pair.r], value: pair.A, grad: pair.dA });
      params.push({ name: `${pair.prefix}.lora_B.weight`, shape: [pair.B.length / pair.r, pair.r], value: pair.B, grad: pair.dB });
    }
  }
  // Full mode lists parameters as they were bound: embeddings, layers, final norm, then an untied lm_head.
  return {
    embed,
    layers,
    norm: finalNorm,
    lmHead,
    params,
    dropout: lora?.dropout ?? 0,
    maxRank: lora?.rank ?? 0,
    rng,
  };
}
