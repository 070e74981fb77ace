import { withMaxTokens, withTemperature } from "@dappcore/inference";
import { CpuBackend } from "@dappcore/inference-cpu";
const [path, q, threads] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 1)];
const opts = { contextLen: 512, threads }; if (q !== "none") opts.quantization = q;
const loaded = await new CpuBackend().loadModel(path, opts);
if (!loaded.ok) throw loaded.error;
const model = loaded.value;
const prompt = "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.";
const res = [];
for (let r = 0; r < 4; r++) {
  for await (const t of model.generate(prompt, withMaxTokens(64), withTemperature(0))) {}
  const m = model.metrics();
  if (r > 0) res.push([m.prefillTokensPerSec.toFixed(0), m.decodeTokensPerSec.toFixed(1)]);
}
console.log(`spin=${process.env.SPIN ?? "default"} threads=${threads}`, JSON.stringify(res), "maxRSS", (process.resourceUsage().maxRSS / 1024).toFixed(0));
await model.close();
if (globalThis.__W) { const rows = [...globalThis.__W.entries()].sort((a, b) => b[1][0] - a[1][0]).slice(0, 14); for (const [k, [t, n]] of rows) console.log(k.padEnd(40), t.toFixed(1).padStart(8), "ms", n, (t / n * 1000).toFixed(1), "us/call"); }
