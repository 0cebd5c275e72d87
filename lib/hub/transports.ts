/**
 * Which path each side of a session sends its WireGuard datagrams on (issue 11,
 * *Visibility*): what the side reported in a `transport` message (our extension), or, from a
 * side that never reported (a Go peer), what the hub sees it relay: DATA frames on the side's
 * WebSocket mean `websocket`, DATA datagrams with its UDP relay token mean `udp-relay`. A
 * direct path is invisible to the hub; only a report names it. Each change bumps the
 * registry's version (so `/api/status` is rebuilt) and is logged once.
 *
 * The relay calls {@link SessionTransports.relayed} for every DATA frame; it returns at once
 * unless the inferred path changes, so the hot path pays one comparison. A side that flaps
 * gets at most {@link MAX_CHANGE_LINES} log lines a minute (the status always shows the last).
 * @module
 */
import { escapeForLog, logger } from "../log/mod.ts";
import { rfc3339 } from "./history.ts";
import type { TransportName } from "../protocol/mod.ts";
import type { Registry, Session } from "./registry.ts";

const log = logger("hub");

/** One side of a session. */
export type SessionSide = "client" | "agent";

/** What the hub knows of one side's send path. */
export interface SideTransport {
  transport: TransportName;
  /** When it last changed (or when the side joined). */
  since: Date;
  /** True once the side sent a `transport` report: inference stops for it. */
  reported: boolean;
  /** Start (ms) of the current log window, and lines logged / left out in it. */
  logWindow?: { start: number; logged: number; skipped: number };
}

/** At most this many change lines per session side per {@link LOG_WINDOW_MS}. */
export const MAX_CHANGE_LINES = 10;
/** The window of {@link MAX_CHANGE_LINES}, in milliseconds. */
export const LOG_WINDOW_MS = 60_000;

/** Both sides of a session; `agent` is absent until the agent joined. */
export interface SessionTransportState {
  client: SideTransport;
  agent?: SideTransport;
}

/** The status view of one session (`/api/status` machine `sessions[]`). */
export interface SessionTransportView {
  index: number;
  client: TransportName;
  /** Null while the agent has not joined the session yet. */
  agent: TransportName | null;
  /** RFC 3339 time of the last change of either side (or of the session's start). */
  since: string;
}

/** Records and logs the transports of every session of one hub. */
export class SessionTransports {
  /**
   * @param registry bumped on every change, so the `/api/status` cache is rebuilt.
   * @param now the clock (tests).
   */
  constructor(readonly registry: Registry, readonly now: () => Date = () => new Date()) {}

  /** The state of a new session: the client side starts on the WebSocket relay. */
  start(): SessionTransportState {
    return { client: { transport: "websocket", since: this.now(), reported: false } };
  }

  /** The agent joined `s`: its side starts on the WebSocket relay. */
  join(s: Session): void {
    s.transports.agent = { transport: "websocket", since: this.now(), reported: false };
    this.registry.changed();
  }

  /**
   * A side's `transport` report: recorded (and logged when it changes); from now on the hub
   * believes the side's reports only.
   */
  report(s: Session, side: SessionSide, transport: TransportName): void {
    const st = s.transports[side];
    if (!st || s.ended) return;
    st.reported = true;
    this.#set(s, side, st, transport, "reported");
  }

  /**
   * The hub relayed a DATA frame of `side` that came on `path`. Changes the side's transport
   * only when the side never reported one.
   */
  relayed(s: Session, side: SessionSide, path: "websocket" | "udp-relay"): void {
    const st = s.transports[side];
    if (!st || st.reported || st.transport === path || s.ended) return;
    this.#set(
      s,
      side,
      st,
      path,
      path === "udp-relay" ? "seen on the UDP relay" : "seen on the WebSocket relay",
    );
  }

  #set(
    s: Session,
    side: SessionSide,
    st: SideTransport,
    transport: TransportName,
    how: string,
  ): void {
    if (st.transport === transport) return;
    const before = st.transport;
    st.transport = transport;
    st.since = this.now();
    this.registry.changed();
    // A peer flapping its reports must not flood the log: 10 lines a minute per side.
    const t = st.since.getTime();
    let w = st.logWindow;
    let skippedBefore = 0;
    if (!w || t - w.start >= LOG_WINDOW_MS) {
      skippedBefore = w?.skipped ?? 0;
      w = st.logWindow = { start: t, logged: 0, skipped: 0 };
    }
    if (w.logged >= MAX_CHANGE_LINES) {
      w.skipped++;
      return;
    }
    w.logged++;
    log.info(
      `session ${s.id.slice(0, 8)} ${escapeForLog(s.machine.name)} #${s.idx}: ${side} ` +
        `transport ${before} → ${transport} (${how})` +
        (skippedBefore ? ` (${skippedBefore} earlier changes not logged)` : ""),
    );
  }
}

/**
 * The `sessions` array of a machine in `/api/status`: one entry per session, by index.
 * @param sessions the machine's sessions.
 */
export function sessionTransportList(sessions: Iterable<Session>): SessionTransportView[] {
  return [...sessions].sort((a, b) => a.idx - b.idx).map((s) => {
    const { client, agent } = s.transports;
    const since = agent && agent.since > client.since ? agent.since : client.since;
    return {
      index: s.idx,
      client: client.transport,
      agent: agent?.transport ?? null,
      since: rfc3339(since),
    };
  });
}
