// Runs an engine that is not a Node script (the PyTorch side of the training benchmark) in its own process and
// returns what it reported, with the same contract as child.mjs's runChild: never throws, `{ ok: false, reason }`
// for a crash, a missing result or a timeout. The protocol: the config is argv[1] as JSON; the child prints its
// result as one stdout line `BENCH_RESULT {json}`; everything else it prints goes to this process's stderr.
// Not the Node engines' protocol (child.mjs), and it knows nothing of PyTorch.
import { spawn } from "node:child_process";

/** The prefix of the one stdout line that carries the child's result. */
export const RESULT_PREFIX = "BENCH_RESULT ";

/**
 * Spawns `interpreter script JSON(config)` with `env` added to this process's environment and waits for it.
 *
 * @example await runScriptChild("/usr/bin/python3", "bench/engines/train_torch.py", { threads: 1 }, 600)
 */
export function runScriptChild(interpreter, script, config, timeoutSec, env = {}) {
  return new Promise((resolve) => {
    let settled = false;
    let stdout = "";
    let stderrTail = "";
    let child;
    const finish = (value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(value);
    };
    const timer = setTimeout(() => {
      finish({ ok: false, reason: `stopped after ${timeoutSec} s (--timeout)` });
      child?.kill("SIGKILL");
    }, timeoutSec * 1000);
    try {
      child = spawn(interpreter, [script, JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    } catch (error) {
      finish({ ok: false, reason: `could not start ${interpreter}: ${error.message}` });
      return;
    }
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (text) => {
      stdout += text;
    });
    child.stderr.on("data", (text) => {
      process.stderr.write(text);
      stderrTail = (stderrTail + text).slice(-4096);
    });
    child.on("error", (error) => finish({ ok: false, reason: `could not start ${interpreter}: ${error.message}` }));
    child.on("close", (code, signal) => finish(parseScriptResult(stdout, stderrTail, code, signal)));
  });
}

/**
 * The result of a finished child from its stdout, the tail of its stderr and its exit: the parsed `BENCH_RESULT`
 * line (the last one, when several); otherwise `{ ok: false, reason }` naming the exit and the last line it wrote
 * to stderr. Other stdout lines are passed to stderr unparsed.
 */
export function parseScriptResult(stdout, stderrTail, code, signal) {
  const lines = stdout.split("\n");
  const resultLines = lines.filter((l) => l.startsWith(RESULT_PREFIX));
  const other = lines.filter((l) => !l.startsWith(RESULT_PREFIX) && l.trim() !== "");
  if (other.length > 0) process.stderr.write(other.join("\n") + "\n");
  const exit = signal ? `signal ${signal}` : `exit code ${code}`;
  if (resultLines.length > 0) {
    const text = resultLines[resultLines.length - 1].slice(RESULT_PREFIX.length);
    try {
      const value = JSON.parse(text);
      if (value && typeof value === "object" && typeof value.ok === "boolean") return value;
      return { ok: false, reason: `the engine's result is not an object with "ok" (${exit})` };
    } catch {
      return { ok: false, reason: `the engine's result line is not JSON (${exit})` };
    }
  }
  const last = stderrTail
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .pop();
  return { ok: false, reason: `the engine process ended without a result (${exit})${last ? `: ${last}` : ""}` };
}
