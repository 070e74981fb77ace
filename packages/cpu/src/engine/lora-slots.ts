/**
 * LoRA adapters in the inference engine, unmerged: the adapter type `Transformer.setAdapter` takes, its checks
 * against the model's projections, and the kernel-side copies of A and B (in the WebAssembly arena on the fast path)
 * that `Transformer` runs as y += scale · B (A x) after each targeted projection. Buffers of a replaced adapter are
 * kept and reused by the next one of the same shapes, so re-syncing a trained adapter allocates nothing.
 * Not adapter files (training/peft.ts), not training, and not the forward pass itself (transformer.ts).
 */
import { InferenceError } from "@dappcore/inference";
import type { ModelConfig } from "../model-config.js";
import type { F32Buf, ForwardKernels } from "./forward-kernels.js";
import type { LinearWeight } from "./linear.js";

/** One adapted projection: y += scale · b · (a · x). */
export interface EngineLoraModule {
  /** (rank, in) row-major. */
  readonly a: Float32Array;
  /** (out, rank) row-major. */
  readonly b: Float32Array;
  readonly rank: number;
  /** The factor of the update (alpha / rank for plain LoRA); finite. */
  readonly scale: number;
}

/** An adapter for `Transformer.setAdapter`: modules by their Hugging Face path, e.g. `model.layers.0.self_attn.q_proj`. */
export interface EngineAdapter {
  readonly modules: ReadonlyMap<string, EngineLoraModule>;
}

/** The projections of one layer LoRA can adapt (the LayerWeights roles). */
export type LoraRole = "qProj" | "kProj" | "vProj" | "oProj" | "gateProj" | "upProj" | "downProj";

/** The kernel-side pair of one module: A (r, in) as a (r, in) matrix, scale·B (out, r) as a (out, r) matrix. */
export interface BoundLora {
  readonly a: LinearWeight;
  readonly b: LinearWeight;
}

/** Per layer, the adapted projections by role. */
export type LayerLora = Partial<Record<LoraRole, BoundLora>>;

const MODULE = /^model\.layers\.(\d+)\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))$/;
const ROLES: Record<string, LoraRole> = {
  q_proj: "qProj", k_proj: "kProj", v_proj: "vProj", o_proj: "oProj", gate_proj: "gateProj", up_proj: "upProj", down_proj: "downProj",
};
const op = "cpu.setAdapter";

function invalid(message: string, module?: string): InferenceError {
  return new InferenceError({ code: "invalid_argument", op, message, details: module === undefined ? undefined : { module } });
}

/** (out, in) of a projection role. */
export function projectionShape(config: ModelConfig, role: LoraRole): { out: number; in: number } {
  const { hiddenSize: C, intermediateSize: F, numHeads: H, numKVHeads: G, headDim: D } = config;
  switch (role) {
    case "qProj": return { out: H * D, in: C };
    case "kProj":
    case "vProj": return { out: G * D, in: C };
    case "oProj": return { out: C, in: H * D };
    case "gateProj":
    case "upProj": return { out: F, in: C };
    case "downProj": return { out: C, in: F };
  }
}

/** Every module an adapter may target, with its (out, in): `model.layers.N.self_attn.q_proj` ... `mlp.down_proj`. */
export function loraModuleShapes(config: ModelConfig): Map<string, { in: number; out: number }> {
  const map = new Map<string, { in: number; out: number }>();
  for (let l = 0; l < config.numLayers; l++) {
    for (const [leaf, role] of Object.entries(ROLES)) {
      const group = role === "gateProj" || role === "upProj" || role === "downProj" ? "mlp" : "self_attn";
      const { out, in: inDim } = projectionShape(config, role);
      map.set(`model.layers.${l}.${group}.${leaf}`, { in: inDim, out });
    }
  }
  return map;
}

interface Slot {
  readonly buf: F32Buf;
  readonly weight: LinearWeight;
}

/**
 * The kernel-side copies of the current adapter and the scratch its products need.
 */
export class LoraSlots {
  private free = new Map<string, Slot[]>(); // by "OxC"
  private inUse: Slot[] = [];
  private hBuf: F32Buf | undefined; // (R, maxRank)
  private hRank = 0;
  private deltaBuf: F32Buf | undefined; // (R, max out)

  constructor(
    private readonly config: ModelConfig,
    private readonly k: ForwardKernels,
    private readonly rows: number,
  ) {}

  /** h (R, rank) scratch for A x. */
  get h(): F32Buf {
    return this.hBuf!;
  }

  /** (R, max out) scratch for B h. */
  get delta(): F32Buf {
    return this.deltaBuf!;
  }

  /**
   * Checks `adapter` against the model and copies it into kernel buffers (reusing those of the previous adapter).
   * Throws `invalid_argument` naming the module for an unknown module, a bad rank or scale, sizes that do not fit
   * the projection, or non-finite values; nothing changes then.
   */
  bind(adapter: EngineAdapter): LayerLora[] {
    if (adapter === null || typeof adapter !== "object" || !(adapter.modules instanceof Map)) {
      throw invalid("an adapter must have a modules Map of module name → { a, b, rank, scale }");
    }
    const checked: { layer: number; role: LoraRole; m: EngineLoraModule; out: number; in: number }[] = [];
    let maxRank = 0;
    for (const [name, m] of adapter.modules) {
      const match = MODULE.exec(name);
      const layer = match === null ? -1 : Number(match[1]);
      if (match === null || layer >= this.config.numLayers) {
        throw invalid(`module "${name}" is not a projection of this model (model.layers.0..${this.config.numLayers - 1}.self_attn.q_proj ... mlp.down_proj)`, name);
      }
      const role = ROLES[(match[3] ?? match[4]) as string] as LoraRole;
      const { out, in: inDim } = projectionShape(this.config, role);
      const r = m?.rank;
      if (typeof r !== "number" || !Number.isSafeInteger(r) || r <= 0) throw invalid(`module "${name}": rank must be an integer > 0, got ${String(r)}`, name);
      if (typeof m.scale !== "number" || !Number.isFinite(m.scale)) throw invalid(`module "${name}": scale must be a finite number, got ${String(m.scale)}`, name);
      if (!(m.a instanceof Float32Array) || m.a.length !== r * inDim) {
        throw invalid(`module "${name}": a must be a Float32Array of rank × in = ${r} × ${inDim} values, got ${m.a instanceof Float32Array ? m.a.length : typeof m.a}`, name);
      }
      if (!(m.b instanceof Float32Array) || m.b.length !== out * r) {
        throw invalid(`module "${name}": b must be a Float32Array of out × rank = ${out} × ${r} values, got ${m.b instanceof Float32Array ? m.b.length : typeof m.b}`, name);
      }
      for (const [side, v] of [["a", m.a], ["b", m.b]] as const) {
        for (let i = 0; i < v.length; i++) {
          if (!Number.isFinite(v[i])) throw invalid(`module "${name}": ${side} holds a non-finite value at index ${i}`, name);
        }
      }
      checked.push({ layer, role, m, out, in: inDim });
      maxRank = Math.max(maxRank, r);
    }

    this.reserve(maxRank);
    for (const s of this.inUse) this.release(s);
    this.inUse = [];
    const layers: LayerLora[] = Array.from({ length: this.config.numLayers }, () => ({}));
    for (const { layer, role, m, out, in: inDim } of checked) {
      const a = this.take(m.rank, inDim, `${role}.lora_A`);
      a.buf.view.set(m.a);
      const b = this.take(out, m.rank, `${role}.lora_B`);
      const bv = b.buf.view;
      for (let i = 0; i < bv.length; i++) bv[i] = m.scale * m.b[i]!;
      (layers[layer] as LayerLora)[role] = { a: a.weight, b: b.weight };
    }
    return layers;
  }

  /** Returns the current adapter's buffers for reuse (after `setAdapter(undefined)`). */
  releaseAll(): void {
    for (const s of this.inUse) this.release(s);
    this.inUse = [];
  }

  private reserve(maxRank: number): void {
    if (this.deltaBuf === undefined) {
      const { hiddenSize: C, intermediateSize: F, numHeads: H, headDim: D } = this.config;
      this.deltaBuf = this.k.f32(this.rows * Math.max(C, F, H * D));
    }
    if (maxRank > this.hRank) {
      this.hBuf = this.k.f32(this.rows * maxRank);
      this.hRank = maxRank;
    }
  }

  private take(O: number, C: number, name: string): Slot {
    const list = this.free.get(`${O}x${C}`);
    let slot = list?.pop();
    if (slot === undefined) {
      const buf = this.k.f32(O * C);
      const weight: LinearWeight = { name, dtype: "F32", data: buf.view, O, C };
      this.k.prepareMatrix(weight);
      slot = { buf, weight };
    }
    this.inUse.push(slot);
    return slot;
  }

  private release(s: Slot): void {
    const key = `${s.weight.O}x${s.weight.C}`;
    const list = this.free.get(key) ?? [];
    list.push(s);
    this.free.set(key, list);
  }
}
