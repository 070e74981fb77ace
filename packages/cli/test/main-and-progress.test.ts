import { describe, expect, it } from "vitest";
import { runCli, mainHelp } from "../src/main.js";
import { formatBytes, ProgressBar, renderProgressLine } from "../src/progress-bar.js";
import { fakeIO } from "./helpers/fake-io.js";
import { scriptedSetup } from "./helpers/scripted-runtime.js";

describe("inference (top level)", () => {
  it("--version and -v print the version", async () => {
    const { runtime } = await scriptedSetup();
    for (const flag of ["--version", "-v"]) {
      const f = fakeIO();
      expect(await runCli([flag], f.io, runtime)).toBe(0);
      expect(f.stdout()).toBe("1.2.3\n");
    }
  });

  it("--help, -h and help print the overview to stdout", async () => {
    const { runtime } = await scriptedSetup();
    for (const args of [["--help"], ["-h"], ["help"]]) {
      const f = fakeIO();
      expect(await runCli(args, f.io, runtime)).toBe(0);
      expect(f.stdout()).toBe(`${mainHelp}\n`);
    }
  });

  it("every command has --help, also as help <command>", async () => {
    const { runtime, backend } = await scriptedSetup();
    for (const command of ["generate", "chat", "info", "backends", "convert"]) {
      for (const args of [[command, "--help"], [command, "-h"], ["help", command]]) {
        const f = fakeIO();
        expect(await runCli(args, f.io, runtime)).toBe(0);
        expect(f.stdout()).toMatch(new RegExp(`^Usage: inference ${command} `));
      }
    }
    expect(backend.loads).toHaveLength(0);
  });

  it("no command prints the overview to stderr and exits 2", async () => {
    const { runtime } = await scriptedSetup();
    const f = fakeIO();
    expect(await runCli([], f.io, runtime)).toBe(2);
    expect(f.stderr()).toBe(`${mainHelp}\n`);
  });

  it("an unknown command or flag exits 2 and lists the commands", async () => {
    const { runtime } = await scriptedSetup();
    const f = fakeIO();
    expect(await runCli(["generat", "x"], f.io, runtime)).toBe(2);
    expect(f.stderr()).toBe('inference: unknown command "generat" (commands: generate, chat, info, backends, convert, train)\nRun "inference --help" for usage.\n');
    const g = fakeIO();
    expect(await runCli(["--verbose"], g.io, runtime)).toBe(2);
    expect(g.stderr()).toContain('inference: unknown flag "--verbose" (commands: ');
    const h = fakeIO();
    expect(await runCli(["help", "toString"], h.io, runtime)).toBe(2);
    expect(h.stderr()).toContain('unknown command "toString"');
  });
});

describe("progress bar", () => {
  it("renders a line", () => {
    expect(renderProgressLine("loading", 5, 10, "count", 10)).toBe("loading [#####-----]  50%  5/10");
    expect(renderProgressLine("x", 0, 0, "count", 4)).toBe("x [----]   0%  0/0");
    expect(renderProgressLine("x", 3 * 2 ** 30, 3 * 2 ** 30, "bytes", 4)).toBe("x [####] 100%  3.0 GiB/3.0 GiB");
  });

  it("formats bytes", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(5 * 2 ** 20)).toBe("5.0 MiB");
  });

  it("draws nothing when the stream is not a terminal", () => {
    const f = fakeIO();
    const bar = new ProgressBar(f.io.stderr, { label: "x" });
    bar.update(1, 2);
    bar.finish();
    expect(bar.enabled).toBe(false);
    expect(f.stderr()).toBe("");
  });

  it("throttles redraws but always draws the end, then clears", () => {
    const f = fakeIO({ stderrTTY: true });
    let now = 0;
    const bar = new ProgressBar(f.io.stderr, { label: "x", now: () => now });
    bar.update(1, 100);
    bar.update(2, 100); // same instant: skipped
    now = 1000;
    bar.update(2, 100); // later: drawn
    bar.update(2, 100); // same percentage: skipped
    bar.update(100, 100); // the end: drawn at once
    bar.finish();
    const draws = f.stderr().split("\r").filter((d) => d.startsWith("x ["));
    expect(draws.map((d) => d.match(/(\d+)%/)?.[1])).toEqual(["1", "2", "100"]);
    expect(f.stderr().endsWith("\r\x1b[K")).toBe(true);
  });
});
