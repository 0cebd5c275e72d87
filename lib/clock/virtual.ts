/**
 * A virtual clock for tests and simulations: time stands still until the test moves it,
 * then jumps to each deadline in order. {@link VirtualClock.advance} and
 * {@link VirtualClock.run} yield to the event loop between deadlines (`setImmediate`,
 * after all microtasks) so promise-based code such as web streams makes progress exactly
 * as it would in real time, only faster and deterministically;
 * {@link VirtualClock.advanceSync} runs the timers without yielding, for synchronous
 * engines such as WireGuard's. The model is Deno std's `FakeTime` (`@std/testing/time`),
 * without patching the globals: engines take the clock as a {@link Clock}-shaped argument.
 *
 * @example
 * ```ts
 * import { VirtualClock } from "./virtual.ts";
 * const clock = new VirtualClock();
 * let fired = 0;
 * clock.setTimeout(() => fired++, 5_000);
 * clock.advanceSync(5_000);
 * console.log(fired, clock.now()); // 1 5000
 * ```
 * @module
 */
import { setImmediate } from "node:timers";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Thrown by {@link VirtualClock.run} when nothing can make progress any more. */
export class SimulationStalledError extends Error {
  override name = "SimulationStalledError";
}

/** Limits of one {@link VirtualClock.run}. */
export interface RunLimits {
  /** Virtual milliseconds the run may advance, default 600_000. */
  maxVirtualMs?: number;
  /** Real milliseconds the run may take, default 120_000. */
  maxRealMs?: number;
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * A `Clock` (see `mod.ts`, which re-exports this module; it is not imported here so the
 * folder has no import cycle) whose time only moves when {@link VirtualClock.run},
 * {@link VirtualClock.advance} or {@link VirtualClock.advanceSync} moves it.
 */
export class VirtualClock {
  #now = 0;
  #seq = 0;
  /** Binary min-heap on (at, seq). */
  #heap: Timer[] = [];

  /** @param start the initial time, ms. */
  constructor(start = 0) {
    this.#now = start;
  }

  /** Current virtual time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at now + `ms` milliseconds (run when the clock is moved past it). */
  setTimeout(fn: () => void, ms: number): unknown {
    const t: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#push(t);
    return t;
  }

  /** Cancels a scheduled timer. */
  clearTimeout(handle: unknown): void {
    if (handle) (handle as Timer).cancelled = true;
  }

  /** Number of timers not yet run or cancelled. */
  get pending(): number {
    let n = 0;
    for (const t of this.#heap) if (!t.cancelled) n++;
    return n;
  }

  /**
   * Moves time forward by `ms` milliseconds, running every timer due on the way in order,
   * without yielding to the event loop (timers may schedule more; those due run too).
   * @param ms virtual milliseconds, 0 or more.
   * @throws whatever a timer's callback throws; the clock then stands at that timer's time.
   */
  advanceSync(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const t = this.#peek();
      if (!t || t.at > end) break;
      this.#runDue();
    }
    this.#now = end;
  }

  /**
   * Moves time forward by `ms` milliseconds, running every timer due on the way in order and
   * yielding to the event loop between deadlines.
   * @param ms virtual milliseconds, 0 or more.
   * @throws whatever a timer's callback throws; the clock then stands at that timer's time.
   */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await yieldToEventLoop();
    for (;;) {
      const t = this.#peek();
      if (!t || t.at > end) break;
      this.#runDue();
      await yieldToEventLoop();
    }
    this.#now = end;
    await yieldToEventLoop();
  }

  /**
   * Runs timers until `task` settles and returns its result.
   * @param task the promise the simulation is waiting for.
   * @param limits how far in virtual and real time the run may go.
   * @throws {SimulationStalledError} when no timer is left and `task` is still pending, or
   *   a limit in `limits` is reached (the message says which).
   * @throws whatever `task` rejects with.
   */
  async run<T>(task: Promise<T>, limits: RunLimits = {}): Promise<T> {
    let settled = false;
    task.then(() => (settled = true), () => (settled = true));
    const startVirtual = this.#now;
    const startReal = performance.now();
    const maxVirtual = limits.maxVirtualMs ?? 600_000;
    const maxReal = limits.maxRealMs ?? 120_000;
    await yieldToEventLoop();
    while (!settled) {
      if (!this.#peek()) {
        // Give stream plumbing a few more turns before calling it a stall.
        for (let i = 0; i < 3 && !settled; i++) await yieldToEventLoop();
        if (settled) break;
        throw new SimulationStalledError(
          `simulation stalled at t=${
            this.#now.toFixed(1)
          } ms: the task is pending and no timer is set`,
        );
      }
      if (this.#peek()!.at - startVirtual > maxVirtual) {
        throw new SimulationStalledError(
          `simulation passed its limit of ${maxVirtual} virtual ms without the task settling`,
        );
      }
      if (performance.now() - startReal > maxReal) {
        throw new SimulationStalledError(
          `simulation passed its limit of ${maxReal} real ms at t=${this.#now.toFixed(1)} ms`,
        );
      }
      this.#runDue();
      await yieldToEventLoop();
    }
    return task;
  }

  /** Jumps to the earliest deadline and runs every timer due then. */
  #runDue(): void {
    const first = this.#peek();
    if (!first) return;
    if (first.at > this.#now) this.#now = first.at;
    for (;;) {
      const t = this.#peek();
      if (!t || t.at > this.#now) break;
      this.#pop();
      t.cancelled = true;
      t.fn();
    }
  }

  #peek(): Timer | undefined {
    const h = this.#heap;
    while (h.length > 0 && h[0].cancelled) this.#pop();
    return h[0];
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  #pop(): Timer | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && before(h[l], h[m])) m = l;
        if (r < h.length && before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
