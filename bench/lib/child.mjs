// Runs one engine for one configuration in its own Node process and returns what it reported, so that each peak
// RSS belongs to one engine alone and no run shares a process (or a JIT, or an allocator) with another. It is the
// parent's side of the protocol; the engines are in ../engines/.
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * Forks `script` with `config` (JSON) as its argument and waits for its one `{ type: "result" }` message.
 * Never throws: a child that crashes, exits without a result or runs past `timeoutSec` gives `{ ok: false, reason }`.
 * The child's stdout and stderr both go to this process's stderr, so the table on stdout stays clean.
 */
export function runChild(script, config, timeoutSec) {
  return new Promise((resolve) => {
    let settled = false;
    let result;
    const child = fork(script, [JSON.stringify(config)], { stdio: ["ignore", 2, 2, "ipc"], execArgv: [] });
    const timer = setTimeout(() => {
      if (settled) return;
      finish({ ok: false, reason: `stopped after ${timeoutSec} s (--timeout)` });
      child.kill("SIGKILL");
    }, timeoutSec * 1000);
    const finish = (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
    child.on("message", (message) => {
      if (message && message.type === "result") result = message.result;
    });
    child.on("error", (error) => finish({ ok: false, reason: `could not start ${script}: ${error.message}` }));
    child.on("exit", (code, signal) => {
      if (result !== undefined) finish(result);
      else finish({ ok: false, reason: `the engine process ended without a result (${signal ? `signal ${signal}` : `exit code ${code}`})` });
    });
  });
}

/**
 * The child's side: reads the config from argv, runs `body(config)` and sends its value (or the failure as
 * `{ ok: false, reason }`) to the parent, then exits.
 */
export async function childMain(body) {
  let result;
  try {
    result = await body(JSON.parse(process.argv[2]));
  } catch (e) {
    result = { ok: false, reason: describeError(e) };
  }
  await new Promise((resolve) => process.send({ type: "result", result }, resolve));
  process.exit(0);
}

/** One line naming an error: `code: message` for typed errors, the message otherwise. */
export function describeError(e) {
  if (e && typeof e === "object" && typeof e.code === "string" && typeof e.message === "string") return `${e.code}: ${e.message}`;
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * This process's peak resident set size in bytes. On Linux it is VmHWM from /proc/self/status: the high-water mark of
 * this process's own memory. `process.resourceUsage().maxRSS` there also counts the parent's resident set at the
 * time of the fork (the kernel carries it across exec), so a child of a 600 MB parent reported 600 MB before doing
 * anything. Elsewhere, maxRSS.
 */
export function peakRssBytes() {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}
