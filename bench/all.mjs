// `npm run bench`: runs the inference benchmark (run.mjs) and then the training benchmark (training.mjs), or the
// one named first (`npm run bench -- training --quick`), each as its own Node process with this terminal. It only
// dispatches (lib/dispatch.mjs decides what); it measures nothing itself.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { DISPATCH_USAGE, planBench } from "./lib/dispatch.mjs";

let plan;
try {
  plan = planBench(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`bench: ${e.detail ?? e.message}\n\n${DISPATCH_USAGE}\n`);
  process.exit(2);
}
let status = 0;
for (const { name, script, args } of plan) {
  if (plan.length > 1) process.stderr.write(`bench: the ${name} benchmark (${["node", `bench/${script}`, ...args].join(" ")})\n`);
  const run = spawnSync(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: "inherit" });
  const code = run.status ?? 1;
  if (code !== 0) {
    process.stderr.write(`bench: the ${name} benchmark failed (${run.signal ? `signal ${run.signal}` : `exit code ${code}`})\n`);
    status = status || code;
  }
}
process.exit(status);
