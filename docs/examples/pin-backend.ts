// Pinning a backend instead of the automatic choice (metal, rocm, cuda, llama_cpp, then the rest by name), and
// mixing functional options with a plain object.
import { loadModel, withBackend, withContextLen, withMaxTokens, withTemperature } from "@dappcore/inference";

const path = "/path/to/model";
const r = await loadModel(path, withBackend("metal"), withContextLen(4096), { gpuLayers: -1 });
if (!r.ok) {
  // backend_not_registered / backend_unavailable name the backend and list the registered ones.
  console.error(r.error.code, r.error.message);
} else {
  const model = r.value;
  for await (const tok of model.generate("Hello", withMaxTokens(64), { temperature: 0.7 }, withTemperature(0.2))) {
    process.stdout.write(tok.text);
  }
  await model.close();
}
