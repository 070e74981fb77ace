// Describes the machine a benchmark ran on (date, Node, CPU model, cores, memory, load) for the report header.
// It reads /proc/cpuinfo where there is one; it measures nothing.
import { readFileSync } from "node:fs";
import os from "node:os";

/** The CPU model as /proc/cpuinfo names it, else as Node does. */
export function cpuModel() {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => /^model name\s*:/.test(l));
    if (line) return line.replace(/^model name\s*:\s*/, "").trim();
  } catch {
    // not Linux: fall through to os.cpus()
  }
  return os.cpus()[0]?.model?.trim() || "unknown CPU";
}

/** What the report's header line says about this machine now. */
export function describeMachine() {
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryBytes: os.totalmem(),
    loadAverage: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}
