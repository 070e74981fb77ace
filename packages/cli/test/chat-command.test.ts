import { beforeEach, describe, expect, it, vi } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { runCli } from "../src/main.js";
import { fakeIO } from "./helpers/fake-io.js";
import { scriptedSetup, type ScriptedSetup } from "./helpers/scripted-runtime.js";

let s: ScriptedSetup;
beforeEach(async () => {
  s = await scriptedSetup();
});

describe("inference chat, one message", () => {
  it("reads the whole of a non-terminal stdin as one user message and answers once", async () => {
    const f = fakeIO({ stdin: "What is up?\nSecond line.\n\n" });
    expect(await runCli(["chat", "-m", s.modelDir, "--system", "Be brief."], f.io, s.runtime)).toBe(0);
    expect(s.backend.chatCalls).toHaveLength(1);
    expect(s.backend.chatCalls[0].messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "What is up?\nSecond line." },
    ]);
    expect(f.stdout()).toBe('You said "What is up?\nSecond line." (turn 1)\n');
    expect(s.backend.closed).toBe(1);
  });

  it("takes the message from the arguments, with sampling flags and --metrics", async () => {
    const f = fakeIO({ stdinTTY: true });
    expect(await runCli(["chat", "-m", s.modelDir, "--seed", "3", "--max-tokens", "2", "--metrics", "hi", "there"], f.io, s.runtime)).toBe(0);
    expect(s.backend.chatCalls[0].messages).toEqual([{ role: "user", content: "hi there" }]);
    expect(s.backend.chatCalls[0].config).toMatchObject({ seed: 3, maxTokens: 2 });
    expect(f.stdout()).toBe("You said\n");
    expect(f.stderr()).toContain("generated tokens:    4");
  });

  it("an empty stdin is a usage error, found before loading", async () => {
    const f = fakeIO({ stdin: " \n" });
    expect(await runCli(["chat", "-m", s.modelDir], f.io, s.runtime)).toBe(2);
    expect(f.stderr()).toBe('inference chat: stdin is empty: pipe a message in (echo "hi" | inference chat), or run it in a terminal\n' +
      'Run "inference chat --help" for usage.\n');
    expect(s.backend.loads).toHaveLength(0);
  });

  it("a bad sampling flag is a usage error", async () => {
    const f = fakeIO({ stdin: "hi" });
    expect(await runCli(["chat", "-m", s.modelDir, "--temperature", "hot"], f.io, s.runtime)).toBe(2);
    expect(f.stderr()).toContain('inference chat: --temperature must be a number >= 0, got "hot"\n');
  });

  it("Ctrl-C during the answer exits 130", async () => {
    const f = fakeIO({ stdin: "hi" });
    s.backend.beforeToken = async (i) => {
      if (i === 1) f.interrupt();
    };
    expect(await runCli(["chat", "-m", s.modelDir], f.io, s.runtime)).toBe(130);
    expect(f.stdout()).toBe("You\n");
    expect(f.stderr()).toBe("inference: interrupted\n");
  });

  it("a model that fails to load exits 1", async () => {
    const f = fakeIO({ stdin: "hi" });
    expect(await runCli(["chat", "-m", `${s.root}/missing`], f.io, s.runtime)).toBe(1);
    expect(f.stderr()).toContain(`inference: model not found: ${s.root}/missing\n`);
  });
});

describe("inference chat, interactive", () => {
  it("keeps the conversation, /reset starts over (keeping the system message), /exit quits", async () => {
    const f = fakeIO({ stdinTTY: true, stdin: "hello\n\nagain\n/reset\nthird\n/exit\nnever read\n" });
    expect(await runCli(["chat", "-m", s.modelDir, "--system", "sys"], f.io, s.runtime)).toBe(0);
    const calls = s.backend.chatCalls.map((c) => c.messages);
    expect(calls).toEqual([
      [{ role: "system", content: "sys" }, { role: "user", content: "hello" }],
      [
        { role: "system", content: "sys" },
        { role: "user", content: "hello" },
        { role: "assistant", content: 'You said "hello" (turn 1)' },
        { role: "user", content: "again" },
      ],
      [{ role: "system", content: "sys" }, { role: "user", content: "third" }],
    ]);
    expect(f.stdout()).toBe('> You said "hello" (turn 1)\n> > You said "again" (turn 2)\n> > You said "third" (turn 1)\n> ');
    expect(f.stderr()).toBe("chatting with qwen3 (/reset starts over, /exit quits)\n(conversation cleared)\n");
    expect(s.backend.closed).toBe(1);
    expect(f.handlerCount()).toBe(0);
  });

  it("ends cleanly at the end of input", async () => {
    const f = fakeIO({ stdinTTY: true, stdin: "one\n" });
    expect(await runCli(["chat", "-m", s.modelDir], f.io, s.runtime)).toBe(0);
    expect(s.backend.chatCalls).toHaveLength(1);
  });

  it("Ctrl-C stops the answer, drops that turn, and the conversation goes on", async () => {
    const f = fakeIO({ stdinTTY: true, stdin: "first\nsecond\n" });
    let calls = 0;
    s.backend.beforeToken = async (i) => {
      if (i === 0) calls++;
      if (calls === 1 && i === 1) f.interrupt();
    };
    expect(await runCli(["chat", "-m", s.modelDir], f.io, s.runtime)).toBe(0);
    expect(f.stdout()).toBe('> You\n> You said "second" (turn 1)\n> ');
    expect(f.stderr()).toContain("(interrupted)\n");
    expect(s.backend.chatCalls[1].messages).toEqual([{ role: "user", content: "second" }]);
  });

  it("Ctrl-C at the prompt ends the chat with 130", async () => {
    const f = fakeIO({ stdinTTY: true, keepStdinOpen: true });
    const run = runCli(["chat", "-m", s.modelDir], f.io, s.runtime);
    await vi.waitFor(() => expect(f.stdout()).toBe("> "));
    expect(f.interrupt()).toBe(true);
    expect(await run).toBe(130);
    expect(s.backend.closed).toBe(1);
  });

  it("an error in one turn is reported and the conversation goes on", async () => {
    s.backend.streamError = {
      afterTokens: 1,
      error: new InferenceError({ code: "context_length_exceeded", op: "scripted.chat", message: "conversation of 300 tokens exceeds the context of 256" }),
    };
    const f = fakeIO({ stdinTTY: true, stdin: "a\nb\n" });
    expect(await runCli(["chat", "-m", s.modelDir], f.io, s.runtime)).toBe(0);
    expect(f.stderr()).toContain("inference: scripted.chat: conversation of 300 tokens exceeds the context of 256\n" +
      "hint: shorten the prompt, or raise --context-len up to the model's context length\n");
    expect(s.backend.chatCalls).toHaveLength(2);
    expect(s.backend.chatCalls[1].messages).toEqual([{ role: "user", content: "b" }]);
  });
});
