/**
 * The help renderer: one format for every command of `tela`, `telad` and `telahubd` (book,
 * *TDL for the command line*, Help text). A header line `<binary> <verb> — <summary>`, then
 * USAGE, DESCRIPTION, FLAGS, EXAMPLES and SEE ALSO in that fixed order, empty sections
 * left out. A command's sub-commands are listed, one line each with their summary, at the
 * end of its DESCRIPTION (the book allows no other section).
 * @module
 */
import type { FlagSpec } from "./flags.ts";
import type { Command } from "./command.ts";

const INDENT = "  ";

/**
 * The left column of a flag in help: `-name <placeholder>` (booleans take no value).
 * @param name the flag's long name.
 * @param spec its declaration; `arg` names the placeholder, else the type does.
 */
export function flagLabel(name: string, spec: FlagSpec): string {
  if (spec.type === "boolean") return `-${name}`;
  return `-${name} <${spec.arg ?? (spec.type === "number" ? "n" : "string")}>`;
}

/** One flag's description: its usage as a sentence, then `Default: <value>.` when it has one. */
function flagText(spec: FlagSpec): string {
  let text = (spec.usage ?? "").trim();
  if (text && !/[.!?]$/.test(text)) text += ".";
  const d = spec.default;
  if (d !== undefined && d !== "" && d !== false) text += `${text ? " " : ""}Default: ${d}.`;
  if (spec.multiple) text += `${text ? " " : ""}May repeat.`;
  return text;
}

/**
 * Rows of two columns, the second starting at one column for all (book, *TDL for the command
 * line*, Help text: flags and commands "aligned"), three spaces past the widest left cell.
 * @param rows `[left, right]` pairs; a row with an empty right cell prints the left alone.
 * @param indent prefix of every line (default two spaces).
 * @returns one line per row, trailing spaces trimmed.
 */
export function alignRows(rows: readonly (readonly [string, string])[], indent = INDENT): string[] {
  const width = Math.max(0, ...rows.map(([l]) => l.length)) + 3;
  return rows.map(([l, r]) => r ? `${indent}${l.padEnd(width)}${r}`.trimEnd() : `${indent}${l}`);
}

function section(title: string, lines: readonly string[]): string | undefined {
  return lines.length ? `${title}\n${lines.join("\n")}` : undefined;
}

/**
 * Renders a command's help text.
 *
 * @param cmd the command.
 * @param path the command as typed, from the binary: `tela connect`, `telahubd user list`.
 * @returns the text, sections separated by a blank line, no trailing newline.
 * @example
 * ```ts
 * renderHelp({ name: "version", summary: "Print the version.", usage: ["tela version"],
 *   description: "Prints the version and platform." }, "tela version");
 * // "tela version — Print the version.\n\nUSAGE\n  tela version\n\nDESCRIPTION\n  ..."
 * ```
 */
export function renderHelp(cmd: Command, path: string): string {
  const description = cmd.description.trim().split("\n").map((l) => l ? INDENT + l : l);
  if (cmd.notAvailable) {
    description.push("", `${INDENT}Not available in this version: "${path}" exits with status 1.`);
  }
  const kids = (cmd.commands ?? []).filter((c) => !c.hidden);
  if (kids.length) {
    description.push("", `${INDENT}Commands:`);
    description.push(...alignRows(kids.map((k) => [k.name, k.summary]), INDENT + INDENT));
  }
  const flags = Object.entries(cmd.flags ?? {});
  const parts = [
    `${path} — ${cmd.summary}`,
    section("USAGE", cmd.usage.map((u) => INDENT + u)),
    section("DESCRIPTION", description),
    section("FLAGS", alignRows(flags.map(([n, s]) => [flagLabel(n, s), flagText(s)]))),
    section("EXAMPLES", (cmd.examples ?? []).map((e) => INDENT + e)),
    section("SEE ALSO", cmd.seeAlso?.length ? [INDENT + cmd.seeAlso.join(", ")] : []),
  ];
  return parts.filter((p) => p !== undefined).join("\n\n");
}
