/** Markdown tables for benchmark output: the first column left-aligned, figures right-aligned. */

/** Prints `title`, then `rows` as a Markdown table with `header` as column names. */
export function printTable(title: string, header: string[], rows: string[][]): void {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    "| " + r.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join(" | ") +
    " |";
  console.log(title);
  console.log(line(header));
  console.log("|" + width.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of rows) console.log(line(r));
}

/** A figure with thousands separators, or one decimal below 100. */
export function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1);
}
