/**
 * Go-style command-line flags on top of `node:util` `parseArgs`.
 *
 * Tela's CLI (book, Appendix A) follows Go's `flag` package: `-hub x`, `--hub x`,
 * `-hub=x` and `--hub=x` all mean the same, booleans take no value (`-v`) or an
 * explicit one (`-v=false`), and flags may stand before or after positionals.
 * This adapter rewrites single-dash long flags to the double-dash form that
 * `parseArgs` understands and converts values to the declared types.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { suggest } from "./suggest.ts";

/** How one flag is declared. */
export interface FlagSpec {
  /** `string` takes a value, `boolean` does not, `number` takes a decimal value. */
  type: "string" | "boolean" | "number";
  /** One-letter alias (`-p` for `-ports`), optional. */
  short?: string;
  /** Value used when the flag is absent. */
  default?: string | boolean | number;
  /** The flag may repeat; values are collected into an array. */
  multiple?: boolean;
  /** One line of help text. */
  usage?: string;
  /** The value's placeholder in help (`url|name` shows `-hub <url|name>`); default from `type`. */
  arg?: string;
}

/** Result of {@link parseFlags}: typed values by flag name, and the positionals. */
export interface ParsedFlags<T extends Record<string, FlagSpec>> {
  values: { [K in keyof T]: FlagValue<T[K]> };
  positionals: string[];
}

type FlagValue<S extends FlagSpec> = S["multiple"] extends true
  ? (S["type"] extends "number" ? number[] : S["type"] extends "boolean" ? boolean[] : string[])
  : (S["type"] extends "number" ? number | undefined
    : S["type"] extends "boolean" ? boolean | undefined
    : string | undefined);

/** Thrown for an unknown flag, a missing value or a value of the wrong type. */
export class FlagError extends Error {
  override name = "FlagError";
}

/**
 * Parses `args` against `specs`, Go style.
 *
 * @param args the raw arguments (e.g. `Deno.args` less the sub-command).
 * @param specs flag declarations by long name.
 * @returns typed values (defaults filled in) and positionals in order.
 * @throws {FlagError} for an unknown flag (`flag provided but not defined: -jsn Did you
 *   mean: -json?` when a declared flag is close), a flag that needs a value and has none
 *   (`flag needs an argument: -role`, also when the next argument is another flag of
 *   `specs`), or a `number` flag whose value is not a number. The message names the flag.
 * @example
 * ```ts
 * const { values, positionals } = parseFlags(["connect", "-hub", "wss://h", "-v"], {
 *   hub: { type: "string" },
 *   v: { type: "boolean" },
 * });
 * // positionals = ["connect"], values.hub = "wss://h", values.v = true
 * ```
 */
export function parseFlags<T extends Record<string, FlagSpec>>(
  args: readonly string[],
  specs: T,
): ParsedFlags<T> {
  const long = new Set(Object.keys(specs));
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) shorts.set(spec.short, name);

  // Normalise: "-name[=v]" -> "--name[=v]"; "-x" (declared short) stays for parseArgs;
  // "--no-x"-style negation is not Go's, so "-v=false" is handled below instead.
  // A value flag without "=" takes the next argument, as Go's flag does, unless that
  // argument is itself a flag of this command (`-role -hub x`: -role has no value).
  const flagName = (arg: string): string | undefined => {
    if (arg === "-" || arg === "--" || !arg.startsWith("-")) return undefined;
    if (HELP_FLAGS.has(arg)) return arg;
    const raw = arg.replace(/^--?/, "").split("=")[0];
    return long.has(raw) ? raw : shorts.get(raw);
  };
  const normalised: string[] = [];
  const boolOverrides = new Map<string, boolean>();
  let endOfFlags = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (endOfFlags || arg === "-" || !arg.startsWith("-")) {
      normalised.push(arg);
      continue;
    }
    if (arg === "--") {
      endOfFlags = true;
      normalised.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const rawName = eq >= 0 ? body.slice(0, eq) : body;
    const name = long.has(rawName) ? rawName : shorts.get(rawName);
    if (name === undefined) {
      const near = suggest(rawName, [...long]);
      throw new FlagError(
        `flag provided but not defined: -${rawName}` + (near ? ` Did you mean: -${near}?` : ""),
      );
    }
    if (specs[name].type === "boolean") {
      if (eq < 0) {
        normalised.push(`--${name}`);
        continue;
      }
      const v = body.slice(eq + 1).toLowerCase();
      if (!["true", "false", "1", "0", "t", "f"].includes(v)) {
        throw new FlagError(`invalid boolean value "${body.slice(eq + 1)}" for -${name}`);
      }
      boolOverrides.set(name, v === "true" || v === "1" || v === "t");
      continue;
    }
    if (eq >= 0) {
      normalised.push(`--${name}=${body.slice(eq + 1)}`);
      continue;
    }
    const next = args[i + 1];
    if (next === undefined || next === "--" || flagName(next) !== undefined) {
      throw new FlagError(`flag needs an argument: -${name}`);
    }
    normalised.push(`--${name}=${next}`);
    i++;
  }

  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type === "boolean" ? "boolean" : "string" };
    if (spec.multiple) options[name].multiple = true;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: normalised, options, allowPositionals: true, strict: true });
  } catch (err) {
    // Not expected after the rewriting above; kept so no raw parser text reaches the user.
    const msg = (err as Error).message;
    const m = msg.match(/Option '--([^ ']+)/);
    throw new FlagError(m ? `flag needs an argument: -${m[1]}` : msg);
  }

  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    let v: unknown = (parsed.values as Record<string, unknown>)[name];
    if (boolOverrides.has(name)) {
      v = spec.multiple ? [boolOverrides.get(name)] : boolOverrides.get(name);
    }
    if (v === undefined) v = spec.multiple ? [] : spec.default;
    else if (spec.type === "number") {
      v = spec.multiple
        ? (v as string[]).map((x) => toNumber(name, x))
        : toNumber(name, v as string);
    }
    values[name] = v;
  }
  return { values: values as ParsedFlags<T>["values"], positionals: parsed.positionals };
}

function toNumber(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) {
    throw new FlagError(`invalid value "${raw}" for flag -${name}: expected a number`);
  }
  return n;
}

/** The spellings Go's `flag` package treats as a request for usage. */
const HELP_FLAGS = new Set(["-h", "--h", "-help", "--help", "-?"]);

/**
 * True when `args` (before any `--`) ask for usage with `-h`, `--h`, `-help`, `--help` or
 * `-?`, as Go's `flag` package treats them (book, *TDL for the command line*, Help text).
 * @param args the raw arguments after the command words.
 */
export function helpRequested(args: readonly string[]): boolean {
  const end = args.indexOf("--");
  return (end < 0 ? args : args.slice(0, end)).some((a) => HELP_FLAGS.has(a));
}

/**
 * `args` without the help spellings that stand before any `--` (see {@link helpRequested}).
 * @param args the raw arguments; not modified.
 * @returns a new array.
 */
export function withoutHelpFlags(args: readonly string[]): string[] {
  const end = args.indexOf("--");
  return args.filter((a, i) => (end >= 0 && i >= end) || !HELP_FLAGS.has(a));
}
