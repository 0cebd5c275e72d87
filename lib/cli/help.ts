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
/** Help lines are wrapped at this many columns (terminals are at least 80 wide). */
export const HELP_WIDTH = 88;

/**
 * Words of `text` in lines of at most `width` columns (a longer word stands alone).
 * @param text one paragraph; its line breaks count as spaces.
 * @param width columns per line.
 */
export function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * A DESCRIPTION body: prose paragraphs (separated by blank lines) rewrapped to
 * {@link HELP_WIDTH}; a paragraph with a line that starts with a space or a list mark is
 * kept as written.
 */
function descriptionLines(text: string): string[] {
  const out: string[] = [];
  for (const para of text.trim().split(/\n\s*\n/)) {
    if (out.length) out.push("");
    const lines = para.split("\n");
    const verbatim = lines.some((l) => /^(\s|[-*] )/.test(l));
    for (const l of verbatim ? lines : wrapWords(para, HELP_WIDTH - INDENT.length)) {
      out.push(INDENT + l);
    }
  }
  return out;
}

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
 * line*, Help text: flags and commands "aligned"), three spaces past the widest left cell, and
 * wrapped under itself to stay within {@link HELP_WIDTH} columns.
 * @param rows `[left, right]` pairs; a row with an empty right cell prints the left alone.
 * @param indent prefix of every line (default two spaces).
 * @returns one line per row, trailing spaces trimmed.
 */
export function alignRows(rows: readonly (readonly [string, string])[], indent = INDENT): string[] {
  const width = Math.max(0, ...rows.map(([l]) => l.length)) + 3;
  // The right column wraps under itself when the line would pass HELP_WIDTH.
  const room = Math.max(30, HELP_WIDTH - indent.length - width);
  return rows.flatMap(([l, r]) => {
    if (!r) return [`${indent}${l}`];
    const [first, ...rest] = wrapWords(r, room);
    return [
      `${indent}${l.padEnd(width)}${first}`.trimEnd(),
      ...rest.map((t) => `${indent}${" ".repeat(width)}${t}`),
    ];
  });
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
  const description = descriptionLines(cmd.description);
  if (cmd.notAvailable) {
    description.push("", `${INDENT}Not available in this version: "${path}" exits with status 1.`);
  }
  const kids = (cmd.commands ?? []).filter((c) => !c.hidden);
  if (kids.length) {
    // Commands of the book not built yet are listed apart, so the list says it before a run does.
    const built = kids.filter((k) => !k.notAvailable);
    const planned = kids.filter((k) => k.notAvailable);
    const rows = (ks: Command[]) => alignRows(ks.map((k) => [k.name, k.summary]), INDENT + INDENT);
    if (built.length) description.push("", `${INDENT}Commands:`, ...rows(built));
    if (planned.length) {
      description.push("", `${INDENT}Not available in this version:`, ...rows(planned));
    }
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
