// The markdown pieces both benchmark reports share (report.mjs for run.mjs, training-report.mjs for training.mjs):
// number formats for table cells, the machine line under the title, and the "n/a [k]" cells with their footnotes.
// Pure functions: no I/O, and nothing about what either benchmark measures.

/** A rate (tokens/s): 3 significant-ish figures, "-" when not measured. @example rate(12.345) // "12.3" */
export const rate = (v) => (v === undefined ? "-" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** Milliseconds, "-" when not measured. @example ms(42.25) // "42.3" */
export const ms = (v) => (v === undefined ? "-" : v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** Bytes as whole megabytes (10^6), "-" when not measured. @example mb(2.5e8) // "250" */
export const mb = (v) => (v === undefined ? "-" : (v / 1e6).toFixed(0));

/** A ratio as "1.23x", "-" when not measured. @example times(0.5) // "0.50x" */
export const times = (v) => (v === undefined ? "-" : `${v.toFixed(2)}x`);

/**
 * The line under a report's title: date, Node, platform, CPU, cores, memory, load average at start (and end), the
 * command and how long it took. `report` holds `machine` (from machine.mjs), `command` and `elapsedSec`.
 */
export function machineLine(report) {
  const { machine } = report;
  return (
    `${machine.date.slice(0, 10)} · Node ${machine.node} · ${machine.platform} · CPU: ${machine.cpu} · ` +
    `${machine.cores} cores · ${(machine.memoryBytes / 2 ** 30).toFixed(0)} GiB · load average at start ` +
    `${machine.loadAverage.join(" / ")}` +
    (machine.loadAverageEnd ? `, at end ${machine.loadAverageEnd.join(" / ")}` : "") +
    ` · \`${report.command}\` took ${Math.round(report.elapsedSec)} s`
  );
}

/**
 * Footnotes for cells an engine could not fill: `cell(summary, value, where)` gives `value(summary)` when the
 * summary is ok, else "n/a [k]", where k numbers the distinct reasons and `where` (e.g. "ours F32 1t") is listed
 * under it; `lines()` is the "Not measured:" section to append (empty when every cell was filled).
 */
export function footnotes() {
  const notes = [];
  return {
    cell(summary, value, where) {
      if (summary.ok) return value(summary);
      let n = notes.findIndex((x) => x.reason === summary.reason) + 1;
      if (n === 0) {
        notes.push({ reason: summary.reason, where: [] });
        n = notes.length;
      }
      if (!notes[n - 1].where.includes(where)) notes[n - 1].where.push(where);
      return `n/a [${n}]`;
    },
    lines() {
      if (notes.length === 0) return [];
      return ["", "Not measured:", "", ...notes.map((n, i) => `- [${i + 1}] ${n.where.join(", ")}: ${n.reason}`)];
    },
  };
}
