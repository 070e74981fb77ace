// The seed's fine-tuning path: loadTrainable gives the generation surface plus the training surface. Backends that
// ship inference only answer with `unsupported`.
import { defaultLoRAConfig, loadTrainable, withAdapterPath } from "@dappcore/inference";

const r = await loadTrainable("/path/to/model", withAdapterPath("lora/"));
if (!r.ok) {
  console.error(r.error.code, r.error.message); // "unsupported" for inference-only backends
} else {
  const trainable = r.value;
  // Same generation surface
  for await (const tok of trainable.generate("prompt")) process.stdout.write(tok.text);
  // Plus the training surface
  const adapter = trainable.applyLoRA(defaultLoRAConfig());
  if (!adapter.ok) throw adapter.error;
  const batch = { tokens: [trainable.encode("The quick brown fox")] };
  const loss = await trainable.loss(batch);
  if (!loss.ok) throw loss.error;
  const backward = await trainable.backward(loss.value);
  if (!backward.ok) throw backward.error;
  const step = await trainable.step();
  if (!step.ok) throw step.error;
  await adapter.value.save("lora-out/");
  await trainable.close();
}
