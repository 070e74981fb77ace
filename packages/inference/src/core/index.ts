/**
 * The `@dappcore/inference/core` entry: the small Core that hosts services and named actions. The inference service
 * itself (`newService`, `registerCore`) is in the main entry, which also re-exports `Core`.
 */
export { Core } from "./core.js";
export type { Action, ActionHandler, ActionOptions, MessageHandler } from "./core.js";
