/**
 * Connection and audit history, newest first, kept across restarts in JSON files beside
 * `telahubd.yaml` (spec README decision; issue 10 decision 4). Event names and details follow
 * spec hub-http-api.md §7.
 *
 * Two rings, so that one kind of event can never push out the other:
 * - machine events (connections, disconnections, denials of known identities): the last
 *   {@link HISTORY_LIMIT}, in `telahubd.history.json`;
 * - audit events (`admin-change`): the last {@link AUDIT_LIMIT}, in `telahubd.audit.json`.
 *
 * A flood of refused connections cannot wipe the audit trail (the reviewer's 1000 WebSockets
 * with bogus tokens): denials go to the machine ring, and signaling stores only denials of
 * tokens that belong to a known identity (see `signaling.ts`). {@link History.list} merges the
 * two rings newest first.
 *
 * Saves are atomic (0600) and coalesced: at most one write per file per `flushDelayMs`, plus
 * a final {@link History.flush} at shutdown.
 *
 * @module
 */
import { writeFileAtomic } from "../config/mod.ts";
import { logger } from "../log/mod.ts";

/** Machine events kept (connections, disconnections, denials). */
export const HISTORY_LIMIT = 1000;
/** Audit events kept (`admin-change`), in their own ring and file. */
export const AUDIT_LIMIT = 1000;

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

/** Event types kept in the audit ring, shown only to owner/admin callers of `/api/history`. */
export const ADMIN_EVENTS: ReadonlySet<string> = new Set(["admin-change"]);

const log = logger("hub");

/** RFC 3339 UTC with second precision, like Go's `time.RFC3339`. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The audit file that goes with a history file: `telahubd.history.json` →
 * `telahubd.audit.json`; any other name gets `.audit` appended.
 * @param historyPath the machine-event file.
 */
export function auditPathFor(historyPath: string): string {
  const suffix = "history.json";
  return historyPath.endsWith(suffix)
    ? historyPath.slice(0, -suffix.length) + "audit.json"
    : historyPath + ".audit";
}

interface Held {
  e: HistoryEvent;
  /**
   * Insertion order across both rings, saved with the event (`seq`) so that the merge of
   * events of the same second keeps its order after a restart.
   */
  seq: number;
}

/** True when `a` is newer than `b` (timestamp, then insertion order). */
function newer(a: Held, b: Held): boolean {
  if (a.e.timestamp !== b.e.timestamp) return a.e.timestamp > b.e.timestamp;
  return a.seq > b.seq;
}

/** One bounded ring of events with its file. */
class Ring {
  events: Held[] = []; // newest first
  #timer?: ReturnType<typeof setTimeout>;
  #dirty = false;
  #writing: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string | undefined,
    readonly limit: number,
    readonly flushDelayMs: number,
  ) {}

  /**
   * Events of the file (valid ones), newest first; `undefined` when there is no file. Events
   * without a saved `seq` (older files) get one below every saved one, in file order.
   */
  async read(): Promise<Held[] | undefined> {
    if (!this.path) return undefined;
    let text: string;
    try {
      text = await Deno.readTextFile(this.path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        log.warn(`history: cannot read ${this.path}: ${(err as Error).message}`);
        return [];
      }
      return undefined;
    }
    try {
      const doc = JSON.parse(text);
      const list = Array.isArray(doc?.events) ? doc.events : [];
      return list.filter(valid).map((o: HistoryEvent & { seq?: unknown }, i: number) => ({
        e: copy(o),
        seq: typeof o.seq === "number" && Number.isSafeInteger(o.seq) ? o.seq : -1e12 - i,
      }));
    } catch (err) {
      log.warn(
        `history: ${this.path} is not valid JSON (${(err as Error).message}); starting empty`,
      );
      return [];
    }
  }

  add(h: Held): void {
    this.events.unshift(h);
    if (this.events.length > this.limit) this.events.length = this.limit;
    this.touch();
  }

  /** Marks the ring changed and schedules a save. */
  touch(): void {
    this.#dirty = true;
    if (this.path && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.flushDelayMs);
    }
  }

  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (!this.path || !this.#dirty) return this.#writing;
    this.#dirty = false;
    const body = JSON.stringify({ events: this.events.map((h) => ({ ...h.e, seq: h.seq })) }) +
      "\n";
    const path = this.path;
    this.#writing = this.#writing.then(() =>
      writeFileAtomic(path, body, { mode: 0o600 }).catch((err) =>
        log.warn(`history: cannot save ${path}: ${(err as Error).message}`)
      )
    );
    return this.#writing;
  }
}

function valid(e: unknown): boolean {
  const o = e as Record<string, unknown>;
  return !!o && typeof o.machineId === "string" && typeof o.event === "string" &&
    typeof o.timestamp === "string" &&
    (o.detail === undefined || typeof o.detail === "string") &&
    (o.identity === undefined || typeof o.identity === "string");
}

function copy(o: HistoryEvent): HistoryEvent {
  const e: HistoryEvent = { machineId: o.machineId, event: o.event, timestamp: o.timestamp };
  if (o.detail) e.detail = o.detail;
  if (o.identity) e.identity = o.identity;
  return e;
}

/** The machine-event ring and the audit ring, with optional persistence. */
export class History {
  readonly #machine: Ring;
  readonly #audit: Ring;
  #seq = 0;

  /**
   * @param path machine-event file to load from and save to; `undefined` keeps history in
   *   memory only.
   * @param flushDelayMs how long changes may wait before being written, ms.
   * @param auditPath audit file (default {@link auditPathFor}`(path)`).
   */
  constructor(
    readonly path?: string,
    readonly flushDelayMs = 500,
    readonly auditPath: string | undefined = path ? auditPathFor(path) : undefined,
  ) {
    this.#machine = new Ring(path, HISTORY_LIMIT, flushDelayMs);
    this.#audit = new Ring(auditPath, AUDIT_LIMIT, flushDelayMs);
  }

  /**
   * Loads the saved events; a missing file is fine, a corrupt one is logged and ignored.
   * `admin-change` events found in the machine file (written before the rings were split)
   * move to the audit ring when there is no audit file yet, and are dropped from the machine
   * file otherwise (they were moved before).
   */
  async load(): Promise<void> {
    const machine = await this.#machine.read() ?? [];
    const auditFile = await this.#audit.read();
    const moved = machine.filter((h) => ADMIN_EVENTS.has(h.e.event));
    const kept = machine.filter((h) => !ADMIN_EVENTS.has(h.e.event));
    this.#machine.events = kept.slice(0, HISTORY_LIMIT);
    this.#audit.events = (auditFile ?? moved).slice(0, AUDIT_LIMIT);
    for (const h of [...this.#machine.events, ...this.#audit.events]) {
      if (h.seq >= this.#seq) this.#seq = h.seq + 1;
    }
    if (moved.length) {
      this.#machine.touch();
      if (!auditFile) this.#audit.touch();
    }
  }

  /**
   * Adds an event and schedules a save. `admin-change` goes to the audit ring, everything
   * else to the machine ring.
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
    (ADMIN_EVENTS.has(event) ? this.#audit : this.#machine).add({ e, seq: this.#seq++ });
  }

  /** Events of both rings merged newest first, optionally filtered. */
  list(filter?: (e: HistoryEvent) => boolean): HistoryEvent[] {
    const a = this.#machine.events;
    const b = this.#audit.events;
    const out: HistoryEvent[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const h = j >= b.length || (i < a.length && newer(a[i], b[j])) ? a[i++] : b[j++];
      if (!filter || filter(h.e)) out.push(h.e);
    }
    return out;
  }

  /** Writes pending changes of both files now; resolves when they are on disk. Never throws. */
  async flush(): Promise<void> {
    await Promise.all([this.#machine.flush(), this.#audit.flush()]);
  }
}
