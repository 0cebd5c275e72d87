/**
 * The time source of the stack. Injected so tests run on a virtual clock
 * ({@link VirtualClock} in `phy/virtual_clock.ts`) and stay fast and deterministic.
 * @module
 */

/** A monotonic clock with timers; all times in milliseconds. */
export interface Clock {
  /** Milliseconds, monotonic, any origin. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` and the runtime's timers. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
};
