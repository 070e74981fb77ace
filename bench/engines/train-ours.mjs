// Child process: our trainer (the built packages/cpu/dist TrainableTransformer, AdamW and clipGradNorm) on one
// checkpoint, mode and thread count: warm-up steps, then timed training steps (forwardLoss + backward +
// clipGradNorm + AdamW step + zeroGrad) on one fixed batch; sends each step's time and loss, its own peak RSS and,
// in LoRA mode, writes the adapter's initial A/B tensors for the PyTorch side to start from (lib/child.mjs protocol).
// Not the orchestrator (training.mjs) and not the PyTorch side (train_torch.py).
import { childMain, peakRssBytes } from "../lib/child.mjs";

const dist = (p) => new URL(`../../packages/cpu/dist/${p}`, import.meta.url).href;
const { loadModelDir } = await import(dist("loader/model-dir.js"));
const { writeSafetensors } = await import(dist("loader/safetensors-writer.js"));
const { TrainableTransformer } = await import(dist("training/trainable-transformer.js"));
const { AdamW, clipGradNorm } = await import(dist("training/optimizer.js"));

await childMain(async (config) => {
  const { modelPath, mode, lora, threads, B, T, tokens, warmup, steps, optimizer, loraInitPath } = config;
  const loadStart = performance.now();
  const checkpoint = await loadModelDir(modelPath);
  const opts = mode === "lora" ? { mode, lora: { rank: lora.rank, alpha: lora.alpha, targetKeys: [...lora.targetKeys] }, threads } : { mode, threads };
  const model = new TrainableTransformer(checkpoint.config, checkpoint.weights, opts);
  const loadMs = performance.now() - loadStart;
  try {
    const params = model.parameters();
    if (mode === "lora") {
      // The adapter's starting point (PEFT's: A random, B zero), so that PyTorch trains the very same tensors.
      await writeSafetensors(
        loraInitPath,
        params.map((p) => ({ name: p.name, dtype: "F32", shape: [...p.shape], data: new Uint8Array(Float32Array.from(p.value).buffer) })),
      );
    }
    const opt = new AdamW(params, { lr: optimizer.lr, betas: optimizer.betas, eps: optimizer.eps, weightDecay: optimizer.weightDecay });
    const ids = Int32Array.from(tokens);
    const step = () => {
      const t0 = performance.now();
      const loss = model.forwardLoss(ids, undefined, B, T);
      const t1 = performance.now();
      model.backward();
      const t2 = performance.now();
      clipGradNorm(params, optimizer.maxGradNorm);
      opt.step();
      model.zeroGrad();
      const t3 = performance.now();
      return { ms: t3 - t0, forwardMs: t1 - t0, backwardMs: t2 - t1, optimizerMs: t3 - t2, loss };
    };
    const warmupSteps = [];
    for (let i = 0; i < warmup; i++) warmupSteps.push(step());
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    const timed = [];
    for (let i = 0; i < steps; i++) timed.push(step());
    const wallMs = performance.now() - wall0;
    const cpu = process.cpuUsage(cpu0);
    return {
      ok: true,
      loadMs,
      kernels: model.kernels,
      threads: model.threads,
      trainableParams: params.reduce((n, p) => n + p.value.length, 0),
      firstLoss: warmupSteps[0].loss,
      warmupSteps,
      steps: timed,
      coresBusy: wallMs > 0 ? (cpu.user + cpu.system) / 1000 / wallMs : undefined,
      peakRssBytes: peakRssBytes(),
    };
  } finally {
    await model.close();
  }
});
