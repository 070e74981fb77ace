#!/usr/bin/python3
"""Child process of the training benchmark: PyTorch trains the same checkpoint on the same batch as our trainer.

What it is for: given one configuration (model directory, "full" or "lora", threads, B, T, the token ids, warm-up
and timed step counts, the optimiser settings and, in LoRA mode, the adapter's initial tensors that our side wrote),
it runs training steps of the float32 Hugging Face-faithful model of scripts/reference/torch_reference.py
(forward_batch, eager attention) with the causal-LM loss of torch_gradients.py (masked_loss, every target counted):
forward + loss.backward() + torch.nn.utils.clip_grad_norm_ + torch.optim.AdamW.step() + zero_grad(set_to_none=True),
on torch.set_num_threads(threads). It reports each step's time and loss, the cores kept busy and its peak RSS.

What it is not: a trainer for real use, a second model implementation (it imports the reference's), or the timing
of anything but whole steps split into forward, backward and optimiser.

Protocol (bench/lib/python-child.mjs): argv[1] is the configuration as JSON; the result is one stdout line
"BENCH_RESULT {json}"; {"ok": false, "reason": ...} when something fails; messages go to stderr.
"""
import json
import os
import resource
import sys
import time

sys.dont_write_bytecode = True  # importing the reference modules leaves no __pycache__ in the repository
REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "reference")
sys.path.insert(0, REFERENCE)

RESULT_PREFIX = "BENCH_RESULT "


def peak_rss_bytes():
    """This process's own peak RSS: VmHWM on Linux (ru_maxrss there also counts the parent's resident set at fork)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def emit(result):
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


BLAS_NAMES = ("libblas", "libopenblas", "libscipy_openblas", "libmkl_rt", "libblis", "libatlas", "libcblas")


def loaded_blas():
    """The real paths of the BLAS libraries mapped into this process (torch's matrix products run on them)."""
    found = []
    try:
        with open("/proc/self/maps", "r", encoding="utf-8") as fh:
            for line in fh:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                if path.startswith("/") and os.path.basename(path).startswith(BLAS_NAMES):
                    real = os.path.realpath(path)
                    if real not in found:
                        found.append(real)
    except OSError:
        pass  # not Linux: nothing to report
    return found


def run(config):
    import torch_checkpoint  # noqa: E402
    import torch_gradients  # noqa: E402
    import torch_reference  # noqa: E402

    torch_checkpoint.PROGRAM = "train_torch"
    load_start = time.perf_counter()
    cfg = torch_gradients.read_config(config["modelPath"])
    torch_reference.import_torch()
    torch, F = torch_reference.torch, torch_reference.F
    threads = int(config["threads"])
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set once parallel work ran; the intra-op count above is what matters here
    weights, stored = torch_checkpoint.read_weights(torch, config["modelPath"])
    torch_checkpoint.check_weights(cfg, weights)
    w = dict(weights)
    mode = config["mode"]
    if mode == "full":
        params = list(w.values())
    elif mode == "lora":
        lora, lora_stored = {}, {}
        torch_checkpoint.read_safetensors(torch, config["loraInitPath"], lora, lora_stored, allowed=("F32",))
        torch_gradients.check_lora(cfg, w, lora)
        cfg.lora_scale = float(config["lora"]["alpha"]) / float(config["lora"]["rank"])
        w.update(lora)
        params = list(lora.values())
    else:
        return {"ok": False, "reason": 'mode must be "full" or "lora", got %s' % json.dumps(mode)}
    for p in params:
        p.requires_grad_(True)
    o = config["optimizer"]
    opt = torch.optim.AdamW(params, lr=o["lr"], betas=tuple(o["betas"]), eps=o["eps"], weight_decay=o["weightDecay"])
    B, T = int(config["B"]), int(config["T"])
    tokens = torch.tensor(config["tokens"], dtype=torch.int64).view(B, T)
    mask = torch.ones(B, T, dtype=torch.float32)
    load_ms = (time.perf_counter() - load_start) * 1000

    def step():
        t0 = time.perf_counter()
        logits = torch_reference.forward_batch(cfg, w, stored, tokens)
        loss, _ = torch_gradients.masked_loss(torch, F, logits, tokens, mask)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, o["maxGradNorm"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        return {
            "ms": (t3 - t0) * 1000,
            "forwardMs": (t1 - t0) * 1000,
            "backwardMs": (t2 - t1) * 1000,
            "optimizerMs": (t3 - t2) * 1000,
            "loss": float(loss),
        }

    warmup_steps = [step() for _ in range(int(config["warmup"]))]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    timed = [step() for _ in range(int(config["steps"]))]
    wall_ms = (time.perf_counter() - wall0) * 1000
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_ms = ((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)) * 1000
    return {
        "ok": True,
        "loadMs": load_ms,
        "torchVersion": torch.__version__,
        "blas": loaded_blas(),
        "threads": torch.get_num_threads(),
        "trainableParams": sum(p.numel() for p in params),
        "firstLoss": warmup_steps[0]["loss"] if warmup_steps else None,
        "warmupSteps": warmup_steps,
        "steps": timed,
        "coresBusy": cpu_ms / wall_ms if wall_ms > 0 else None,
        "peakRssBytes": peak_rss_bytes(),
    }


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("train_torch: usage: train_torch.py CONFIG_JSON\n")
        sys.exit(2)
    try:
        config = json.loads(sys.argv[1])
    except ValueError as exc:
        emit({"ok": False, "reason": "the configuration is not JSON (%s)" % exc})
        return
    # torch_checkpoint.fail() writes one line to stderr and exits (SystemExit passes through): the parent reports it.
    try:
        result = run(config)
    except Exception as exc:  # noqa: BLE001  (any failure becomes the row's reason, not a traceback)
        result = {"ok": False, "reason": "%s: %s" % (type(exc).__name__, exc)}
    emit(result)


if __name__ == "__main__":
    main()
