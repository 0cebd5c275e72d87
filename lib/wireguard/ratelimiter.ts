/**
 * Per-source token bucket for handshake messages when under load (whitepaper §5.3,
 * wireguard-go ratelimiter: 20 per second, burst 5).
 * @module
 */
import type { Clock } from "../clock/mod.ts";
import { HANDSHAKE_RATE_BURST, HANDSHAKE_RATE_PER_SECOND } from "./constants.ts";

const PACKET_COST = 1000 / HANDSHAKE_RATE_PER_SECOND; // ms of credit per packet
const MAX_TOKENS = PACKET_COST * HANDSHAKE_RATE_BURST;
const GC_INTERVAL = 1000;
const MAX_ENTRIES = 65536;

/** Token buckets keyed by source address (without port). */
export class RateLimiter {
  #buckets = new Map<string, { tokens: number; last: number }>();
  #lastGc = 0;
  #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Takes one token for `source`; false when the source is over its rate. */
  allow(source: string): boolean {
    const now = this.#clock.now();
    if (now - this.#lastGc > GC_INTERVAL) this.#gc(now);
    let b = this.#buckets.get(source);
    if (b === undefined) {
      if (this.#buckets.size >= MAX_ENTRIES) return false;
      b = { tokens: MAX_TOKENS - PACKET_COST, last: now };
      this.#buckets.set(source, b);
      return true;
    }
    b.tokens = Math.min(MAX_TOKENS, b.tokens + (now - b.last));
    b.last = now;
    if (b.tokens < PACKET_COST) return false;
    b.tokens -= PACKET_COST;
    return true;
  }

  #gc(now: number): void {
    this.#lastGc = now;
    for (const [k, b] of this.#buckets) if (now - b.last > GC_INTERVAL) this.#buckets.delete(k);
  }
}
