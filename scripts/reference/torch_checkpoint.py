"""Checkpoint reading for the PyTorch reference (torch_reference.py, torch_gradients.py): the exit statuses and
fail(), safetensors files and shards read into float32 tensors (and, for the gradient script's batch files, I32
tensors into int64), and config.json read into the fields each transformers *Config class uses, with its defaults.
Not the model: the forward pass is in torch_reference.py. Nothing in the directory is executed: only JSON and
safetensors are read.
"""
import json
import math
import os
import struct
import sys

EXIT_USAGE = 2
EXIT_NO_TORCH = 3
EXIT_UNSUPPORTED = 4
EXIT_INVALID_MODEL = 5


# The prefix of every message; torch_gradients.py sets its own name here.
PROGRAM = "torch_reference"


def fail(status, message):
    sys.stderr.write(PROGRAM + ": " + message + "\n")
    sys.exit(status)


SUPPORTED = ("llama", "mistral", "qwen2", "qwen3", "gemma3_text")
STORAGE = ("F32", "F16", "BF16")
MAX_HEADER = 100 * 1024 * 1024


# ---------------------------------------------------------------------------------------------------------------
# Safetensors reading (format: 8-byte little-endian header length, JSON header, raw data). Our own reader: the
# python safetensors package is not in Debian 12.


def read_safetensors(torch, path, out, stored, allowed=STORAGE):
    """Reads every tensor of `path` into `out` (float32, or int64 for I32) and its stored dtype into `stored`;
    `allowed` is the set of dtypes accepted (model weights: F32, F16, BF16). Returns the __metadata__ map."""
    with open(path, "rb") as fh:
        data = bytearray(fh.read())
    if len(data) < 8:
        fail(EXIT_INVALID_MODEL, "%s: shorter than the 8-byte header length" % path)
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    if n > MAX_HEADER or 8 + n > len(data):
        fail(EXIT_INVALID_MODEL, "%s: header length %d does not fit the file" % (path, n))
    header = json.loads(bytes(data[8 : 8 + n]).decode("utf-8"))
    base = 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info.get("dtype") not in allowed:
            fail(EXIT_UNSUPPORTED, "%s: tensor %s has dtype %s (supported: %s)" % (path, name, info.get("dtype"), ", ".join(allowed)))
        dtype = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32}[info["dtype"]]
        shape = [int(s) for s in info["shape"]]
        start, end = (int(o) for o in info["data_offsets"])
        count = math.prod(shape)
        itemsize = torch.tensor([], dtype=dtype).element_size()
        if end - start != count * itemsize or base + end > len(data):
            fail(EXIT_INVALID_MODEL, "%s: tensor %s: offsets do not match dtype and shape" % (path, name))
        t = torch.frombuffer(data, dtype=dtype, count=count, offset=base + start) if count > 0 else torch.empty(0, dtype=dtype)
        wide = torch.int64 if dtype == torch.int32 else torch.float32
        out[name] = t.reshape(shape).to(wide).clone()  # exact upcast; own memory
        stored[name] = dtype
    return header.get("__metadata__") or {}


def read_weights(torch, model_dir):
    weights, stored = {}, {}
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index, "r", encoding="utf-8") as fh:
            weight_map = json.load(fh)["weight_map"]
        for shard in sorted(set(weight_map.values())):
            if os.path.basename(shard) != shard:
                fail(EXIT_INVALID_MODEL, "shard name %r leaves the directory" % shard)
            read_safetensors(torch, os.path.join(model_dir, shard), weights, stored)
    else:
        read_safetensors(torch, os.path.join(model_dir, "model.safetensors"), weights, stored)
    return weights, stored


# ---------------------------------------------------------------------------------------------------------------
# Config: the fields each *Config class of transformers reads, with its defaults.


class Config:
    def __init__(self, raw):
        self.raw = raw
        mt = raw.get("model_type")
        if mt == "gemma3":
            fail(EXIT_UNSUPPORTED, 'model_type "gemma3" (multimodal) is not supported; use a gemma3_text checkpoint')
        if mt not in SUPPORTED:
            fail(EXIT_UNSUPPORTED, 'model_type "%s" is not supported (supported: %s)' % (mt, ", ".join(SUPPORTED)))
        self.arch = mt
        self.gemma = mt == "gemma3_text"
        self.vocab = int(raw["vocab_size"])
        self.hidden = int(raw["hidden_size"])
        self.layers = int(raw["num_hidden_layers"])
        self.heads = int(raw["num_attention_heads"])
        self.kv_heads = int(raw.get("num_key_value_heads") or self.heads)
        self.head_dim = int(raw.get("head_dim") or self.hidden // self.heads)
        self.eps = float(raw.get("rms_norm_eps", 1e-6))
        self.tied = bool(raw.get("tie_word_embeddings", self.gemma or mt == "qwen3"))
        if self.gemma:
            self.act = raw.get("hidden_activation") or "gelu_pytorch_tanh"
        else:
            self.act = raw.get("hidden_act", "silu")
        if self.act not in ("silu", "gelu_pytorch_tanh"):
            fail(EXIT_UNSUPPORTED, 'activation "%s" is not supported' % self.act)
        bias = bool(raw.get("attention_bias", False))
        # qwen2: q/k/v biases always, o_proj none (Qwen2Attention); mistral: none (MistralAttention).
        self.qkv_bias = True if mt == "qwen2" else (False if mt == "mistral" else bias)
        self.o_bias = False if mt in ("qwen2", "mistral") else bias
        self.mlp_bias = bool(raw.get("mlp_bias", False)) if mt == "llama" else False
        self.qk_norm = mt in ("qwen3", "gemma3_text")
        # Attention scaling: head_dim**-0.5, gemma3 query_pre_attn_scalar**-0.5 (Gemma3Attention.__init__).
        self.scaling = float(raw.get("query_pre_attn_scalar", 256)) ** -0.5 if self.gemma else self.head_dim ** -0.5
        self.final_softcap = raw.get("final_logit_softcapping") if self.gemma else None
        self.attn_softcap = raw.get("attn_logit_softcapping") if self.gemma else None
        self.layer_types, self.window = self._layer_types()
        self.rope_full, self.rope_local = self._rope()
        # LoRA scaling (alpha / r) of the projections that carry lora_A/lora_B tensors among the weights; only
        # torch_gradients.py adds such tensors (PEFT: base(x) + lora_B(lora_A(x)) * scaling).
        self.lora_scale = 1.0

    def _layer_types(self):
        raw, n = self.raw, self.layers
        if self.arch == "llama":
            return ["full_attention"] * n, None
        if self.arch == "mistral":  # MistralModel: the sliding mask on every layer when sliding_window is set
            w = raw.get("sliding_window", 4096)
            return (["full_attention"] * n, None) if w is None else (["sliding_attention"] * n, int(w))
        if self.arch in ("qwen2", "qwen3"):  # Qwen2Config/Qwen3Config: layers from max_window_layers on slide
            w = raw.get("sliding_window", 4096) if raw.get("use_sliding_window", False) else None
            types = raw.get("layer_types") or [
                "sliding_attention" if w is not None and i >= int(raw.get("max_window_layers", 28)) else "full_attention"
                for i in range(n)
            ]
            return types, None if w is None else int(w)
        # Gemma3TextConfig: layer_types, or every sliding_window_pattern-th layer full.
        pattern = int(raw.get("sliding_window_pattern", 6))
        types = raw.get("layer_types") or [
            "full_attention" if (i + 1) % pattern == 0 else "sliding_attention" for i in range(n)
        ]
        w = raw.get("sliding_window", 4096)
        return types, None if w is None else int(w)

    def _rope(self):
        """(theta, scaling dict or None) for full-attention layers and for sliding layers."""
        raw = self.raw
        params = raw.get("rope_parameters")
        if isinstance(params, dict) and ("full_attention" in params or "sliding_attention" in params):
            full = params.get("full_attention") or {}
            local = params.get("sliding_attention") or {}
            return (float(full["rope_theta"]), full), (float(local["rope_theta"]), local)
        if isinstance(params, dict):
            scaling = params
            theta = float(params.get("rope_theta", raw.get("rope_theta", 10000.0)))
        else:
            scaling = raw.get("rope_scaling")
            theta = float(raw.get("rope_theta", 1_000_000.0 if self.gemma else 10000.0))
        local_theta = float(raw.get("rope_local_base_freq", 10000.0)) if self.gemma else theta
        return (theta, scaling), (local_theta, None if self.gemma else scaling)



def check_weights(cfg, w):
    names = ["model.embed_tokens.weight", "model.norm.weight"] + ([] if cfg.tied else ["lm_head.weight"])
    for i in range(cfg.layers):
        p = "model.layers.%d." % i
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            names.append(p + "self_attn." + n + ".weight")
        names += [p + "self_attn.q_proj.bias", p + "self_attn.k_proj.bias", p + "self_attn.v_proj.bias"] if cfg.qkv_bias else []
        names += [p + "self_attn.o_proj.bias"] if cfg.o_bias else []
        names += [p + "self_attn.q_norm.weight", p + "self_attn.k_norm.weight"] if cfg.qk_norm else []
        names += [p + "mlp.%s.weight" % n for n in ("gate_proj", "up_proj", "down_proj")]
        names += [p + "mlp.%s.bias" % n for n in ("gate_proj", "up_proj", "down_proj")] if cfg.mlp_bias else []
        names += [p + "input_layernorm.weight", p + "post_attention_layernorm.weight"]
        names += [p + "pre_feedforward_layernorm.weight", p + "post_feedforward_layernorm.weight"] if cfg.gemma else []
    missing = [n for n in names if n not in w]
    if missing:
        fail(EXIT_INVALID_MODEL, "missing tensor %s" % missing[0])
    if tuple(w["model.embed_tokens.weight"].shape) != (cfg.vocab, cfg.hidden):
        fail(EXIT_INVALID_MODEL, "model.embed_tokens.weight has shape %s, config says (%d, %d)"
             % (list(w["model.embed_tokens.weight"].shape), cfg.vocab, cfg.hidden))
