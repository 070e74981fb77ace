// The seed's first example: load a model through the automatic backend choice, stream tokens, close it.
// A backend registers itself when its package is imported, e.g. `import "@dappcore/inference-cpu";`. Without one,
// loadModel fails cleanly with `no_backends_registered` instead of throwing.
import { loadModel, withMaxTokens } from "@dappcore/inference";

const r = await loadModel("/path/to/safetensors/model/");
if (!r.ok) {
  console.error(r.error.message); // e.g. "inference.defaultBackend: no backends registered"
  process.exit(1);
}
// `await using` closes the model at the end of the scope (the seed's `defer model.Close()`).
await using model = r.value;
for await (const tok of model.generate("Hello", withMaxTokens(256))) {
  process.stdout.write(tok.text);
}
const done = model.err(); // a failed stream throws too, and the error stays readable here
if (!done.ok) console.error(done.error.message);
