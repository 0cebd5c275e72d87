/**
 * A session's bind over all three paths (spec session-and-relay.md §7; book: *Three
 * transports, automatic fallback*): every WireGuard datagram goes out on the best path
 * that is up, in the order direct → UDP relay → WebSocket (§7.1), and every path is read
 * at all times into the one receiver (§7.2). CONTROL frames and JSON always use the
 * WebSocket ({@link WsRelayBind}, which also answers the CONTROL keepalive).
 *
 * Lifecycle: `udp-offer` → UDP relay upgrade (§5.3) → STUN (§6.1) and our
 * `peer-endpoint` → on the peer's `peer-endpoint`, hole punching (§6.2) → direct.
 * A TPUNCH source is only a candidate: we copy a WireGuard keepalive to it, and the
 * direct path sends to it only once a WireGuard datagram from it authenticated (the
 * engine's {@link BindPeer}: the device roams to a `from` only then). Without STUN
 * servers (`-stun none`) the session stays on the relays.
 *
 * Health (faster than the spec's 60 s rule, which it subsumes, and compatible with Go
 * peers and hubs). Each UDP path counts what it sends and receives; a housekeeping tick
 * ({@link SessionBindTimings.tickMs}) compares the counters, so the data path reads no
 * clock and starts no timer:
 * - a path that has sent for {@link SessionBindTimings.suspectMs} with nothing received on
 *   it is asked: the UDP relay with a PROBE (the hub answers READY; this also refreshes
 *   the hub's idea of our address after NAT rebinding), the direct path with a TPUNCH
 *   (our peers answer one). Nothing back within {@link SessionBindTimings.probeTimeoutMs}
 *   → the path is down and the next lower one takes over (logged with how long it was
 *   silent). An idle session sends nothing and is never suspected.
 * - our own datagrams echoed on the WebSocket (a Go hub while the peer is not on UDP,
 *   spec §5.4) are sent again over the WebSocket (so none is lost) and take the UDP relay
 *   down until relay data arrives from the hub (the peer is on UDP then).
 * - moving up again: a down UDP relay is re-PROBEd, a down direct path re-punched (and
 *   our `peer-endpoint` sent again so the peer punches too), with exponential backoff
 *   ({@link SessionBindTimings.retryMinMs} .. `retryMaxMs`); anything received on a down
 *   path brings it back up. The hub keeps a session's tokens for the session's life.
 *
 * Keepalive: the agent's device starts with persistent keepalive 0 (the client alone
 * initiates) and turns 25 s on after the first handshake (lib/session engine), as a Go
 * agent runs; so an idle session still carries a datagram each way every 25 s, which a
 * Go peer's 60 s UDP health rule needs. This bind does not keep paths alive by itself
 * beyond its PROBE/TPUNCH checks.
 * @module
 */
import type { AnySignal, SignalSocket } from "../session/signal.ts";
import type {
  BindContext,
  BindFactory,
  BindPeer,
  SessionBind,
  TransportKind,
} from "../session/tunnel.ts";
import type { BindEndpoint } from "../wireguard/mod.ts";
import {
  DirectPath,
  parsePeerEndpoint,
  PUNCH_DURATION_MS,
  PUNCH_REPLY_INTERVAL_MS,
} from "./direct.ts";
import { DEFAULT_STUN_SERVER, isStunMessage, stunQuery } from "./stun.ts";
import { sameAddr, UdpRelayPath, upgradeToUdpRelay } from "./udp_relay.ts";
import { WsRelayBind } from "./ws_relay.ts";

/** Timings of the health checks, in milliseconds (defaults in {@link DEFAULT_TIMINGS}). */
export interface SessionBindTimings {
  /** Housekeeping tick. */
  tickMs: number;
  /** A UDP path that sent this long without receiving anything is asked (PROBE/TPUNCH). */
  suspectMs: number;
  /** No answer this long after the question: the path is down. */
  probeTimeoutMs: number;
  /** First retry of a down path (re-PROBE / re-punch); doubles up to `retryMaxMs`. */
  retryMinMs: number;
  /** Longest interval between retries. */
  retryMaxMs: number;
}

/**
 * Default timings: tick 250 ms; suspect after 5 s of sends without a receive (WireGuard
 * answers data within 10 s with a keepalive, and TCP far sooner, so 5 s of silence while
 * sending is worth one 13-octet question); down 2 s after an unanswered question (the
 * spec's PROBE wait); retries from 2 s doubling to 60 s.
 */
export const DEFAULT_TIMINGS: SessionBindTimings = {
  tickMs: 250,
  suspectMs: 5000,
  probeTimeoutMs: 2000,
  retryMinMs: 2000,
  retryMaxMs: 60_000,
};

/** Defaults a program gives {@link sessionBind}; the session's {@link BindContext} wins. */
export interface SessionBindOptions {
  /** STUN servers when `BindContext.stunServers` is undefined (default: Google's). */
  stunServers?: string[];
  /** Health timings (tests shorten them). */
  timings?: Partial<SessionBindTimings>;
}

/** Largest datagram copied to a direct candidate: a handshake initiation (148 octets). */
const MAX_COPY_LEN = 148;
/** Punch attempts towards a peer that never answered before we give up on it. */
export const MAX_UNANSWERED_PUNCHES = 5;
/** Datagrams copied to a direct candidate per TPUNCH from it. */
const MAX_COPIES = 2;

const RANK: Record<TransportKind, number> = { websocket: 0, "udp-relay": 1, direct: 2 };

/** Per UDP path health state (see the module doc). */
interface Health {
  up: boolean;
  prevRx: number;
  prevTx: number;
  lastRxAt: number;
  /** First send after the last receive, 0 = none. */
  unansweredSince: number;
  /** When the liveness question went out, 0 = none. */
  askedAt: number;
  /** The question was repeated (once, half-way through the wait). */
  askedAgain: boolean;
  retryAt: number;
  retryMs: number;
  /** Why it is down (log text). */
  downReason: string;
}

function newHealth(now: number, retryMinMs: number): Health {
  return {
    up: false,
    prevRx: 0,
    prevTx: 0,
    lastRxAt: now,
    unansweredSince: 0,
    askedAt: 0,
    askedAgain: false,
    retryAt: 0,
    retryMs: retryMinMs,
    downReason: "",
  };
}

/**
 * The three-tier bind of one session (see the module doc). Make it with
 * {@link sessionBind}.
 */
export class TieredBind implements SessionBind {
  /** The WebSocket path (always there; CONTROL and JSON use it). */
  readonly ws: WsRelayBind;
  readonly #sock: SignalSocket;
  readonly #ctx: BindContext;
  readonly #t: SessionBindTimings;
  readonly #stunServers: string[];
  readonly #cap: number;
  #receive: ((d: Uint8Array, from: BindEndpoint) => void) | null = null;
  #tier: TransportKind = "websocket";
  #forced: TransportKind | null = null;
  #relay: UdpRelayPath | null = null;
  #direct: DirectPath | null = null;
  #relayHealth: Health;
  #directHealth: Health;
  /** Relay down because the hub echoed our datagrams (spec §5.4): up on relay data. */
  #echoed = false;
  #prevDataRx = 0;
  #offer: { host?: string; port: number; token: string } | null = null;
  #upgrading = false;
  #upgradeRetryAt = 0;
  #upgradeRetryMs: number;
  #peerEndpoint: Deno.NetAddr | null = null;
  #reflexive: string | null = null;
  #stunHandler: ((d: Uint8Array) => void) | null = null;
  #stunDone = false;
  #now = performance.now();
  #timer: ReturnType<typeof setInterval> | undefined;
  #abort = new AbortController();
  #closed = false;
  /** The engine's WireGuard peer ({@link SessionBind.attachPeer}). */
  #wg: BindPeer | null = null;
  /** Small datagrams still to copy to the direct candidate (see {@link #solicit}). */
  #copiesLeft = 0;
  #lastSolicit = -Infinity;
  #lastPunchStart = -Infinity;
  /**
   * Punch attempts since the direct peer last answered (tests, status); after
   * {@link MAX_UNANSWERED_PUNCHES} no more until a new peer-endpoint address.
   */
  punchAttempts = 0;
  /** The peer's last `transport` report (our extension), if any. */
  peerTransport: TransportKind | undefined;
  /** Own datagrams the hub echoed on the WebSocket and that were sent again over it. */
  echoesResent = 0;

  /**
   * @param sock the session's signaled hub WebSocket.
   * @param ctx the session's context (role, hub URL, log, STUN servers, cap, onTransport).
   * @param opts program defaults and timings.
   */
  constructor(sock: SignalSocket, ctx: BindContext, opts: SessionBindOptions = {}) {
    this.#sock = sock;
    this.#ctx = ctx;
    this.#t = { ...DEFAULT_TIMINGS, ...opts.timings };
    this.#stunServers = ctx.stunServers ?? opts.stunServers ?? [DEFAULT_STUN_SERVER];
    this.#cap = RANK[ctx.maxTransport ?? "direct"] ?? 2;
    // `-stun none` (no STUN servers) disables the direct path altogether: no TPUNCH and
    // no peer-endpoint moves this session off the relays.
    if (this.#stunServers.length === 0) this.#cap = Math.min(this.#cap, RANK["udp-relay"]);
    this.#upgradeRetryMs = this.#t.retryMinMs;
    this.#relayHealth = newHealth(this.#now, this.#t.retryMinMs);
    this.#directHealth = newHealth(this.#now, this.#t.retryMinMs);
    this.ws = new WsRelayBind(sock);
    this.ws.onOwnEcho = (payload) => this.#onOwnEcho(payload);
  }

  /** Time (ms) of the oldest CONTROL keepalive not answered yet (the WebSocket path's). */
  get outstandingSince(): number {
    return this.ws.outstandingSince;
  }
  set outstandingSince(t: number) {
    this.ws.outstandingSince = t;
  }

  /** The path datagrams are sent on now. */
  get transport(): TransportKind {
    return this.#tier;
  }

  /** This side's relay session id (spec §4.2), stamped on every path. */
  get sessionId(): number {
    return this.ws.sessionId;
  }

  /** The UDP relay path once the upgrade succeeded (tests, status). */
  get udpRelay(): UdpRelayPath | null {
    return this.#relay;
  }

  /** The direct path once the UDP socket exists (tests, status). */
  get direct(): DirectPath | null {
    return this.#direct;
  }

  /** Our STUN-discovered address `ip:port`, once known. */
  get reflexiveAddress(): string | null {
    return this.#reflexive;
  }

  /**
   * Testing hook: sends on `kind` whenever it is up (else on the best lower path that
   * is up), ignoring better paths; null returns to automatic selection. Health checks and
   * receiving are unchanged.
   */
  force(kind: TransportKind | null): void {
    this.#forced = kind;
    this.#select(kind ? `forced` : "automatic");
  }

  /** Receives the engine's WireGuard peer (authenticated sources, keepalives). */
  attachPeer(peer: BindPeer): void {
    this.#wg = peer;
  }

  /**
   * Starts the WebSocket path and the housekeeping tick; reports the initial path to
   * `ctx.onTransport` and the hub (`transport` message) without a log line: it is not a
   * change, and the spec's transport lines come after `WireGuard tunnel up`
   * (agent-and-client.md §10.3), which this precedes.
   */
  open(receive: (datagram: Uint8Array, from: BindEndpoint) => void): void {
    this.#receive = receive;
    this.ws.open((d) => receive(d, undefined));
    this.#timer = setInterval(() => this.#tick(), this.#t.tickMs);
    this.#announce("websocket", "", false);
  }

  /**
   * Sends one datagram on the selected path (spec §7.1): direct or UDP relay copy it into
   * a send slot with token/header; the WebSocket writes its header into `headroom`.
   */
  send(datagram: Uint8Array, to: BindEndpoint, headroom = 0): void {
    if (this.#copiesLeft > 0 && datagram.length <= MAX_COPY_LEN) this.#copyToCandidate(datagram);
    const tier = this.#tier;
    if (tier === "direct") {
      this.#direct!.send(datagram, this.ws.sessionId);
      return;
    }
    if (tier === "udp-relay") {
      this.#relay!.send(datagram, this.ws.sessionId);
      return;
    }
    this.ws.send(datagram, to, headroom);
  }

  /** Sends a CONTROL frame, always over the WebSocket (spec §4.4). */
  sendControl(byte: number): void {
    this.ws.sendControl(byte);
  }

  /**
   * Consumes `udp-offer` (starts the UDP relay upgrade), `peer-endpoint` (starts hole
   * punching) and the peer's `transport` report; other messages are not this bind's.
   * @returns true when the message was consumed.
   */
  signal(msg: AnySignal): boolean {
    const m = msg as unknown as Record<string, unknown>;
    switch (m.type) {
      case "udp-offer": {
        if (this.#cap < RANK["udp-relay"] || this.#offer || this.#closed) return true;
        this.#offer = {
          host: typeof m.host === "string" && m.host ? m.host : undefined,
          port: Number(m.port),
          token: String(m.token ?? ""),
        };
        this.#upgrade();
        return true;
      }
      case "peer-endpoint": {
        if (this.#cap < RANK.direct || this.#closed) return true;
        const addr = parsePeerEndpoint(String(m.message ?? ""));
        if (!addr) {
          this.#ctx.log.debug("peer-endpoint: not an IPv4 ip:port, ignored");
          return true;
        }
        if (!this.#peerEndpoint || !sameAddr(this.#peerEndpoint, addr)) this.punchAttempts = 0;
        this.#peerEndpoint = addr;
        // At most one punch attempt per punch duration, however many messages arrive.
        if (
          this.#direct && !this.#directHealth.up &&
          performance.now() - this.#lastPunchStart >= PUNCH_DURATION_MS
        ) this.#startPunch(addr);
        return true;
      }
      case "transport": {
        const t = m.transport;
        if (t === "direct" || t === "udp-relay" || t === "websocket") this.peerTransport = t;
        return true;
      }
    }
    return false;
  }

  /** Stops every path and timer, closes the UDP socket (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#direct?.close();
    this.#relay?.sock.close();
    this.ws.close();
    this.#receive = null;
  }

  // --- upgrade, STUN, punching ---

  async #upgrade(): Promise<void> {
    const offer = this.#offer;
    if (!offer || this.#upgrading || this.#relay || this.#closed) return;
    this.#upgrading = true;
    let path: UdpRelayPath | null = null;
    try {
      path = await upgradeToUdpRelay(
        this.#ctx.role,
        offer,
        this.#ctx.hubUrl,
        this.#abort.signal,
        this.#t.probeTimeoutMs,
      );
    } finally {
      this.#upgrading = false;
    }
    if (this.#closed) {
      path?.sock.close();
      return;
    }
    if (!path) {
      this.#upgradeRetryAt = performance.now() + this.#upgradeRetryMs;
      this.#ctx.log.debug(
        `udp relay: no READY from the hub (port ${offer.port}); staying on websocket, ` +
          `next try in ${Math.round(this.#upgradeRetryMs / 1000)} s`,
      );
      this.#upgradeRetryMs = Math.min(this.#upgradeRetryMs * 2, this.#t.retryMaxMs);
      return;
    }
    this.#relay = path;
    this.#direct = new DirectPath(path.sock, () => this.#now);
    this.#direct.onPunch = (_from, confirmed) => {
      if (!confirmed) this.#solicit();
      else if (!this.#directHealth.up) this.#tick();
    };
    path.sock.onDatagram = (d, from) => this.#onUdp(d, from);
    const now = this.#now = performance.now();
    this.#relayHealth = newHealth(now, this.#t.retryMinMs);
    this.#relayHealth.up = true;
    this.#relayHealth.prevRx = path.rx;
    this.#directHealth = newHealth(now, this.#t.retryMinMs);
    this.#select("");
    this.#discover();
  }

  /** STUN over the path's socket, then our `peer-endpoint` (spec §6.1 step 5). */
  async #discover(): Promise<void> {
    if (this.#cap < RANK.direct || this.#stunServers.length === 0 || !this.#relay) return;
    if (this.#stunDone) return;
    this.#stunDone = true;
    const sock = this.#relay.sock;
    const r = await stunQuery(
      {
        sendTo: (d, to) => sock.sendTo(d, to),
        onStun: (h) => (this.#stunHandler = h),
      },
      this.#stunServers,
      undefined,
      this.#abort.signal,
    );
    if (this.#closed) return;
    if (!r) {
      this.#ctx.log.info(
        `stun: no answer from ${
          this.#stunServers.join(", ")
        }; staying on the relay (no direct path)`,
      );
    } else {
      this.#reflexive = `${r.address.hostname}:${r.address.port}`;
      this.#ctx.log.debug(`stun: reflexive address ${this.#reflexive} (from ${r.server})`);
      this.#sendPeerEndpoint();
    }
    // A peer-endpoint that arrived before our relay was up: punch now.
    if (this.#peerEndpoint && !this.#directHealth.up) this.#startPunch(this.#peerEndpoint);
  }

  /** A punch attempt; when it brings nothing, the tick retries after the backoff. */
  #startPunch(to: Deno.NetAddr): void {
    const d = this.#direct;
    if (!d || this.#closed) return;
    if (this.punchAttempts >= MAX_UNANSWERED_PUNCHES) return;
    this.punchAttempts++;
    this.#lastPunchStart = performance.now();
    d.punch(to);
    const h = this.#directHealth;
    h.retryAt = performance.now() + PUNCH_DURATION_MS + h.retryMs;
    h.retryMs = Math.min(h.retryMs * 2, this.#t.retryMaxMs);
  }

  /**
   * A TPUNCH from an address that is not the confirmed peer: it is only a candidate. We
   * ask WireGuard for a keepalive and copy the next small datagrams (keepalive,
   * handshake, ACK; at most {@link MAX_COPIES}, at most once per
   * {@link PUNCH_REPLY_INTERVAL_MS}) to it, so that a real peer's WireGuard authenticates
   * us there and answers from there; what authenticates from it confirms it
   * (see {@link #onUdp}). A stranger gets a few encrypted octets and nothing else.
   */
  #solicit(): void {
    const now = performance.now();
    if (this.#cap < RANK.direct || now - this.#lastSolicit < PUNCH_REPLY_INTERVAL_MS) return;
    this.#lastSolicit = now;
    this.#copiesLeft = MAX_COPIES;
    this.#wg?.sendKeepalive();
  }

  #copyToCandidate(datagram: Uint8Array): void {
    const d = this.#direct;
    if (d === null || d.candidate === null || this.#closed) {
      this.#copiesLeft = 0;
      return;
    }
    this.#copiesLeft--;
    d.sendToCandidate(datagram, this.ws.sessionId);
  }

  #sendPeerEndpoint(): void {
    if (this.#reflexive) this.#sock.sendJson({ type: "peer-endpoint", message: this.#reflexive });
  }

  // --- receive paths ---

  /** The UDP socket's classification (spec §7.2 UDP rules 1-5). */
  #onUdp(d: Uint8Array, from: Deno.NetAddr): void {
    const r = this.#relay!;
    if (r.isHub(from)) {
      const p = r.fromHub(d);
      if (p !== null) this.#receive?.(p, undefined);
      return;
    }
    if (isStunMessage(d)) {
      this.#stunHandler?.(d);
      return;
    }
    if (this.#cap < RANK.direct) return; // direct disabled: TPUNCH and data ignored
    const dp = this.#direct!;
    const p = dp.handle(d, from);
    if (p === null) return;
    const ep = dp.lastEndpoint!;
    // WireGuard takes `ep` as the peer's endpoint only if the datagram authenticates.
    this.#receive?.(p, ep);
    if (ep !== dp.peerEndpoint && this.#wg !== null && this.#wg.endpoint() === ep) {
      dp.confirm(ep);
      this.#ctx.log.debug(`direct: ${ep} authenticated`);
      this.#tick();
      // An authenticated datagram back on the direct path lets the peer confirm us too
      // (an idle tunnel would otherwise wait for the next persistent keepalive).
      if (this.#tier === "direct") this.#wg!.sendKeepalive();
    }
  }

  /** Our own datagram came back on the WebSocket (Go hub, spec §5.4): send it over the WS. */
  #onOwnEcho(payload: Uint8Array): void {
    const r = this.#relay;
    if (r === null || r.tx === 0) {
      // Never sent on UDP: not an echo but a peer that picked our session id (1 in 2^32).
      this.#receive?.(payload, undefined);
      return;
    }
    this.echoesResent++;
    this.ws.send(payload, undefined, 7);
    if (!this.#echoed) {
      this.#echoed = true;
      this.#prevDataRx = r.dataRx;
      this.#select("udp relay: the hub echoes our datagrams (peer not on udp)");
    }
  }

  // --- health and selection ---

  #tick(): void {
    if (this.#closed) return;
    const now = this.#now = performance.now();
    const r = this.#relay;
    if (r === null) {
      if (this.#offer && !this.#upgrading && this.#upgradeRetryAt && now >= this.#upgradeRetryAt) {
        this.#upgradeRetryAt = 0;
        this.#upgrade();
      }
      return;
    }
    let reason = "";
    // UDP relay.
    const rh = this.#relayHealth;
    if (this.#echoed && r.dataRx !== this.#prevDataRx) {
      this.#echoed = false;
      reason = "relay data from the hub";
    }
    reason = this.#check(rh, r.rx, r.tx, now, () => r.probe(), "udp relay") || reason;
    // Direct.
    const d = this.#direct!;
    const dh = this.#directHealth;
    if (d.peer !== null && this.#cap >= RANK.direct) {
      reason = this.#check(dh, d.rx, d.tx, now, () => d.sendPunch(d.peer!), "direct peer") ||
        reason;
    }
    // Move up: retries of down paths.
    if (!rh.up && !this.#echoed && now >= rh.retryAt) {
      r.probe();
      this.#backoff(rh, now);
    }
    if (
      !dh.up && this.#cap >= RANK.direct && dh.retryAt && now >= dh.retryAt && !d.punching &&
      (this.#peerEndpoint || d.peer)
    ) {
      this.#sendPeerEndpoint(); // so the peer punches too
      this.#startPunch(this.#peerEndpoint ?? d.peer!); // never an unconfirmed source
    }
    this.#select(reason);
  }

  #backoff(h: Health, now: number): void {
    h.retryAt = now + h.retryMs;
    h.retryMs = Math.min(h.retryMs * 2, this.#t.retryMaxMs);
  }

  /**
   * One path's health step. @returns a log reason when the path went up or down.
   */
  #check(
    h: Health,
    rx: number,
    tx: number,
    now: number,
    ask: () => void,
    name: string,
  ): string {
    const t = this.#t;
    let reason = "";
    if (rx !== h.prevRx) {
      h.prevRx = rx;
      h.lastRxAt = now;
      h.unansweredSince = 0;
      h.askedAt = 0;
      if (!h.up) {
        if (h === this.#directHealth) this.punchAttempts = 0;
        h.up = true;
        h.retryMs = t.retryMinMs;
        h.downReason = "";
        reason = `${name} answers again`;
      }
    }
    if (tx !== h.prevTx) {
      h.prevTx = tx;
      if (!h.unansweredSince) h.unansweredSince = now;
    }
    if (!h.up) return reason;
    if (h.askedAt) {
      if (now - h.askedAt >= t.probeTimeoutMs) {
        h.up = false;
        h.askedAt = 0;
        h.unansweredSince = 0;
        h.retryMs = t.retryMinMs;
        h.retryAt = now + h.retryMs;
        h.downReason = `${name} silent for ${Math.round((now - h.lastRxAt) / 1000)} s`;
        return h.downReason;
      }
      if (!h.askedAgain && now - h.askedAt >= t.probeTimeoutMs / 2) {
        h.askedAgain = true; // one lost datagram must not take a path down
        ask();
      }
    } else if (h.unansweredSince && now - h.unansweredSince >= t.suspectMs) {
      h.askedAt = now;
      h.askedAgain = false;
      ask();
    }
    return reason;
  }

  #select(reason: string): void {
    const relayUp = this.#relay !== null && this.#relayHealth.up && !this.#echoed;
    const directUp = this.#direct?.peer != null && this.#directHealth.up;
    const limit = Math.min(this.#cap, this.#forced ? RANK[this.#forced] : 2);
    let want: TransportKind = "websocket";
    if (limit >= RANK.direct && directUp) want = "direct";
    else if (limit >= RANK["udp-relay"] && relayUp) want = "udp-relay";
    if (want === this.#tier) return;
    this.#announce(want, reason);
  }

  /**
   * Makes `want` the send path: one info line (when `logIt`, i.e. a change), the
   * `onTransport` callback and the `transport` report to the hub.
   */
  #announce(want: TransportKind, reason: string, logIt = true): void {
    this.#tier = want;
    if (logIt) {
      let detail = reason;
      if (want === "direct") detail = `peer ${this.#direct!.peerString}`;
      else if (want === "udp-relay") {
        detail = `hub ${this.#relay!.hubString}` + (reason ? `; ${reason}` : "");
      }
      this.#ctx.log.info(`transport: ${want}${detail ? ` (${detail})` : ""}`);
    }
    try {
      this.#ctx.onTransport?.(want);
    } catch { /* a listener's bug must not break the bind */ }
    this.#sock.sendJson({ type: "transport", transport: want });
  }
}

/**
 * The bind factory for the three transports (spec §7): what a program hands its sessions
 * so that each session upgrades from the WebSocket relay to the hub's UDP relay and to a
 * direct path where it can, and falls back when a path goes silent.
 * @param defaults program-wide defaults (STUN servers when the context has none; timings).
 * @returns a {@link BindFactory} making one {@link TieredBind} per session.
 * @example
 * ```ts ignore
 * new MachineConnection({ ...opts, bind: sessionBind() });
 * ```
 */
export function sessionBind(defaults: SessionBindOptions = {}): BindFactory {
  return (sock, ctx) => new TieredBind(sock, ctx, defaults);
}
