/**
 * Which path each side of a session sends its WireGuard datagrams on (issue 11,
 * *Visibility*): what the side reported in a `transport` message (our extension), or, from a
 * side that never reported (a Go peer), what the hub sees it relay: DATA frames on the side's
 * WebSocket mean `websocket`, DATA datagrams with its UDP relay token mean `udp-relay`. A
 * direct path is invisible to the hub; only a report names it. Each change bumps the
 * registry's version (so `/api/status` is rebuilt) and is logged once.
 *
 * The relay calls {@link SessionTransports.relayed} for every DATA frame; it returns at once
 * unless the inferred path changes, so the hot path pays one comparison.
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
}

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
    log.info(
      `session ${s.id.slice(0, 8)} ${escapeForLog(s.machine.name)} #${s.idx}: ${side} ` +
        `transport ${before} → ${transport} (${how})`,
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
