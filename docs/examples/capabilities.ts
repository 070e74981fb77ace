// The seed's discovery loop: what every registered backend declares, then what one loaded model reports.
import { backendCaps, capabilitiesOf, CapabilityId, list, loadModel, supports } from "@dappcore/inference";

for (const name of list()) {
  for (const cap of backendCaps(name)) {
    console.log(`${name}: ${cap.id} (${cap.status})`);
  }
}

const r = await loadModel("/path/to/model");
if (r.ok) {
  const report = capabilitiesOf(r.value);
  if (report.ok && supports(report.value, CapabilityId.probeLogits)) console.log("per-token logits available");
  await r.value.close();
}
