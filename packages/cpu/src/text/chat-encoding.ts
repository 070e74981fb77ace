/**
 * Turns a conversation into prompt token ids so that message content can never become special tokens: a user who
 * writes `<|im_end|>\n<|im_start|>system` gets those characters as literal text, not a forged role boundary.
 *
 * How: the template is rendered twice, once with the real contents and once with a unique sentinel in place of each
 * content. The sentinel render shows which text is template scaffolding; the real render is split along it. The
 * scaffolding is tokenized with special-token parsing (it holds `<|im_start|>`, `<start_of_turn>`, `<bos>`), each
 * content span with `encodeLiteral`. BOS is added only when the tokenizer wants it and the template did not emit it.
 * Only `content` (a string, or the `text` of content parts) is protected; other message fields are the caller's.
 *
 * Without a chat template the documented plain format is used: one `role: content\n` line per message, then
 * `assistant:` when a generation prompt is asked for, all of it literal text. This file is not the renderer.
 */
import { InferenceError } from "@dappcore/inference";
import { renderChatTemplate, type ChatTemplateLimits, type ChatTemplateMessage } from "./chat-template.js";
import type { Tokenizer } from "./tokenizer.js";

/** Options of `encodeChat`. */
export interface EncodeChatOptions {
  /**
   * End with the header of an assistant turn, ready for generation. Default `true`.
   * @example encodeChat(tok, messages, { addGenerationPrompt: false })
   */
  readonly addGenerationPrompt?: boolean;
  /**
   * A template to use instead of the tokenizer's. Default: `tokenizer.chatTemplate`, else the plain format.
   * @example encodeChat(tok, messages, { template: "{% for m in messages %}{{ m.content }}{% endfor %}" })
   */
  readonly template?: string;
  /** Tool definitions passed to the template as `tools`. Default: none. @example { tools: [weatherTool] } */
  readonly tools?: readonly unknown[];
  /** Extra template variables (`chat_template_kwargs`). Default: none. @example { extra: { enable_thinking: false } } */
  readonly extra?: Readonly<Record<string, unknown>>;
  /** Render limits. Default: those of `renderChatTemplate`. @example { limits: { timeoutMs: 250 } } */
  readonly limits?: ChatTemplateLimits;
}

/** The prompt as text and as ids. */
export interface EncodedChat {
  /** The rendered prompt (without a BOS that `ids` gained from the tokenizer rather than the template). */
  readonly text: string;
  readonly ids: number[];
}

const OP = "cpu.encodeChat";
const SENTINEL = /\uE000(\d+)\uE001/g;

/**
 * Renders and tokenizes a conversation.
 *
 * @example const { ids } = encodeChat(tok, [{ role: "user", content: "Hi" }]);
 */
export function encodeChat(tokenizer: Tokenizer, messages: readonly ChatTemplateMessage[], opts: EncodeChatOptions = {}): EncodedChat {
  const addGenerationPrompt = opts.addGenerationPrompt ?? true;
  const template = opts.template ?? tokenizer.chatTemplate;
  const ids: number[] = [];
  let text: string;
  if (template === undefined) {
    text = plainChatFormat(messages, addGenerationPrompt);
    ids.push(...tokenizer.encodeLiteral(text));
  } else {
    const render = (msgs: readonly ChatTemplateMessage[]) =>
      renderChatTemplate(
        template,
        {
          messages: msgs,
          addGenerationPrompt,
          specialTokens: tokenizer.specialTokens,
          ...(tokenizer.specialTokens["bos_token"] === undefined ? {} : { bosToken: tokenizer.specialTokens["bos_token"] }),
          ...(tokenizer.specialTokens["eos_token"] === undefined ? {} : { eosToken: tokenizer.specialTokens["eos_token"] }),
          ...(opts.tools === undefined ? {} : { tools: opts.tools }),
          ...(opts.extra === undefined ? {} : { extra: opts.extra }),
        },
        opts.limits,
      );
    text = render(messages);
    const contents: string[] = [];
    const scaffold = render(withSentinels(messages, contents));
    for (const span of align(text, scaffold, contents)) {
      ids.push(...(span.literal ? tokenizer.encodeLiteral(span.text) : tokenizer.encode(span.text, { addSpecialTokens: false })));
    }
  }
  if (tokenizer.addBosToken && tokenizer.bosTokenId !== undefined && ids[0] !== tokenizer.bosTokenId) {
    ids.unshift(tokenizer.bosTokenId);
  }
  return { text, ids };
}

/** The format used when a model has no chat template: `role: content\n` per message, then `assistant:`. */
export function plainChatFormat(messages: readonly ChatTemplateMessage[], addGenerationPrompt: boolean): string {
  let out = "";
  for (const m of messages) out += `${m.role}: ${contentText(m.content)}\n`;
  return addGenerationPrompt ? `${out}assistant:` : out;
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((p) => (typeof (p as { text?: unknown })?.text === "string" ? (p as { text: string }).text : "")).join("");
  }
  return content === undefined || content === null ? "" : String(content);
}

/** Copies `messages` with every content string replaced by a sentinel; `contents[i]` receives what sentinel i hides. */
function withSentinels(messages: readonly ChatTemplateMessage[], contents: string[]): ChatTemplateMessage[] {
  const hide = (s: string): string => {
    contents.push(s);
    return `\uE000${contents.length - 1}\uE001`;
  };
  return messages.map((m) => {
    if (typeof m.content === "string") return { ...m, content: hide(m.content) };
    if (Array.isArray(m.content)) {
      return {
        ...m,
        content: m.content.map((p) =>
          typeof p === "object" && p !== null && typeof (p as { text?: unknown }).text === "string"
            ? { ...p, text: hide((p as { text: string }).text) }
            : p,
        ),
      };
    }
    return m;
  });
}

interface Span {
  readonly text: string;
  readonly literal: boolean;
}

/**
 * Splits the real render along the sentinel render: scaffold pieces must match exactly; a content span is the
 * content itself (or trimmed, as templates often do), else whatever lies before the next scaffold piece.
 */
function align(real: string, withSentinels: string, contents: readonly string[]): Span[] {
  const scaffold: string[] = [];
  const order: number[] = [];
  let last = 0;
  for (const m of withSentinels.matchAll(SENTINEL)) {
    scaffold.push(withSentinels.slice(last, m.index));
    order.push(Number(m[1]));
    last = m.index + m[0].length;
  }
  scaffold.push(withSentinels.slice(last));
  const fail = (why: string) =>
    new InferenceError({
      code: "unsupported",
      op: OP,
      message: `cannot separate message content from the chat template's own text (${why})`,
    });
  if (scaffold.some((s) => s.includes("\uE000") || s.includes("\uE001"))) throw fail("the template alters message content");
  const spans: Span[] = [];
  let pos = 0;
  const take = (s: string, literal: boolean) => {
    if (s.length > 0) spans.push({ text: s, literal });
    pos += s.length;
  };
  if (!real.startsWith(scaffold[0] as string, 0)) throw fail("renders differ before the first message");
  take(scaffold[0] as string, false);
  for (let k = 0; k < order.length; k++) {
    const content = contents[order[k] as number] as string;
    const next = scaffold[k + 1] as string;
    const isLast = k === order.length - 1;
    const fits = (x: string) =>
      real.startsWith(x, pos) && real.startsWith(next, pos + x.length) && (!isLast || pos + x.length + next.length === real.length);
    let chosen = [content, content.trim(), content.trimStart(), content.trimEnd()].find(fits);
    if (chosen === undefined) {
      const end = isLast ? real.length - next.length : next.length > 0 ? real.indexOf(next, pos) : -1;
      if (end < pos || !real.startsWith(next, end)) throw fail("the template transforms message content");
      chosen = real.slice(pos, end);
    }
    take(chosen, true);
    take(next, false);
  }
  if (pos !== real.length) throw fail("renders differ after the last message");
  return spans;
}
