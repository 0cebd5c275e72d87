/**
 * The error classes of the command grammar and the exit status each maps to (book, *TDL for
 * the command line*, Error output): 0 success, 1 runtime, 2 usage, 3 configuration. No
 * other codes are used.
 * @module
 */
import { ConfigError } from "../config/mod.ts";
import { FlagError } from "./flags.ts";

/** Exit statuses of every Tela binary (book, *TDL for the command line*, Exit codes). */
export const EXIT = {
  /** The command did what was asked. */
  success: 0,
  /** Network, permission, not found, a command not built yet, and every other failure. */
  runtime: 1,
  /** Unknown command or flag, missing or malformed argument; help goes to stderr. */
  usage: 2,
  /** Config file missing or malformed, credential store inaccessible. */
  config: 3,
} as const;

/**
 * A usage error: a missing or malformed argument. Exit status 2; the dispatcher prints
 * `Error: <message>` and the command's help on stderr.
 */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * A word that names no command of the tree (book: "Suggestions on unknown verbs").
 * Exit status 2. The message carries the did-you-mean suggestion when one is close.
 *
 * The book disagrees with itself here: its Help section says "tela unknown-verb exits 1",
 * its exit-code table makes an unknown command a usage error (2, help on stderr). We follow
 * the table, so every usage error has one status (pinned in tests/cli/grammar_test.ts).
 */
export class UnknownCommandError extends UsageError {
  override name = "UnknownCommandError";
  /**
   * @param word the word as typed.
   * @param suggestion the nearest command name, if any is close enough.
   */
  constructor(readonly word: string, readonly suggestion?: string) {
    super(
      `unknown command "${word}"` + (suggestion ? ` Did you mean: ${suggestion}?` : ""),
    );
  }
}

/**
 * A command of the book that this version does not implement yet. Exit status 1: the
 * command line was valid, the program cannot do it.
 */
export class NotAvailableError extends Error {
  override name = "NotAvailableError";
  /** @param command the full command, e.g. `tela admin tokens list`. */
  constructor(readonly command: string) {
    super(`"${command}" is not available in this version`);
  }
}

/**
 * The exit status for an error thrown by a command.
 * @param err anything thrown.
 * @returns 2 for {@link UsageError} and {@link FlagError}, 3 for `ConfigError`, else 1.
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError || err instanceof FlagError) return EXIT.usage;
  if (err instanceof ConfigError) return EXIT.config;
  return EXIT.runtime;
}
