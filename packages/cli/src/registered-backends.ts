/**
 * The registry as `inference backends` shows it: each registered name with its availability and capabilities.
 * Kept apart from default-runtime.ts so it can be used without importing any backend package.
 */
import { capabilitiesOf, get, list, type Backend } from "@dappcore/inference";
import type { BackendEntry } from "./cli-runtime.js";

/** Every registered backend, sorted by name; one whose capabilities cannot be read is listed as unavailable. */
export function registeredBackends(): BackendEntry[] {
  const entries: BackendEntry[] = [];
  for (const name of list()) {
    const backend: Backend | undefined = get(name);
    if (backend === undefined) continue;
    const report = capabilitiesOf(backend);
    entries.push(report.ok
      ? { name, available: report.value.available, capabilities: report.value.capabilities }
      : { name, available: false, capabilities: [] });
  }
  return entries;
}
