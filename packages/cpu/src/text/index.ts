/**
 * The text layer of the cpu backend, listed by name for the package's `index.ts`: tokenizers, streaming
 * detokenization, chat-template rendering under limits, and injection-safe chat encoding. Not an entry point itself.
 */
export { loadTokenizer, createTokenizer } from "./tokenizer.js";
export type { Tokenizer, EncodeOptions, DecodeOptions, CreateTokenizerOptions, StreamDecoder } from "./tokenizer.js";
export { renderChatTemplate } from "./chat-template.js";
export type { ChatTemplateContext, ChatTemplateLimits, ChatTemplateMessage } from "./chat-template.js";
export { encodeChat, plainChatFormat } from "./chat-encoding.js";
export type { EncodeChatOptions, EncodedChat } from "./chat-encoding.js";
