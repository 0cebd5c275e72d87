/**
 * The one clock interface of the engines (WireGuard, netstack) and the system clock.
 * Injected so tests run timers on a {@link VirtualClock} without waiting.
 *
 * @example
 * ```ts
 * import { systemClock } from "./mod.ts";
 * const h = systemClock.setTimeout(() => {}, 1_000);
 * systemClock.clearTimeout(h);
 * console.log(systemClock.now() >= 0);
 * ```
 * @module
 */

/** A monotonic clock with timers; all times in milliseconds. */
export interface Clock {
  /** Monotonic time in milliseconds, any origin. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer made by {@link Clock.setTimeout}; a fired or unknown handle is ignored. */
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` and the runtime's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
};

export { type RunLimits, SimulationStalledError, VirtualClock } from "./virtual.ts";
