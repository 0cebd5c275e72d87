/**
 * The one command grammar of `tela`, `telad` and `telahubd` (book, *TDL for the command
 * line*): Go-style flags, a command tree with help, did-you-mean, and exit statuses.
 * @module
 */
export * from "./flags.ts";
export * from "./errors.ts";
export * from "./suggest.ts";
export * from "./help.ts";
export {
  type CliIo,
  type Command,
  command,
  type CommandSpec,
  helpCommand,
  type Invocation,
  notAvailable,
  processIo,
  runCli,
  walkCommands,
} from "./command.ts";
export * from "./planned.ts";
export * from "./values.ts";
export * from "./transport.ts";
