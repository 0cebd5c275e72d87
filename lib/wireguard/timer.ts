/**
 * A re-armable timer that is cheap to modify on every packet: arming it later than
 * the underlying timeout, or disarming it, only updates a deadline; the real timeout
 * is rescheduled when it fires early. (wireguard-go modifies timers per packet too.)
 * @module
 */
import type { Clock } from "../clock/mod.ts";

/** One peer timer (retransmit, keepalive, new handshake, zero keys, persistent keepalive). */
export class LazyTimer {
  #deadline = Infinity;
  #scheduledAt = Infinity;
  #handle: unknown = undefined;
  #clock: Clock;
  #fn: () => void;
  #dead = false;

  constructor(clock: Clock, fn: () => void) {
    this.#clock = clock;
    this.#fn = fn;
  }

  /** True while armed. */
  get isPending(): boolean {
    return this.#deadline !== Infinity;
  }

  /** Arms (or re-arms) the timer to fire `ms` from now. */
  mod(ms: number): void {
    if (this.#dead) return;
    this.#deadline = this.#clock.now() + ms;
    if (this.#deadline < this.#scheduledAt) this.#schedule(this.#deadline);
  }

  /** Disarms the timer. */
  del(): void {
    this.#deadline = Infinity;
  }

  /** Disarms for good and releases the underlying timeout. */
  stop(): void {
    this.#dead = true;
    this.#deadline = Infinity;
    if (this.#handle !== undefined) this.#clock.clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#scheduledAt = Infinity;
  }

  #schedule(at: number): void {
    if (this.#handle !== undefined) this.#clock.clearTimeout(this.#handle);
    this.#scheduledAt = at;
    this.#handle = this.#clock.setTimeout(() => this.#fire(), Math.max(0, at - this.#clock.now()));
  }

  #fire(): void {
    this.#handle = undefined;
    this.#scheduledAt = Infinity;
    if (this.#dead || this.#deadline === Infinity) return;
    if (this.#clock.now() < this.#deadline) {
      this.#schedule(this.#deadline);
      return;
    }
    this.#deadline = Infinity;
    this.#fn();
  }
}
