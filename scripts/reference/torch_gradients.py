#!/usr/bin/python3
"""PyTorch autograd gradients of the causal-LM loss, the reference for the cpu trainer's whole-model gradients.

What it is for: given a model directory (read by torch_checkpoint.py) and a batch file, it runs the Hugging
Face-faithful forward of torch_reference.py (forward_batch) with the trainable tensors as leaves that require grad,
computes the mean masked next-token cross-entropy, and writes the loss and the autograd gradient of every
trainable tensor to a safetensors file. Full mode trains every checkpoint tensor (Hugging Face names; tied
embeddings are one tensor); LoRA mode freezes the checkpoint and trains the LoRA A (r, in) and B (out, r) tensors
of the batch file, applied as PEFT does without dropout: W x + scaling * B (A x). Several jobs run in one process,
so torch is imported once.

What it is not: a trainer (no optimizer step), a loader of pickles, or a producer of anything but gradients.

The loss is the one TrainableTransformer.forwardLoss computes: for tokens (B, T) and mask (B, T), position t of a
sequence predicts token t + 1 and counts when mask[b, t] is 1 (the last position never counts); the loss is the
sum of the counted cross-entropies divided by their number (Hugging Face's mean over labels that are not -100).

Usage: torch_gradients.py MODEL_DIR INPUT OUTPUT [MODEL_DIR INPUT OUTPUT ...]
  INPUT (safetensors): "tokens" I32 (B, T), "mask" F32 (B, T) of 0 and 1; in LoRA mode the A and B tensors (F32)
  by their PEFT names, e.g. model.layers.0.self_attn.q_proj.lora_A.weight. __metadata__: "mode" ("full" or
  "lora"), "lora_scale" (alpha / r, LoRA mode), "precision" ("float32", the default, or "float64": the same
  computation in float64, to tell rounding from a real difference).
  OUTPUT (safetensors, written): the gradient of every trainable tensor by its name (F32); __metadata__: "loss"
  (repr of the float loss), "count" (targets counted), "precision".
Exit status: 0 ok, 2 bad arguments or input, 3 torch cannot be imported, 4 unsupported model, 5 invalid model.
Messages go to stderr, one line, prefixed "torch_gradients: ".
"""
import json
import os
import struct
import sys

sys.dont_write_bytecode = True  # importing the modules beside it leaves no __pycache__ in the repository
import torch_checkpoint  # noqa: E402  (the script directory is on sys.path)
import torch_reference  # noqa: E402
from torch_checkpoint import EXIT_USAGE, Config, check_weights, fail, read_safetensors, read_weights  # noqa: E402

torch_checkpoint.PROGRAM = "torch_gradients"


def usage():
    fail(EXIT_USAGE, "usage: torch_gradients.py MODEL_DIR INPUT OUTPUT [MODEL_DIR INPUT OUTPUT ...]")


def read_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        fail(EXIT_USAGE, "%s: no config.json" % model_dir)
    with open(path, "r", encoding="utf-8") as fh:
        return Config(json.load(fh))


def read_batch(torch, cfg, path):
    """The batch file: (tokens (B, T) int64, mask (B, T) float32, mode, LoRA tensors by name, scale, dtype)."""
    if not os.path.isfile(path):
        fail(EXIT_USAGE, "%s: no such batch file" % path)
    tensors, stored = {}, {}
    meta = read_safetensors(torch, path, tensors, stored, allowed=("F32", "I32"))
    mode = meta.get("mode")
    if mode not in ("full", "lora"):
        fail(EXIT_USAGE, '%s: metadata "mode" must be "full" or "lora", got %s' % (path, json.dumps(mode)))
    precision = meta.get("precision", "float32")
    if precision not in ("float32", "float64"):
        fail(EXIT_USAGE, '%s: metadata "precision" must be "float32" or "float64", got %s' % (path, json.dumps(precision)))
    tokens, mask = tensors.pop("tokens", None), tensors.pop("mask", None)
    if tokens is None or stored["tokens"] != torch.int32 or tokens.dim() != 2:
        fail(EXIT_USAGE, '%s: "tokens" must be an I32 tensor (B, T)' % path)
    if mask is None or stored["mask"] != torch.float32 or tuple(mask.shape) != tuple(tokens.shape):
        fail(EXIT_USAGE, '%s: "mask" must be an F32 tensor of the shape of "tokens" %s' % (path, list(tokens.shape)))
    B, T = tokens.shape
    if T < 2:
        fail(EXIT_USAGE, "%s: T must be at least 2 (a target needs a next token), got %d" % (path, T))
    bad = ((tokens < 0) | (tokens >= cfg.vocab)).nonzero()
    if len(bad) > 0:
        b, t = (int(i) for i in bad[0])
        fail(EXIT_USAGE, "token id %d at (%d, %d) is outside the vocabulary [0, %d)" % (int(tokens[b, t]), b, t, cfg.vocab))
    off = ((mask != 0) & (mask != 1)).nonzero()
    if len(off) > 0:
        b, t = (int(i) for i in off[0])
        fail(EXIT_USAGE, "mask entries must be 0 or 1, got %r at (%d, %d)" % (float(mask[b, t]), b, t))
    if float(mask[:, :-1].sum()) == 0:
        fail(EXIT_USAGE, "%s: the mask counts no next-token target" % path)
    scale = 1.0
    if mode == "lora":
        try:
            scale = float(meta["lora_scale"])
        except (KeyError, ValueError):
            fail(EXIT_USAGE, '%s: LoRA mode needs metadata "lora_scale" (alpha / r) as a number' % path)
        if not tensors:
            fail(EXIT_USAGE, "%s: LoRA mode needs at least one lora_A/lora_B pair" % path)
    elif tensors:
        fail(EXIT_USAGE, "%s: full mode takes no tensors but tokens and mask, got %s" % (path, sorted(tensors)[0]))
    return tokens, mask, mode, tensors, scale, precision


def check_lora(cfg, w, lora):
    """Every tensor is the A or B of a projection of the model, in pairs, with shapes A (r, in) and B (out, r)."""
    for name in sorted(lora):
        for part in (".lora_A.weight", ".lora_B.weight"):
            if name.endswith(part):
                prefix = name[: -len(part)]
                break
        else:
            fail(EXIT_USAGE, "tensor %s is not a lora_A or lora_B weight" % name)
        base = w.get(prefix + ".weight")
        if base is None or base.dim() != 2 or prefix.endswith("embed_tokens") or prefix == "lm_head":
            fail(EXIT_USAGE, "tensor %s names no projection of the model" % name)
        a, b = lora.get(prefix + ".lora_A.weight"), lora.get(prefix + ".lora_B.weight")
        if a is None or b is None:
            fail(EXIT_USAGE, "%s has lora_%s without lora_%s" % (prefix, "A" if b is None else "B", "B" if b is None else "A"))
        out_f, in_f = base.shape
        if a.dim() != 2 or b.dim() != 2 or a.shape[1] != in_f or b.shape[0] != out_f or a.shape[0] != b.shape[1]:
            fail(EXIT_USAGE, "%s: lora_A %s and lora_B %s do not fit the weight %s (A (r, in), B (out, r))"
                 % (prefix, list(a.shape), list(b.shape), list(base.shape)))


def masked_loss(torch, F, logits, tokens, mask):
    """Mean cross-entropy of positions t < T - 1 with mask 1, predicting token t + 1; and the count."""
    V = logits.shape[-1]
    pred = logits[:, :-1, :].reshape(-1, V)
    target = tokens[:, 1:].reshape(-1)
    weight = mask[:, :-1].reshape(-1).to(logits.dtype)
    ce = F.cross_entropy(pred, target, reduction="none")
    count = weight.sum()
    return (ce * weight).sum() / count, int(count)


def run_job(torch, F, model_dir, input_path, output_path):
    cfg = read_config(model_dir)
    tokens, mask, mode, lora, scale, precision = read_batch(torch, cfg, input_path)
    weights, stored = read_weights(torch, model_dir)
    check_weights(cfg, weights)
    dtype = torch.float64 if precision == "float64" else torch.float32
    w = {name: t.to(dtype) for name, t in weights.items()}
    if mode == "full":
        trainable = dict(w)
    else:
        check_lora(cfg, w, lora)
        trainable = {name: t.to(dtype) for name, t in lora.items()}
        w.update(trainable)
        cfg.lora_scale = scale
    for t in trainable.values():
        t.requires_grad_(True)
    logits = torch_reference.forward_batch(cfg, w, stored, tokens)
    loss, count = masked_loss(torch, F, logits, tokens, mask)
    loss.backward()
    grads = []
    for name, t in trainable.items():
        g = t.grad if t.grad is not None else torch.zeros_like(t)
        grads.append((name, g.detach().to(torch.float32).contiguous()))
    meta = {"loss": repr(float(loss)), "count": str(count), "precision": precision}
    write_safetensors(output_path, grads, meta)


def write_safetensors(path, tensors, metadata):
    """F32 tensors in the order given, header padded with spaces to a multiple of 8 bytes."""
    header = {"__metadata__": metadata}
    offset = 0
    blobs = []
    for name, t in tensors:
        data = t.numpy().astype("<f4").tobytes() if _has_numpy() else struct.pack("<%df" % t.numel(), *t.view(-1).tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header)
    text += " " * ((8 - len(text.encode("utf-8")) % 8) % 8)
    raw = text.encode("utf-8")
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for blob in blobs:
            fh.write(blob)


def _has_numpy():
    try:
        import numpy  # noqa: F401
        return True
    except ImportError:
        return False


def main():
    args = sys.argv[1:]
    if len(args) == 0 or len(args) % 3 != 0:
        usage()
    jobs = [tuple(args[i : i + 3]) for i in range(0, len(args), 3)]
    for model_dir, _, _ in jobs:
        read_config(model_dir)  # bad directories and configs fail before the import of torch
    torch_reference.import_torch()
    torch, F = torch_reference.torch, torch_reference.F
    torch.set_num_threads(1)  # the same reduction order on every machine, and no contention with the tests
    for model_dir, input_path, output_path in jobs:
        run_job(torch, F, model_dir, input_path, output_path)


if __name__ == "__main__":
    main()
