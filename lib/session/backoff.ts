/**
 * The reconnect backoff shared by client and agent (spec session-and-relay.md §10,
 * agent-and-client.md §1.5): 3 s × 2^attempt, capped at 300 s, ±25 % uniform jitter,
 * never below 1 s.
 * @module
 */

/** Base delay, in milliseconds. */
export const BACKOFF_BASE_MS = 3_000;
/** Cap before jitter, in milliseconds. */
export const BACKOFF_CAP_MS = 300_000;

/**
 * The wait before attempt `attempt` (0-based), in milliseconds.
 * @param attempt failed attempts so far, 0 for the first retry.
 * @param random a uniform number in [0, 1), injectable for tests.
 */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_BASE_MS * 2 ** Math.min(attempt, 30), BACKOFF_CAP_MS);
  const jittered = base * (0.75 + 0.5 * random());
  return Math.max(1_000, Math.round(jittered));
}

/**
 * Formats milliseconds like Go's `time.Duration` rounded to seconds: `6s`, `1m36s`, `5m0s`.
 * @param ms a duration in milliseconds.
 */
export function formatSeconds(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60}s`;
  return `${Math.floor(m / 60)}h${m % 60}m${s % 60}s`;
}

/**
 * Sleeps `ms`, or less if `signal` aborts (then resolves without throwing).
 * @param ms how long, in milliseconds.
 * @param signal ends the sleep early when it aborts.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
