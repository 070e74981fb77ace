import { withMaxTokens, withTemperature } from "@dappcore/inference";
import { CpuBackend } from "@dappcore/inference-cpu";
const mb = (n) => (n / 1048576).toFixed(1);
const show = (label) => { const m = process.memoryUsage(); console.log(label.padEnd(14), "rss", mb(m.rss), "heap", mb(m.heapUsed), "/", mb(m.heapTotal), "ext", mb(m.external), "ab", mb(m.arrayBuffers), "maxRSS", mb(process.resourceUsage().maxRSS * 1024)); };
const [path, q, threads] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 1)];
show("start");
const opts = { contextLen: 256, threads }; if (q !== "none") opts.quantization = q;
const loaded = await new CpuBackend().loadModel(path, opts);
if (!loaded.ok) throw loaded.error;
show("loaded");
const model = loaded.value;
for await (const t of model.generate("x".repeat(128), withMaxTokens(128), withTemperature(0))) {}
show("generated");
