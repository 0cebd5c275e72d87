/**
 * Connection and audit history: the last 1000 events (connections, denials and admin
 * changes; issue 10 decision 4, over the book's 200 connection events), newest first, kept across restarts in a JSON file
 * beside `telahubd.yaml` (spec README decision). Event names and details follow
 * spec hub-http-api.md §7.
 *
 * Saves are atomic (0600) and coalesced: at most one write per `flushDelayMs`,
 * plus a final {@link History.flush} at shutdown.
 *
 * @module
 */
import { writeFileAtomic } from "../config/mod.ts";
import { logger } from "../log/mod.ts";

/** Events kept (issue 10 decision 4: admin changes and denials share the ring). */
export const HISTORY_LIMIT = 1000;

/** One history event as `/api/history` returns it. */
export interface HistoryEvent {
  machineId: string;
  /** `agent-register`, `client-connect`, `agent-disconnect`, `agent-session-disconnect`, `client-disconnect`. */
  event: string;
  /** RFC 3339 UTC, second precision. */
  timestamp: string;
  detail?: string;
  /** Identity id of who acted or was denied (never a token; issue 10 decision 4). */
  identity?: string;
}

/** Event types only owner/admin callers of `/api/history` see (decision 4). */
export const ADMIN_EVENTS: ReadonlySet<string> = new Set(["admin-change"]);

const log = logger("hub");

/** RFC 3339 UTC with second precision, like Go's `time.RFC3339`. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The ring of recent events with optional persistence. */
export class History {
  #events: HistoryEvent[] = []; // newest first
  #timer?: ReturnType<typeof setTimeout>;
  #dirty = false;
  #writing: Promise<void> = Promise.resolve();

  /**
   * @param path JSON file to load from and save to; `undefined` keeps history in memory only.
   * @param flushDelayMs how long changes may wait before being written, ms.
   */
  constructor(readonly path?: string, readonly flushDelayMs = 500) {}

  /** Loads the saved events; a missing file is fine, a corrupt one is logged and ignored. */
  async load(): Promise<void> {
    if (!this.path) return;
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        log.warn(`history: cannot read ${this.path}: ${(err as Error).message}`);
      }
      return;
    }
    try {
      const doc = JSON.parse(text);
      const list = Array.isArray(doc?.events) ? doc.events : [];
      this.#events = list
        .filter((e: unknown) => {
          const o = e as Record<string, unknown>;
          return o && typeof o.machineId === "string" && typeof o.event === "string" &&
            typeof o.timestamp === "string" &&
            (o.detail === undefined || typeof o.detail === "string") &&
            (o.identity === undefined || typeof o.identity === "string");
        })
        .slice(0, HISTORY_LIMIT)
        .map((o: HistoryEvent) => {
          const e: HistoryEvent = {
            machineId: o.machineId,
            event: o.event,
            timestamp: o.timestamp,
          };
          if (o.detail) e.detail = o.detail;
          if (o.identity) e.identity = o.identity;
          return e;
        });
    } catch (err) {
      log.warn(
        `history: ${this.path} is not valid JSON (${(err as Error).message}); starting empty`,
      );
    }
  }

  /**
   * Adds an event and schedules a save.
   * @param machineId the machine concerned, `""` for none.
   * @param event the event type (spec §7 plus `client-denied`, `agent-denied`, `admin-change`).
   * @param detail free text (never a token).
   * @param opts.now when (default now); opts.identity the identity id involved.
   */
  record(
    machineId: string,
    event: string,
    detail?: string,
    opts: { now?: Date; identity?: string } | Date = {},
  ): void {
    const o = opts instanceof Date ? { now: opts } : opts;
    const e: HistoryEvent = { machineId, event, timestamp: rfc3339(o.now ?? new Date()) };
    if (detail) e.detail = detail;
    if (o.identity) e.identity = o.identity;
    this.#events.unshift(e);
    if (this.#events.length > HISTORY_LIMIT) this.#events.length = HISTORY_LIMIT;
    this.#dirty = true;
    if (this.path && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.flushDelayMs);
    }
  }

  /** Events newest first, optionally filtered. */
  list(filter?: (e: HistoryEvent) => boolean): HistoryEvent[] {
    return filter ? this.#events.filter(filter) : this.#events.slice();
  }

  /** Writes pending changes now; resolves when the file is on disk. Never throws. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (!this.path || !this.#dirty) return this.#writing;
    this.#dirty = false;
    const body = JSON.stringify({ events: this.#events }) + "\n";
    const path = this.path;
    this.#writing = this.#writing.then(() =>
      writeFileAtomic(path, body, { mode: 0o600 }).catch((err) =>
        log.warn(`history: cannot save ${path}: ${(err as Error).message}`)
      )
    );
    return this.#writing;
  }
}
