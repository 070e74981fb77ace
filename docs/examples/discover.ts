// Finding models on disk (Node only, from the `/node` subpath): safetensors directories and .gguf files, recursively.
import { discover } from "@dappcore/inference/node";

for await (const m of discover("/srv/models")) {
  const quant = m.quantBits === 0 ? "unquantised" : `${m.quantBits}-bit ${m.quantType}`;
  console.log(`${m.path}  ${m.format}  ${m.modelType}  ${quant}`);
}
