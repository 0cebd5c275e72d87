/** Markdown tables for benchmark output: the first column left-aligned, figures right-aligned. */

/**
 * `title`, then `rows` as a Markdown table with `header` as column names, as one string
 * (lines joined with `\n`, no trailing newline). Every row must have `header.length` cells.
 */
export function formatTable(title: string, header: string[], rows: string[][]): string {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    "| " + r.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join(" | ") +
    " |";
  return [
    title,
    line(header),
    "|" + width.map((w) => "-".repeat(w + 2)).join("|") + "|",
    ...rows.map(line),
  ].join("\n");
}

/** Prints `title`, then `rows` as a Markdown table with `header` as column names. */
export function printTable(title: string, header: string[], rows: string[][]): void {
  console.log(formatTable(title, header, rows));
}

/** A figure with thousands separators, or one decimal below 100. */
export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
}
