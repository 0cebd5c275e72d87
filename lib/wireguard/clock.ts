/**
 * The clock the engine reads and schedules with, injectable so tests run timers
 * without waiting. Same structural shape as the other modules' `Clock`.
 * @module
 */

/** Monotonic milliseconds plus timers. */
export interface Clock {
  /** Monotonic time in milliseconds. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for clearTimeout. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer made by setTimeout. */
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` and the runtime's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
};

/** A manual clock for tests: time moves only when {@link FakeClock.advance} is called. */
export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #timers = new Map<number, { at: number; fn: () => void }>();

  /** Starts the fake time at `start` ms. */
  constructor(start = 1_000_000) {
    this.#now = start;
  }
  /** Current fake time in ms. */
  now(): number {
    return this.#now;
  }
  /** Schedules `fn` at now + ms (fired by {@link FakeClock.advance}). */
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }
  /** Cancels a scheduled timer. */
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  /** Number of timers scheduled and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }
  /** Moves time forward by `ms`, firing due timers in order (timers may schedule more). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Infinity;
      for (const [id, t] of this.#timers) {
        if (t.at < nextAt || (t.at === nextAt && id < nextId)) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0 || nextAt > end) break;
      const t = this.#timers.get(nextId)!;
      this.#timers.delete(nextId);
      this.#now = Math.max(this.#now, t.at);
      t.fn();
    }
    this.#now = end;
  }
}
