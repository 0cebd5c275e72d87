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
import { setImmediate } from "node:timers";

/** A monotonic clock with timers; all times in milliseconds. */
export interface Clock {
  /** Monotonic time in milliseconds, any origin. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a timer made by {@link Clock.setTimeout}; a fired or unknown handle is ignored. */
  clearTimeout(handle: unknown): void;
  /**
   * Runs `fn` once after the event loop's next poll for I/O (Node's `setImmediate`: about
   * 13 µs when idle, where `setTimeout(fn, 0)` takes over 2 ms in Deno 2.9). Optional:
   * without it callers use `setTimeout(fn, 0)` (a virtual clock runs that at once).
   */
  nextTurn?(fn: () => void): void;
}

/** The real clock: `performance.now()` and the runtime's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
  nextTurn: (fn) => void setImmediate(fn),
};

let turnNow = 0;
let turnValid = false;
const endTurn = () => {
  turnValid = false;
};

/**
 * The real clock read once per run of synchronous code: the first `now()` after the event
 * loop hands control to JavaScript reads `performance.now()`, later calls in the same run
 * (until the microtask queue drains) return that value. Processing one received datagram
 * (decrypt, TCP input, ACK, encrypt, send) reads the time a dozen times; this makes it one
 * clock read (tunnel-profile.md: `op_now` was 2-3 % of each endpoint's CPU). The value is
 * stale by at most the length of the current synchronous run, far below every timer the
 * engines use (40 ms delayed ACK, 200 ms minimum RTO, seconds for WireGuard).
 * Timers are the runtime's, as in {@link systemClock}.
 */
export const turnClock: Clock = {
  now: () => {
    if (!turnValid) {
      turnNow = performance.now();
      turnValid = true;
      queueMicrotask(endTurn);
    }
    return turnNow;
  },
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as number),
  nextTurn: (fn) => void setImmediate(fn),
};

export { type RunLimits, SimulationStalledError, VirtualClock } from "./virtual.ts";
