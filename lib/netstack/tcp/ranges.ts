/**
 * Sorted, disjoint sequence ranges `[start, end)` kept in parallel arrays, shared by the
 * receiver's out-of-order bookkeeping and the sender's SACK scoreboard. Unwrapped
 * sequence numbers (see `seq.ts`), so plain comparisons work.
 * @module
 */

/**
 * Where `[start, end)` lands among `starts`/`ends`: ranges `i..j-1` overlap or touch it
 * and merge with it into `[ns, ne)`; `i === j` means it stands alone, inserted at `i`.
 * Writes `[i, j, ns, ne]` into `out`.
 */
export function locateMerge(
  starts: number[],
  ends: number[],
  start: number,
  end: number,
  out: number[],
): void {
  let i = 0;
  while (i < starts.length && ends[i] < start) i++;
  let j = i;
  let ns = start, ne = end;
  while (j < starts.length && starts[j] <= end) {
    if (starts[j] < ns) ns = starts[j];
    if (ends[j] > ne) ne = ends[j];
    j++;
  }
  out[0] = i;
  out[1] = j;
  out[2] = ns;
  out[3] = ne;
}

/**
 * Applies a {@link locateMerge} result to `arrays` (each parallel to starts/ends): ranges
 * `i..j-1` become one entry with `values[k]` in `arrays[k]`, or a new entry is inserted
 * at `i` when `i === j`.
 */
export function applyMerge(arrays: number[][], i: number, j: number, values: number[]): void {
  for (let k = 0; k < arrays.length; k++) {
    const a = arrays[k];
    if (j === i) {
      a.splice(i, 0, values[k]);
    } else {
      a[i] = values[k];
      if (j - i > 1) a.splice(i + 1, j - i - 1);
    }
  }
}
