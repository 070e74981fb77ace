import { withMaxTokens, withTemperature } from "@dappcore/inference";
import { CpuBackend } from "@dappcore/inference-cpu";
const [path, q, threads] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 1)];
const opts = { contextLen: 512, threads }; if (q !== "none") opts.quantization = q;
const model = (await new CpuBackend().loadModel(path, opts)).value;
const prompt = "abcdefghij".repeat(12).slice(0, 127);
const res = [];
for (let r = 0; r < 8; r++) {
  for await (const t of model.generate(prompt, withMaxTokens(2), withTemperature(0))) {}
  res.push(model.metrics().prefillTokensPerSec.toFixed(0));
}
console.log(`threads=${threads} ${q} prefill tok/s`, res.join(" "));
await model.close();
