// The seed's Core service: register the inference runtime with a Core, then reach it through actions.
import { Core, newService, registerCore } from "@dappcore/inference";

const c = new Core();
const plain = registerCore(c);
if (!plain.ok) throw plain.error;

// Or with options, on another Core
const c2 = new Core();
const svc = newService({ defaultBackend: "metal", modelPath: "/srv/models/gemma-4-e2b" });
const r = svc(c2);
if (!r.ok) throw r.error;

// Any consumer of the Core can now run the actions.
const loaded = await c2.action("inference.load").run({}); // modelPath and defaultBackend fill the gaps
if (loaded.ok) {
  const out = await c2.action("inference.generate").run({ prompt: "Hello", maxTokens: 32 });
  if (out.ok) console.log((out.value as { text: string }).text);
}
const backends = await c.action("inference.backends").run();
console.log(backends);
