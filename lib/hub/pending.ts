/**
 * The cap on connections that have not authenticated: TCP connections that have
 * not completed an HTTP request (or sit idle between keep-alive requests), and
 * WebSockets whose peer has not yet registered, connected or joined. When a new
 * one would pass the cap, the oldest is shed: a flood of idle connections then
 * costs the flooder its own oldest sockets, not the hub its descriptors, and a
 * client that completes its request promptly still gets through.
 *
 * @module
 */
import { escapeForLog, logger } from "../log/mod.ts";

const log = logger("hub");

/** Default cap on unauthenticated connections. */
export const MAX_UNAUTHENTICATED = 128;

/** One tracked connection; `shed` closes it, over the cap or because the hub shuts down. */
export interface PendingEntry {
  readonly shed: (why: "cap" | "shutdown") => void;
}

/** Connections not yet authenticated, oldest first. */
export class PendingConnections {
  // A Set iterates in insertion order: the first entry is the oldest.
  readonly #set = new Set<PendingEntry>();
  #shed = 0;
  #warnedAt = -Infinity;

  /** @param max most unauthenticated connections held at once. */
  constructor(readonly max: number = MAX_UNAUTHENTICATED) {}

  /** Number held now. */
  get size(): number {
    return this.#set.size;
  }

  /** Connections shed so far. */
  get shedCount(): number {
    return this.#shed;
  }

  /** Counts `e` as unauthenticated (again), youngest; sheds the oldest over the cap. */
  add(e: PendingEntry): void {
    this.#set.delete(e);
    this.#set.add(e);
    while (this.#set.size > this.max) {
      const oldest = this.#set.values().next().value!;
      this.#set.delete(oldest);
      this.#shed++;
      if (performance.now() - this.#warnedAt > 60_000) {
        this.#warnedAt = performance.now();
        log.warn(
          `more than ${this.max} unauthenticated connections: shedding the oldest ` +
            "(TELAHUBD_MAX_UNAUTHENTICATED raises the cap)",
        );
      }
      try {
        oldest.shed("cap");
      } catch (err) {
        log.error(
          `shedding a connection: ${escapeForLog((err as Error)?.stack ?? String(err), 2000)}`,
        );
      }
    }
  }

  /** Sheds every entry (shutdown). */
  shedAll(): void {
    const all = [...this.#set];
    this.#set.clear();
    for (const e of all) {
      try {
        e.shed("shutdown");
      } catch (err) {
        log.error(
          `shedding a connection: ${escapeForLog((err as Error)?.stack ?? String(err), 2000)}`,
        );
      }
    }
  }

  /** `e` authenticated, is busy with a request, or is gone. */
  remove(e: PendingEntry): void {
    this.#set.delete(e);
  }
}
