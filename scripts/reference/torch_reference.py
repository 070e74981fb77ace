#!/usr/bin/python3
"""PyTorch reference forward pass for the cpu engine's agreement tests.

What it is for: reading a Hugging Face model directory (config.json + safetensors, one file or shards) and running
the decoder forward of llama, mistral, qwen2, qwen3 and gemma3_text the way Hugging Face transformers'
modeling_*.py does, op for op, in float32 on the CPU; it prints the logits at every position of an input and,
on request, a greedy continuation. It is the PyTorch producer of golden data (scripts/reference/ is the only place
that makes goldens) and serves where llama.cpp cannot (gemma3: llama.cpp's CPU GELU reads a float16 table).

Reading the checkpoint (safetensors, config.json) is in torch_checkpoint.py beside it; torch_gradients.py reuses
this forward (forward_batch) with the weights as leaf tensors for autograd gradients.

What it is not: transformers itself (not packaged for Debian 12), a loader of pickles or remote code (only
safetensors and JSON are read; nothing in the directory is executed), a sampler or a tokenizer, or fast.

Dtypes: F16 and BF16 weights are upcast exactly to float32 when read and every op runs in float32, because the
engine under test computes in float32 over its stored weights. The one place where the stored dtype still matters
is gemma3's embedding scale, which Hugging Face casts to the embedding weight's dtype
(Gemma3TextScaledWordEmbedding.forward); it is rounded to the stored dtype of model.embed_tokens.weight here.

Usage: torch_reference.py DIR TOKENS [GREEDY_N]
  TOKENS is a comma-separated list of token ids; GREEDY_N (default 0) continuation tokens are chosen by argmax
  with a full forward pass per token (no KV cache). Output on stdout: one JSON line
  {"positions": T, "vocab": V, "greedy": [...]} followed by T*V little-endian float32 logits, row-major (T, V).
Exit status: 0 ok, 2 bad arguments or input, 3 torch cannot be imported, 4 unsupported model, 5 invalid model.
Messages go to stderr, one line, prefixed "torch_reference: ".
"""
import json
import math
import os
import struct
import sys

sys.dont_write_bytecode = True  # importing torch_checkpoint leaves no __pycache__ in the repository
from torch_checkpoint import (  # noqa: E402  (the script directory is on sys.path)
    EXIT_NO_TORCH,
    EXIT_UNSUPPORTED,
    EXIT_USAGE,
    Config,
    check_weights,
    fail,
    read_weights,
)


# torch is imported only once the arguments and config.json have been checked (import_torch), so that bad input
# is reported in milliseconds rather than after the import's second or two.
torch = None
F = None


def import_torch():
    global torch, F
    try:
        import torch as torch_module
        import torch.nn.functional as functional
    except ImportError as exc:  # python3-torch missing (Debian: apt-get install python3-torch)
        fail(EXIT_NO_TORCH, "cannot import torch (%s); install python3-torch" % exc)
    torch, F = torch_module, functional


# ---------------------------------------------------------------------------------------------------------------
# Rope: modeling_rope_utils.py _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
# _compute_llama3_parameters; the *RotaryEmbedding.forward of each model; rotate_half, apply_rotary_pos_emb.


def inv_freq_default(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


def inv_freq_for(theta, scaling, dim):
    inv_freq = inv_freq_default(theta, dim)
    kind = None if not scaling else scaling.get("rope_type", scaling.get("type", "default"))
    if kind in (None, "default"):
        return inv_freq
    if kind == "linear":
        return inv_freq / float(scaling["factor"])
    if kind == "llama3":
        factor = float(scaling["factor"])
        low = float(scaling["low_freq_factor"])
        high = float(scaling["high_freq_factor"])
        old = float(scaling["original_max_position_embeddings"])
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)  # long waves: divided by factor
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled)
    fail(EXIT_UNSUPPORTED, 'rope_type "%s" is not supported (supported: default, linear, llama3)' % kind)


def rotary_cos_sin(inv_freq, position_ids):
    # LlamaRotaryEmbedding.forward: float32 (1, D/2, 1) @ (1, 1, T), cat((freqs, freqs)), cos/sin; scaling 1.0.
    inv = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    pos = position_ids[:, None, :].float()
    freqs = (inv.float() @ pos.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos() * 1.0, emb.sin() * 1.0


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(q, k, cos, sin):
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return (q * cos) + (rotate_half(q) * sin), (k * cos) + (rotate_half(k) * sin)


# ---------------------------------------------------------------------------------------------------------------
# Norms: LlamaRMSNorm (also Mistral/Qwen2/Qwen3RMSNorm) and Gemma3RMSNorm.


def rms_norm(x, weight, eps):
    dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + eps)
    return weight * h.to(dtype)


def gemma3_rms_norm(x, weight, eps):
    out = x.float()
    out = out * torch.rsqrt(out.pow(2).mean(-1, keepdim=True) + eps)
    out = out * (1.0 + weight.float())
    return out.type_as(x)


# ---------------------------------------------------------------------------------------------------------------
# Masks: masking_utils.py causal_mask_function (kv_idx <= q_idx) and sliding_window_overlay
# (kv_idx > q_idx - sliding_window), turned into the additive float mask of eager attention (0 or finfo.min).


def additive_mask(T, window, dtype):
    q = torch.arange(T)[:, None]
    kv = torch.arange(T)[None, :]
    allowed = kv <= q
    if window is not None:
        allowed = allowed & (kv > q - window)
    mask = torch.where(allowed, torch.tensor(0.0, dtype=dtype), torch.tensor(torch.finfo(dtype).min, dtype=dtype))
    return mask[None, None, :, :]


# ---------------------------------------------------------------------------------------------------------------
# Attention: modeling_llama.py repeat_kv, eager_attention_forward, LlamaAttention.forward; Qwen2Attention (q/k/v
# bias), Qwen3Attention (q_norm/k_norm on the (B, T, H, D) view before the transpose), Gemma3Attention (norms after
# the transpose, query_pre_attn_scalar, attention soft-cap).


def repeat_kv(h, n_rep):
    b, g, s, d = h.shape
    if n_rep == 1:
        return h
    return h[:, :, None, :, :].expand(b, g, n_rep, s, d).reshape(b, g * n_rep, s, d)


def eager_attention(cfg, q, k, v, mask):
    groups = cfg.heads // cfg.kv_heads
    k = repeat_kv(k, groups)
    v = repeat_kv(v, groups)
    scores = torch.matmul(q, k.transpose(2, 3)) * cfg.scaling
    if cfg.attn_softcap is not None:
        scores = torch.tanh(scores / cfg.attn_softcap) * cfg.attn_softcap
    scores = scores + mask[:, :, :, : k.shape[-2]]
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(probs, v).transpose(1, 2).contiguous()


def linear(cfg, x, w, prefix, with_bias):
    y = F.linear(x, w[prefix + ".weight"], w[prefix + ".bias"] if with_bias else None)
    lora_a = w.get(prefix + ".lora_A.weight")
    if lora_a is not None:  # PEFT's lora.Linear.forward (no dropout): base(x) + lora_B(lora_A(x)) * scaling
        y = y + F.linear(F.linear(x, lora_a), w[prefix + ".lora_B.weight"]) * cfg.lora_scale
    return y


def attention_block(cfg, w, p, x, cos, sin, mask):
    B, T, _ = x.shape
    D = cfg.head_dim
    a = p + ".self_attn"
    q = linear(cfg, x, w, a + ".q_proj", cfg.qkv_bias).view(B, T, -1, D)
    k = linear(cfg, x, w, a + ".k_proj", cfg.qkv_bias).view(B, T, -1, D)
    v = linear(cfg, x, w, a + ".v_proj", cfg.qkv_bias).view(B, T, -1, D).transpose(1, 2)
    if cfg.arch == "qwen3":
        q = rms_norm(q, w[a + ".q_norm.weight"], cfg.eps).transpose(1, 2)
        k = rms_norm(k, w[a + ".k_norm.weight"], cfg.eps).transpose(1, 2)
    elif cfg.gemma:
        q = gemma3_rms_norm(q.transpose(1, 2), w[a + ".q_norm.weight"], cfg.eps)
        k = gemma3_rms_norm(k.transpose(1, 2), w[a + ".k_norm.weight"], cfg.eps)
    else:
        q, k = q.transpose(1, 2), k.transpose(1, 2)
    q, k = apply_rope(q, k, cos, sin)
    out = eager_attention(cfg, q, k, v, mask).reshape(B, T, -1).contiguous()
    return linear(cfg, out, w, a + ".o_proj", cfg.o_bias)


# ---------------------------------------------------------------------------------------------------------------
# MLP (LlamaMLP / Gemma3MLP: down(act(gate(x)) * up(x))), decoder layers, model and head.


def mlp_block(cfg, w, p, x):
    m = p + ".mlp"
    gate = linear(cfg, x, w, m + ".gate_proj", cfg.mlp_bias)
    act = F.silu(gate) if cfg.act == "silu" else F.gelu(gate, approximate="tanh")  # ACT2FN gelu_pytorch_tanh
    return linear(cfg, act * linear(cfg, x, w, m + ".up_proj", cfg.mlp_bias), w, m + ".down_proj", cfg.mlp_bias)


def decoder_layer(cfg, w, i, x, cos, sin, mask):
    p = "model.layers.%d" % i
    if cfg.gemma:  # Gemma3DecoderLayer.forward: sandwich norms around both sublayers
        residual = x
        h = gemma3_rms_norm(x, w[p + ".input_layernorm.weight"], cfg.eps)
        h = attention_block(cfg, w, p, h, cos, sin, mask)
        h = gemma3_rms_norm(h, w[p + ".post_attention_layernorm.weight"], cfg.eps)
        x = residual + h
        residual = x
        h = gemma3_rms_norm(x, w[p + ".pre_feedforward_layernorm.weight"], cfg.eps)
        h = mlp_block(cfg, w, p, h)
        h = gemma3_rms_norm(h, w[p + ".post_feedforward_layernorm.weight"], cfg.eps)
        return residual + h
    # LlamaDecoderLayer.forward (also Mistral, Qwen2, Qwen3)
    residual = x
    h = rms_norm(x, w[p + ".input_layernorm.weight"], cfg.eps)
    x = residual + attention_block(cfg, w, p, h, cos, sin, mask)
    residual = x
    h = rms_norm(x, w[p + ".post_attention_layernorm.weight"], cfg.eps)
    return residual + mlp_block(cfg, w, p, h)


def forward(cfg, w, stored, ids, last_only=False):
    """*ForCausalLM.forward over one sequence: float32 logits (T, V), or (1, V) of the last position."""
    return forward_batch(cfg, w, stored, torch.tensor([ids], dtype=torch.int64), last_only)[0].float()


def forward_batch(cfg, w, stored, input_ids, last_only=False):
    """*ForCausalLM.forward over a batch of equal-length sequences, int64 ids (B, T): logits (B, T, V), or
    (B, 1, V) of the last positions, in the dtype of the weights. Differentiable: the tensors of `w` may be leaves
    that require grad (torch_gradients.py), and projections with lora_A/lora_B tensors in `w` add the LoRA update."""
    T = input_ids.shape[1]
    embed = w["model.embed_tokens.weight"]
    x = F.embedding(input_ids, embed)
    if cfg.gemma:
        # Gemma3TextScaledWordEmbedding: * torch.tensor(hidden**0.5).to(weight dtype); that dtype is the stored one.
        x = x * torch.tensor(cfg.hidden**0.5).to(stored["model.embed_tokens.weight"]).to(x.dtype)
    position_ids = torch.arange(T, dtype=torch.int64)[None, :]
    rope = {
        "full_attention": rotary_cos_sin(inv_freq_for(cfg.rope_full[0], cfg.rope_full[1], cfg.head_dim), position_ids),
        "sliding_attention": rotary_cos_sin(inv_freq_for(cfg.rope_local[0], cfg.rope_local[1], cfg.head_dim), position_ids),
    }
    masks = {
        "full_attention": additive_mask(T, None, x.dtype),
        "sliding_attention": additive_mask(T, cfg.window, x.dtype),
    }
    for i in range(cfg.layers):
        kind = cfg.layer_types[i]
        if kind not in masks:
            fail(EXIT_UNSUPPORTED, 'layer_types[%d] "%s" is not supported' % (i, kind))
        # Only gemma3 has a separate rope for sliding layers; elsewhere every layer uses the model's one rope.
        cos, sin = rope[kind] if cfg.gemma else rope["full_attention"]
        x = decoder_layer(cfg, w, i, x, cos, sin, masks[kind])
    norm = gemma3_rms_norm if cfg.gemma else rms_norm
    x = norm(x, w["model.norm.weight"], cfg.eps)
    if last_only:
        x = x[:, -1:, :]
    head = embed if cfg.tied else w["lm_head.weight"]
    logits = F.linear(x, head)
    if cfg.final_softcap is not None:
        logits = torch.tanh(logits / cfg.final_softcap) * cfg.final_softcap
    return logits


def parse_args(argv):
    if len(argv) not in (3, 4):
        fail(EXIT_USAGE, "usage: torch_reference.py DIR TOKENS [GREEDY_N]")
    model_dir = argv[1]
    try:
        ids = [int(t) for t in argv[2].split(",")]
        n = int(argv[3]) if len(argv) == 4 else 0
    except ValueError:
        fail(EXIT_USAGE, "TOKENS must be comma-separated integers and GREEDY_N an integer")
    if n < 0:
        fail(EXIT_USAGE, "GREEDY_N must be at least 0, got %d" % n)
    return model_dir, ids, n


def main():
    model_dir, ids, n = parse_args(sys.argv)
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(config_path):
        fail(EXIT_USAGE, "%s: no config.json" % model_dir)
    with open(config_path, "r", encoding="utf-8") as fh:
        cfg = Config(json.load(fh))
    bad = [t for t in ids if t < 0 or t >= cfg.vocab]
    if bad:
        fail(EXIT_USAGE, "token id %d is outside the vocabulary [0, %d)" % (bad[0], cfg.vocab))
    import_torch()
    torch.set_num_threads(1)  # the same reduction order on every machine, and no contention with the tests
    weights, stored = read_weights(torch, model_dir)
    check_weights(cfg, weights)
    with torch.no_grad():
        logits = forward(cfg, weights, stored, ids)
        seq, greedy = list(ids), []
        for _ in range(n):
            # GenerationMixin greedy search: argmax of the last position's logits (first index on ties).
            nxt = int(torch.argmax(forward(cfg, weights, stored, seq, last_only=True)[-1]))
            greedy.append(nxt)
            seq.append(nxt)
    head = json.dumps({"positions": len(ids), "vocab": cfg.vocab, "greedy": greedy}) + "\n"
    out = sys.stdout.buffer
    out.write(head.encode("utf-8"))
    out.write(logits.contiguous().numpy().astype("<f4").tobytes() if _has_numpy() else _le_bytes(logits))
    out.flush()


def _has_numpy():
    try:
        import numpy  # noqa: F401  (torch's .numpy() needs it; Debian's python3-torch depends on python3-numpy)
        return True
    except ImportError:
        return False


def _le_bytes(t):
    flat = t.contiguous().view(-1).tolist()
    return struct.pack("<%df" % len(flat), *flat)


if __name__ == "__main__":
    main()
