/**
 * The command tree shared by `tela`, `telad` and `telahubd` (book, *TDL for the command
 * line*): `<binary> <verb> [<subject>] [flags] [args]`. Each command declares its help (a
 * one-line summary, usage, description, examples, see-also), its own Go-style flags (a
 * flag of one command is unknown to another) and its sub-commands; {@link runCli} finds the
 * command a command line names, answers `-h`, `-?`, `-help`, `--help` and `help <command>`
 * with its help, and maps errors to the book's exit statuses.
 *
 * A word that names no command is a usage error (exit 2) with a did-you-mean suggestion;
 * it never falls through to a default action, so a misspelt sub-command of a daemon
 * never starts the daemon.
 * @module
 */
import {
  type FlagSpec,
  helpRequested,
  type ParsedFlags,
  parseFlags,
  withoutHelpFlags,
} from "./flags.ts";
import { EXIT, exitCodeFor, NotAvailableError, UnknownCommandError, UsageError } from "./errors.ts";
import { renderHelp } from "./help.ts";
import { suggest } from "./suggest.ts";

/** Where a command's output goes: `out` for data (stdout), `err` for errors (stderr). */
export interface CliIo {
  /** Writes one block of data and a newline to standard output. */
  out(text: string): void;
  /** Writes one block of diagnostics and a newline to standard error. */
  err(text: string): void;
}

/** What a command's `run` receives. */
export interface Invocation<F extends Record<string, FlagSpec>> extends CliIo {
  /** The parsed flags of this command, defaults filled in. */
  values: ParsedFlags<F>["values"];
  /** The positional arguments after the command words, in order. */
  positionals: string[];
  /** The command as typed from the binary, e.g. `tela profile show`. */
  path: string;
  /** The top of the tree (for `help`). */
  root: Command;
}

/** One command of the tree, with its help. `F` types the flags its `run` receives. */
export interface CommandSpec<F extends Record<string, FlagSpec>> {
  /** The word that selects it: lowercase, hyphenated (`show-owner`). */
  name: string;
  /** Other words accepted for it (`ls` for `list`); not listed in help. */
  aliases?: string[];
  /** One sentence: what the command does. Listed by the parent's help. */
  summary: string;
  /** Usage lines, each starting with the binary: `tela connect -profile <name>`. */
  usage: string[];
  /** What it does, what it reads and writes, preconditions: a short paragraph. */
  description: string;
  /** Its own flags (Go style, lib/cli/flags.ts). */
  flags?: F;
  /** Concrete, runnable command lines. */
  examples?: string[];
  /** Related commands, `tela status`. */
  seeAlso?: string[];
  /** Sub-commands. A word after this command that names none of them is a usage error. */
  commands?: Command[];
  /**
   * Positional arguments of a command without sub-commands, as help names them:
   * `<name>` is required, `[path]` optional, a trailing `...` repeats. Default: none.
   */
  args?: string[];
  /** A command of the book not built yet: it has its help, running it exits 1. */
  notAvailable?: boolean;
  /** Left out of the parent's command list (still runs, still has help). */
  hidden?: boolean;
  /**
   * Does the work. Returns the exit status (default 0), or throws: {@link UsageError}
   * exits 2, `ConfigError` 3, anything else 1. Without `run`, the command prints its help.
   */
  run?(inv: Invocation<F>): Promise<number | void> | number | void;
}

/** A command of any flags (the element type of a tree). */
export type Command = CommandSpec<Record<string, FlagSpec>>;

/**
 * Declares a command (book, *TDL for the command line*, Commands). The identity: it only
 * types `run`'s flag values after `spec.flags`.
 * @param spec the command: name, help texts, flags, sub-commands and `run`.
 * @returns the same object, as an element of a command tree.
 * @example
 * ```ts
 * const version = command({
 *   name: "version",
 *   summary: "Print the version.",
 *   usage: ["tela version [-json]"],
 *   description: "Prints the version and platform.",
 *   flags: { json: { type: "boolean", usage: "Print JSON" } },
 *   run: ({ values, out }) => out(values.json ? "{}" : "tela v0"),
 * });
 * ```
 */
export function command<
  // deno-lint-ignore ban-types
  F extends Record<string, FlagSpec> = {},
>(spec: CommandSpec<F>): Command {
  return spec as unknown as Command;
}

/**
 * Declares a command of the book that this version does not implement: it has its help,
 * and running it prints `Error: "<command>" is not available in this version`, exit 1
 * ({@link NotAvailableError}), so a planned word never falls through to a default action
 * (issue 9: "every book command not built yet is in the tree").
 * @param spec the command's help and flags, as {@link command} takes them, without `run`.
 * @returns the command, marked `notAvailable`.
 */
export function notAvailable<
  // deno-lint-ignore ban-types
  F extends Record<string, FlagSpec> = {},
>(
  spec: Omit<CommandSpec<F>, "run" | "notAvailable">,
): Command {
  return { ...spec, notAvailable: true } as unknown as Command;
}

/**
 * The `help` command: `<binary> help [<command> [<sub-command>...]]` prints that command's
 * help (the binary's own help without words) on stdout, exit 0.
 * @param binary the program name, for its usage lines.
 */
export function helpCommand(binary: string): Command {
  return command({
    name: "help",
    summary: "Print help for a command.",
    usage: [`${binary} help [<command> [<sub-command>]]`],
    description: `Prints the help of the named command to stdout, or ${binary}'s own help when\n` +
      `no command is named. "${binary} <command> -h" prints the same text.`,
    examples: [`${binary} help`, `${binary} help version`],
    seeAlso: [`${binary} version`],
    args: ["[command]", "[sub-command]..."],
    run: ({ positionals, root, out }) => {
      let cmd = root;
      const path = [root.name];
      for (const word of positionals) {
        const next = findChild(cmd, word);
        if (!next) throw unknownCommand(cmd, word);
        cmd = next;
        path.push(next.name);
      }
      out(renderHelp(cmd, path.join(" ")));
    },
  });
}

function findChild(cmd: Command, word: string): Command | undefined {
  return cmd.commands?.find((c) => c.name === word || c.aliases?.includes(word));
}

function unknownCommand(cmd: Command, word: string): UnknownCommandError {
  const names = (cmd.commands ?? []).filter((c) => !c.hidden).map((c) => c.name);
  return new UnknownCommandError(word, suggest(word, names));
}

/** The command reached so far: a usage error prints its help. */
interface Reached {
  cmd: Command;
  path: string;
}

/**
 * Runs the command that `args` name.
 *
 * Grammar: words select sub-commands; the first word that is not a sub-command of a
 * command with sub-commands is a usage error. Flags may stand before or after positionals
 * (`-hub x`, `--hub=x`); a command that has both flags and sub-commands also takes its
 * flags before the sub-command word (`tela admin agent channel -machine m set beta`).
 * `-h`, `-?`, `-help` or `--help` anywhere before `--` prints help on stdout, exit 0.
 * A command without `run` (a namespace) prints its help, exit 0.
 *
 * @param root the binary's command (its name is the binary's).
 * @param args the command line without the program name.
 * @param io where data and errors go.
 * @returns the exit status: 0 success, 1 runtime error, 2 usage error (the error and the
 *   command's help on stderr), 3 configuration error (book, *TDL for the command line*).
 *   Never throws: whatever a command throws ({@link UsageError}, `FlagError`,
 *   {@link UnknownCommandError}, `ConfigError`, {@link NotAvailableError}, any other error)
 *   is printed as `Error: <message>` on stderr and mapped by `exitCodeFor`.
 * @example
 * ```ts
 * const root = command({ name: "tela", summary: "s", usage: ["tela <command>"],
 *   description: "d", commands: [helpCommand("tela")] });
 * await runCli(root, ["conect"], processIo); // 2: Error: unknown command "conect" ...
 * ```
 */
export async function runCli(root: Command, args: readonly string[], io: CliIo): Promise<number> {
  const at: Reached = { cmd: root, path: root.name };
  try {
    return await dispatch(root, args, io, at);
  } catch (e) {
    io.err(`Error: ${e instanceof Error ? e.message : String(e)}`);
    const code = exitCodeFor(e);
    if (code === EXIT.usage) io.err(`\n${renderHelp(at.cmd, at.path)}`);
    return code;
  }
}

async function dispatch(
  root: Command,
  args: readonly string[],
  io: CliIo,
  at: Reached,
): Promise<number> {
  let cmd = root;
  const path = [root.name];
  let rest = [...args];
  // Walk down the tree while the next word names a sub-command.
  while (cmd.commands?.length && rest.length) {
    const first = rest[0];
    let word: string | undefined;
    let wordIndex = 0;
    if (first === "--") break;
    if (!first.startsWith("-") || first === "-") {
      word = first;
    } else {
      // Flags first (`channel -machine m set beta`): find the first positional word.
      const specs = cmd.flags ?? {};
      let parsed;
      try {
        parsed = parseFlags(withoutHelpFlags(rest), specs);
      } catch (e) {
        if (helpRequested(rest)) break; // help wins over a flag error
        throw e;
      }
      word = parsed.positionals[0];
      if (word === undefined) break;
      wordIndex = positionalIndex(rest, word, parsed, specs);
    }
    const child = findChild(cmd, word);
    if (!child) throw unknownCommand(cmd, word);
    cmd = child;
    path.push(child.name);
    rest = [...rest.slice(0, wordIndex), ...rest.slice(wordIndex + 1)];
    at.cmd = cmd;
    at.path = path.join(" ");
  }
  const fullPath = path.join(" ");
  if (helpRequested(rest)) {
    io.out(renderHelp(cmd, fullPath));
    return EXIT.success;
  }
  const { values, positionals } = parseFlags(rest, cmd.flags ?? {});
  if (cmd.notAvailable) throw new NotAvailableError(fullPath);
  if (cmd.commands?.length && positionals.length) throw unknownCommand(cmd, positionals[0]);
  if (!cmd.run) {
    io.out(renderHelp(cmd, fullPath));
    return EXIT.success;
  }
  checkArgs(cmd.args ?? [], positionals);
  const code = await cmd.run({ values, positionals, path: fullPath, root, ...ioOf(io) });
  return code ?? EXIT.success;
}

function ioOf(io: CliIo): CliIo {
  return { out: (t) => io.out(t), err: (t) => io.err(t) };
}

/**
 * Where in `args` the first positional `word` stands: the occurrence whose removal leaves
 * the same flag values (an earlier one may be a flag's value, `-machine set set beta`).
 */
function positionalIndex(
  args: readonly string[],
  word: string,
  parsed: { values: unknown; positionals: string[] },
  specs: Record<string, FlagSpec>,
): number {
  const want = JSON.stringify([parsed.values, parsed.positionals.slice(1)]);
  for (let i = args.indexOf(word); i >= 0; i = args.indexOf(word, i + 1)) {
    const without = withoutHelpFlags([...args.slice(0, i), ...args.slice(i + 1)]);
    try {
      const p = parseFlags(without, specs);
      if (JSON.stringify([p.values, p.positionals]) === want) return i;
    } catch { /* removing a flag's value: not this one */ }
  }
  return args.indexOf(word);
}

/** Checks the count of positionals against `names` (`<x>` required, `[x]` optional). */
function checkArgs(names: readonly string[], positionals: readonly string[]): void {
  const required = names.filter((n) => n.startsWith("<"));
  const repeats = names.at(-1)?.endsWith("...") ?? false;
  if (positionals.length < required.length) {
    throw new UsageError(`missing argument ${required[positionals.length].replace(/\.\.\.$/, "")}`);
  }
  if (!repeats && positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${positionals[names.length]}"`);
  }
}

/**
 * Every command of a tree with its full path, depth first (for help listings and tests).
 * @param root the binary's command.
 */
export function walkCommands(root: Command): { cmd: Command; path: string }[] {
  const all: { cmd: Command; path: string }[] = [];
  const visit = (cmd: Command, path: string) => {
    all.push({ cmd, path });
    for (const c of cmd.commands ?? []) visit(c, `${path} ${c.name}`);
  };
  visit(root, root.name);
  return all;
}

/** Writes to the process's stdout and stderr, a newline after each block. */
export const processIo: CliIo = {
  out: (t) => console.log(t),
  err: (t) => console.error(t),
};
