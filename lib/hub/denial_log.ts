/**
 * Rate-limited log lines for refusals of tokens that belong to no identity (issue 10 fix
 * round): such refusals are never stored in the history (anyone can cause them, so a flood of
 * them would be a way to drown the record), and are logged at most once per
 * {@link DENIAL_LOG_INTERVAL_MS} per remote address, the next line saying how many were
 * left out. Memory stays bounded: at most {@link DENIAL_LOG_MAX_ADDRESSES} addresses are
 * tracked; past that the oldest is forgotten.
 *
 * @module
 */

/** Least time between two logged refusals of one address, ms. */
export const DENIAL_LOG_INTERVAL_MS = 60_000;
/** Addresses tracked at once. */
export const DENIAL_LOG_MAX_ADDRESSES = 1024;

/** The host part of a `host:port` peer string (`::1:5000` → `::1`). */
export function hostOf(remote: string): string {
  const i = remote.lastIndexOf(":");
  return i > 0 && /^\d+$/.test(remote.slice(i + 1)) ? remote.slice(0, i) : remote;
}

/** Decides which refusals of unknown tokens get a log line. */
export class DenialLog {
  readonly #seen = new Map<string, { at: number; skipped: number }>();

  /**
   * @param intervalMs least time between two lines of one address, ms.
   * @param maxAddresses addresses tracked at once.
   * @param now the clock, epoch ms.
   */
  constructor(
    readonly intervalMs = DENIAL_LOG_INTERVAL_MS,
    readonly maxAddresses = DENIAL_LOG_MAX_ADDRESSES,
    readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts one refusal from `address`.
   * @param address the remote address (host, no port).
   * @returns `undefined` when no line should be written, else how many refusals of this
   *   address were left out since its last line (0 for the first).
   */
  take(address: string): number | undefined {
    const now = this.now();
    const s = this.#seen.get(address);
    if (s && now - s.at < this.intervalMs) {
      s.skipped++;
      return undefined;
    }
    const skipped = s?.skipped ?? 0;
    this.#seen.delete(address); // re-insert: the map's order is the age order
    this.#seen.set(address, { at: now, skipped: 0 });
    if (this.#seen.size > this.maxAddresses) {
      this.#seen.delete(this.#seen.keys().next().value!);
    }
    return skipped;
  }

  /** Addresses tracked (tests: memory stays bounded). */
  get size(): number {
    return this.#seen.size;
  }
}
