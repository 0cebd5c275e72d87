/**
 * Did-you-mean for misspelt commands, by Levenshtein distance (book, *TDL for the command
 * line*: "suggest the nearest match using Levenshtein distance").
 * @module
 */

/**
 * The Levenshtein edit distance: insertions, deletions and substitutions of one UTF-16
 * code unit each.
 * @example
 * ```ts
 * levenshtein("conect", "connect"); // 1
 * ```
 */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = row;
  }
  return prev[b.length];
}

/**
 * The candidate nearest to `word`, when it is close enough to be what was meant: at most
 * a third of the longer word's length in edits, rounded up (at most 3), or a candidate
 * that starts with `word` (a prefix of 2 or more letters). Ties go to the earlier candidate.
 *
 * @param word the unknown word as typed.
 * @param candidates the names that would have been valid here.
 * @returns the suggestion, or `undefined` when nothing is close.
 * @example
 * ```ts
 * suggest("conect", ["connect", "machines"]); // "connect"
 * suggest("xyz", ["connect"]); // undefined
 * ```
 */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(w, c.toLowerCase());
    const limit = Math.min(3, Math.max(1, Math.ceil(Math.max(w.length, c.length) / 3)));
    if (d <= limit && d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  if (best === undefined && w.length >= 2) best = candidates.find((c) => c.startsWith(w));
  return best;
}
