// Chat templates: the three real templates render exactly as Python Jinja2 does with transformers' settings
// (scripts/reference/render_chat_template.py, with Debian's python3-jinja2 3.1.2 in CI), and hostile templates fail fast with typed errors naming the limit.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isInferenceError } from "@dappcore/inference";
import { renderChatTemplate, strftime, type ChatTemplateContext, type ChatTemplateLimits } from "../../src/text/chat-template.js";
import { ourTokenizer, REAL_MODELS } from "./real-tokenizers.js";

const SCRIPT = fileURLToPath(new URL("../../../../scripts/reference/render_chat_template.py", import.meta.url));
// Debian's interpreter first (CI installs python3-jinja2 for it), else whatever python3 is on PATH.
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
const hasJinja2 = spawnSync(PYTHON, ["-c", "import jinja2"]).status === 0;
if (!hasJinja2 && process.env["CI"]) throw new Error("python3 with jinja2 is required in CI (apt-get install python3-jinja2)");

const CONVERSATIONS: Array<ChatTemplateContext["messages"]> = [
  [{ role: "user", content: "Hello!" }],
  [
    { role: "system", content: "You are terse." },
    { role: "user", content: "What is 2+2?" },
  ],
  [
    { role: "system", content: "Be kind.\n\nAlways." },
    { role: "user", content: "  Hi there  " },
    { role: "assistant", content: "Hello! How can I help? 😀" },
    { role: "user", content: "Tell me about 東京 and café." },
  ],
  [
    { role: "user", content: "first" },
    { role: "assistant", content: "second" },
    { role: "user", content: "third\nwith <|im_end|> and <end_of_turn> inside" },
  ],
];

function pythonRender(template: string, cases: Array<Record<string, unknown>>): Array<{ text?: string; error?: string }> {
  const out = execFileSync(PYTHON, [SCRIPT], { input: JSON.stringify({ template, cases }), encoding: "utf8" });
  return JSON.parse(out) as Array<{ text?: string; error?: string }>;
}

const jinjaTitle = `real chat templates against Python Jinja2${hasJinja2 ? "" : " (skipped: python3 jinja2 not installed)"}`;
describe.skipIf(!hasJinja2)(jinjaTitle, () => {
  it.each(REAL_MODELS)("%s renders exactly as the reference renderer", async (name) => {
    const tok = await ourTokenizer(name);
    const template = tok.chatTemplate as string;
    const cases: Array<{ ours: ChatTemplateContext; py: Record<string, unknown> }> = [];
    for (const messages of CONVERSATIONS) {
      for (const addGenerationPrompt of [true, false]) {
        const py = { messages, add_generation_prompt: addGenerationPrompt, ...tok.specialTokens };
        const ours: ChatTemplateContext = {
          messages,
          addGenerationPrompt,
          specialTokens: tok.specialTokens,
          ...(tok.specialTokens["bos_token"] ? { bosToken: tok.specialTokens["bos_token"] } : {}),
          ...(tok.specialTokens["eos_token"] ? { eosToken: tok.specialTokens["eos_token"] } : {}),
        };
        cases.push({ ours, py });
      }
    }
    const expected = pythonRender(template, cases.map((c) => c.py));
    cases.forEach((c, i) => {
      const want = expected[i];
      expect(want?.error, `python failed on case ${i}`).toBeUndefined();
      expect(renderChatTemplate(template, c.ours)).toBe(want?.text);
    });
  });

  it("renders raise_exception, loop controls, tojson and namespace as Jinja2 does", () => {
    const template =
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% if loop.index > 2 %}{% break %}{% endif %}" +
      "{% set ns.n = ns.n + 1 %}{{ m.role | upper }}={{ m.content | trim }}|{% endfor %}{{ ns.n }} {{ messages[0] | tojson }}";
    const messages = [
      { role: "user", content: " a " },
      { role: "assistant", content: "b ü" },
      { role: "user", content: "c" },
    ];
    const [want] = pythonRender(template, [{ messages }]);
    expect(renderChatTemplate(template, { messages })).toBe(want?.text);
  });
});

function expectError(fn: () => unknown, code: string, message: RegExp, limit?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isInferenceError(caught), String(caught)).toBe(true);
  expect((caught as { code: string }).code).toBe(code);
  expect((caught as Error).message).toMatch(message);
  if (limit) expect((caught as { details: Record<string, unknown> }).details["limit"]).toBe(limit);
}

describe("hostile templates fail with typed errors, quickly, and leave the process healthy", () => {
  const messages = [{ role: "user", content: "x" }];
  const cases: Array<[string, string, RegExp, string, ChatTemplateLimits?]> = [
    ["a huge range", "{% for i in range(1000000000) %}{{ i }}{% endfor %}", /range\(\) for 1000000000 items, over 100000 \(limit maxItems\)/, "maxItems"],
    ["nested loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", /limit (maxSteps|timeoutMs)/, ""],
    ["string doubling", "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}", /over 16000000 \(limit maxOutputChars\)/, "maxOutputChars"],
    ["list doubling", "{% set ns = namespace(l=[1]) %}{% for i in range(60) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", /list of 131072 items, over 100000 \(limit maxItems\)/, "maxItems"],
    ["a huge indent", "{{ 'a\nb' | indent(1000000000) }}", /indent for a width of 1000000000, over 256 \(limit maxWidth\)/, "maxWidth"],
    ["a huge tojson indent", "{{ messages | tojson(indent=100000000) }}", /tojson for a width of 100000000/, "maxWidth"],
    ["unbounded recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", /nested deeper than 500 \(limit maxDepth\)/, "maxDepth"],
    ["a step budget", "{% for i in range(1000) %}{{ i }}{% endfor %}", /exceeded 100 evaluation steps \(limit maxSteps\)/, "maxSteps", { maxSteps: 100 }],
    ["a time budget", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", /ran longer than 50 ms \(limit timeoutMs\)/, "timeoutMs", { timeoutMs: 50, maxSteps: 1e12 }],
  ];
  it.each(cases)("%s", (_name, template, message, limit, limits) => {
    const t0 = performance.now();
    expectError(() => renderChatTemplate(template, { messages }, limits), "invalid_argument", message, limit || undefined);
    expect(performance.now() - t0).toBeLessThan(5000); // generous bound on a loaded 2-core machine; the design target is ~1 s
    expect(renderChatTemplate("{{ messages[0].content }}", { messages })).toBe("x"); // still healthy
  });

  it("raise_exception becomes a typed error carrying the template's message", () => {
    expectError(
      () => renderChatTemplate("{{ raise_exception('Conversation roles must alternate') }}", { messages }),
      "invalid_argument",
      /chat template raised: Conversation roles must alternate/,
    );
  });
  it("syntax errors and runtime errors are typed", () => {
    expectError(() => renderChatTemplate("{% for %}", { messages }), "invalid_argument", /chat template does not parse/);
    expectError(() => renderChatTemplate("{{ messages + 1 }}", { messages }), "invalid_argument", /chat template failed/);
  });
  it("extra variables cannot override the renderer's own", () => {
    expectError(() => renderChatTemplate("x", { messages, extra: { raise_exception: 1 } }), "invalid_argument", /"raise_exception" cannot be overridden/);
    expectError(() => renderChatTemplate("x", { messages, extra: { messages: [] } }), "invalid_argument", /"messages" cannot be overridden/);
    expect(renderChatTemplate("{{ enable_thinking }}", { messages, extra: { enable_thinking: false } })).toBe("false");
  });
  it("provides strftime_now and the named special tokens", () => {
    const out = renderChatTemplate("{{ strftime_now('%Y-%m-%d') }}|{{ bos_token }}|{{ pad_token }}|{{ add_generation_prompt }}", {
      messages,
      bosToken: "<s>",
      specialTokens: { pad_token: "<pad>" },
    });
    expect(out).toMatch(/^\d{4}-\d{2}-\d{2}\|<s>\|<pad>\|false$/);
    expect(strftime(new Date(2024, 0, 5, 13, 7, 9), "%d %B %Y %H:%M:%S %I%p %a %j %%")).toBe("05 January 2024 13:07:09 01PM Fri 005 %");
  });
});
