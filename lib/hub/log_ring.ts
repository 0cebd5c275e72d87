/**
 * The hub's own log ring behind `GET /api/admin/logs` (spec hub-http-api.md §5.7, §8.5): the
 * last 1000 lines the hub's logger printed, oldest first, in memory only. Lines keep the
 * logger's format `<RFC 3339 UTC> [component] message`.
 *
 * @module
 */
import { addLogSink } from "../log/mod.ts";

/** Lines kept (spec §0: hub log ring). */
export const LOG_RING_LINES = 1000;

/** Default and fallback for `?lines=` (spec §5.7). */
export const LOG_DEFAULT_LINES = 100;

/** A bounded ring of log lines. */
export class LogRing {
  #lines: string[] = [];
  #start = 0; // index of the oldest line once the ring is full
  #detach?: () => void;

  /** @param capacity most lines kept (default {@link LOG_RING_LINES}). */
  constructor(readonly capacity = LOG_RING_LINES) {}

  /**
   * Adds one log line; text with newlines is split into several lines.
   * @param line a line without its trailing newline.
   */
  push(line: string): void {
    for (const l of line.split("\n")) {
      if (this.#lines.length < this.capacity) {
        this.#lines.push(l);
      } else {
        this.#lines[this.#start] = l;
        this.#start = (this.#start + 1) % this.capacity;
      }
    }
  }

  /**
   * The newest `n` lines, oldest first (all of them when `n` exceeds the ring).
   * @param n line count, ≥ 1.
   */
  tail(n: number): string[] {
    const all = this.#start === 0
      ? this.#lines.slice()
      : [...this.#lines.slice(this.#start), ...this.#lines.slice(0, this.#start)];
    return n >= all.length ? all : all.slice(all.length - n);
  }

  /** Starts collecting every line the process's logger prints; idempotent. */
  attach(): this {
    this.#detach ??= addLogSink((l) => this.push(l));
    return this;
  }

  /** Stops collecting. */
  detach(): void {
    this.#detach?.();
    this.#detach = undefined;
  }
}

/**
 * The `lines` query value of `/api/admin/logs`: a positive decimal integer, else
 * {@link LOG_DEFAULT_LINES} (Go's `strconv.Atoi` + `> 0` check, spec §5.7).
 * @param v the raw query value or null.
 */
export function parseLines(v: string | null): number {
  if (v === null || !/^[+-]?\d+$/.test(v)) return LOG_DEFAULT_LINES;
  const n = Number(v);
  return Number.isSafeInteger(n) && n > 0 ? n : LOG_DEFAULT_LINES;
}
