/**
 * The hub's WebSocket side, put together: the {@link Registry} of machines and sessions,
 * {@link Signaling} (session setup in the exact order of spec session-and-relay.md §3), the
 * {@link Relay} of frames between a client socket and the agent's per-session socket, and
 * {@link Management} requests.
 *
 * Every accepted WebSocket is a {@link HubSocket} that starts unpaired (§1.6):
 * - unpaired: text is parsed as signaling; binary or undecodable text closes it with 1002
 *   `Expected JSON for first message`;
 * - paired (client ↔ agent per-session WS): frames are relayed.
 *
 * Hardening beyond Go (each closes only the offending WebSocket): text over
 * `MAX_SIGNAL_BYTES` or binary over {@link MAX_FRAME_BYTES} → 1009; a WebSocket that sends
 * no signaling message within `firstMessageTimeoutMs` → 1008; a registration over the
 * limits of `registration.ts` → `error` and 1008; a receiver whose send buffer is full has
 * frames dropped; machines offline for longer than `offlineRetentionMs` are pruned, and past
 * `maxMachines` entries the one offline the longest is forgotten.
 *
 * @module
 */
import { FLAG_DATA, HubClose, type RegisteredMessage } from "../protocol/mod.ts";
import { escapeForLog, logger } from "../log/mod.ts";
import type { HubAuth } from "./auth.ts";
import type { History } from "./history.ts";
import { Management, MGMT_TIMEOUT_MS, type MgmtResult } from "./management.ts";
import { type Machine, OFFLINE_RETENTION_MS, Registry } from "./registry.ts";
import { MAX_FRAME_BYTES, Relay, type RelayStats } from "./relay.ts";
import { Signaling } from "./signaling.ts";
import { AccessEnforcer } from "./access/enforce.ts";
import { closeSocket, type HubSocket } from "./socket.ts";
import type { UdpRelay } from "./udp_relay.ts";
import { type BridgeRoute, Bridges } from "./bridge.ts";
import type { HubMessageEvent, HubWebSocket } from "./websocket.ts";

export { MAX_FRAME_BYTES, MGMT_TIMEOUT_MS };
export { MAX_MACHINES, MAX_SESSIONS } from "./registry.ts";

const log = logger("hub");

/** Time an agent has to join after `session-request`, ms (spec §3.2.2). */
export const JOIN_TIMEOUT_MS = 30_000;
/**
 * `idleTimeout` given to the front end's `upgradeWebSocket`, seconds. It pings a WebSocket
 * that has been silent for half of it (10 s, Go's hub-to-agent ping interval) and
 * closes it when nothing, not even the pong, arrives in the other half; so an open
 * WebSocket has proven its peer alive within the last 20 s.
 */
export const WS_IDLE_TIMEOUT_S = 20;

/** Options of {@link Hub}. */
export interface HubOptions {
  auth: () => HubAuth;
  history: History;
  hubId: string;
  hubName: string;
  /** UDP relay port advertised in `udp-offer` (even if binding failed, like Go). */
  udpPort: number;
  /** `udpHost` / `TELAHUBD_UDP_HOST`, advertised when set. */
  udpHost?: string;
  udp?: UdpRelay;
  defaultUpdate?: RegisteredMessage["defaultUpdate"];
  /** Close a WebSocket that sends no signaling message within this time, ms (default 30 000). */
  firstMessageTimeoutMs?: number;
  /** Time an agent has to join a session, ms (default {@link JOIN_TIMEOUT_MS}). */
  joinTimeoutMs?: number;
  /** Drop frames to a WebSocket whose send buffer holds more than this, bytes (default 4 MiB). */
  sendBufferLimit?: number;
  /** WebSocket idle timeout, seconds (default {@link WS_IDLE_TIMEOUT_S}). */
  wsIdleTimeoutS?: number;
  /**
   * Forget a machine whose agent has been disconnected this long, ms (default
   * {@link OFFLINE_RETENTION_MS}, 24 h). The sweep runs every quarter of it, at most
   * once a minute.
   */
  offlineRetentionMs?: number;
  /**
   * Most machine entries held (default {@link MAX_MACHINES}); past it the entry offline the
   * longest is forgotten, and a registration is refused only when all are connected.
   */
  maxMachines?: number;
  /** Makes an identity the registrant of a machine it registered first (signaling.ts). */
  claimRegistrant?: (machine: string, identityId: string) => void;
  /** Validated `bridges:` entries (bridge.ts; spec §3.7), read once at start. */
  bridges?: BridgeRoute[];
  /** Bridge dial and setup timeouts, ms (tests; defaults 15 s and 30 s, spec §3.7). */
  bridgeTimeouts?: { dialMs?: number; setupMs?: number };
}

/** The WebSocket half of the hub. Transport-agnostic: it is handed upgraded sockets. */
export class Hub {
  readonly registry: Registry;
  readonly relay: Relay;
  readonly management: Management;
  /** The bridge directory and the bridged sessions (spec §3.7). */
  readonly bridges: Bridges;
  readonly #signaling: Signaling;
  readonly #enforcer: AccessEnforcer;
  #nextSocketId = 1;
  draining = false;
  readonly #firstMessageTimeoutMs: number;
  readonly offlineRetentionMs: number;
  #pruneTimer?: ReturnType<typeof setInterval>;
  /** `idleTimeout` for the front end's `upgradeWebSocket`, seconds. */
  readonly wsIdleTimeoutS: number;

  constructor(readonly opts: HubOptions) {
    this.registry = new Registry(opts.maxMachines);
    this.wsIdleTimeoutS = opts.wsIdleTimeoutS ?? WS_IDLE_TIMEOUT_S;
    this.#firstMessageTimeoutMs = opts.firstMessageTimeoutMs ?? 30_000;
    this.offlineRetentionMs = opts.offlineRetentionMs ?? OFFLINE_RETENTION_MS;
    this.relay = new Relay(opts.sendBufferLimit);
    this.management = new Management(this.registry);
    this.bridges = new Bridges(opts.bridges ?? [], {
      hubId: opts.hubId,
      relay: this.relay,
      history: opts.history,
      udpPort: opts.udpPort,
      udpHost: opts.udpHost,
      udp: opts.udp,
      dialTimeoutMs: opts.bridgeTimeouts?.dialMs,
      setupTimeoutMs: opts.bridgeTimeouts?.setupMs,
    });
    this.#signaling = new Signaling({
      auth: opts.auth,
      history: opts.history,
      registry: this.registry,
      relay: this.relay,
      management: this.management,
      udpPort: opts.udpPort,
      udpHost: opts.udpHost,
      udp: opts.udp,
      defaultUpdate: opts.defaultUpdate,
      joinTimeoutMs: opts.joinTimeoutMs ?? JOIN_TIMEOUT_MS,
      claimRegistrant: opts.claimRegistrant,
      bridges: this.bridges,
    });
    this.#enforcer = new AccessEnforcer(opts.auth, {
      sockets: () => this.registry.sockets,
      cut: (s, text) => this.#signaling.cut(s, text),
    });
  }

  /**
   * Re-checks every live client session and agent control socket against the current
   * access (issue 10 decision 1) and cuts those that lost it; re-arms the timer for the
   * next token expiry. Call after every access change.
   * @returns how many connections were cut.
   */
  enforceAccess(): number {
    return this.#enforcer.check();
  }

  /** Machine entries by key (`agentId:machineName`). */
  get machines(): Map<string, Machine> {
    return this.registry.machines;
  }

  /** Relay counters. */
  get stats(): RelayStats {
    return this.relay.stats;
  }

  /** Number of open WebSockets. */
  get peerCount(): number {
    return this.registry.sockets.size;
  }

  /** Number of live sessions (all machines). */
  get sessionCount(): number {
    return this.registry.sessions.size;
  }

  /**
   * Takes ownership of a freshly upgraded server WebSocket.
   * @param ws from the front end's `upgradeWebSocket`.
   * @param remote `ip:port` of the TCP peer, for logs.
   */
  accept(ws: HubWebSocket, remote: string): HubSocket {
    ws.binaryType = "arraybuffer";
    this.#startPruning();
    const s: HubSocket = {
      id: this.#nextSocketId++,
      ws,
      remote,
      role: "new",
      closed: false,
      sendFrame: (frame: Uint8Array) => this.relay.sendFrame(s, frame),
    };
    this.registry.sockets.add(s);
    s.firstMessageTimer = setTimeout(() => {
      s.firstMessageTimer = undefined;
      if (s.role === "new" && !s.closed) {
        log.debug(`ws ${remote}: no signaling message in time; closing`);
        closeSocket(s, HubClose.policy, "no signaling message received");
      }
    }, this.#firstMessageTimeoutMs);
    ws.onmessage = (ev: HubMessageEvent) => {
      try {
        if (typeof ev.data === "string") this.#signaling.onText(s, ev.data);
        else this.#onBinary(s, ev.data as ArrayBuffer);
      } catch (err) {
        // A bug in one handler must not take the hub down; close just this socket.
        log.error(`ws ${remote}: ${escapeForLog((err as Error).stack ?? String(err), 2000)}`);
        closeSocket(s, 1011, "internal error");
      }
    };
    ws.onclose = () => this.#onClosed(s);
    ws.onerror = () => {/* onclose follows */};
    return s;
  }

  #onBinary(s: HubSocket, data: ArrayBuffer): void {
    const other = s.paired;
    if (!other) {
      if (s.session?.ended) return; // late frame after teardown: discard (spec §1.6)
      closeSocket(s, HubClose.protocol, HubClose.expectedJson);
      return;
    }
    this.relay.forwardBinary(s, other, data);
    // DATA from a side that never reported its transport: it sends on the WebSocket relay.
    const session = s.session;
    if (!session) return;
    const side = s.role === "client" ? "client" : "agent";
    const st = session.transports[side];
    if (st && !st.reported && st.transport !== "websocket") {
      const frame = new Uint8Array(data, 0, Math.min(data.byteLength, 3));
      if (frame.length === 3 && frame[2] === FLAG_DATA) {
        this.#signaling.transports.relayed(session, side, "websocket");
      }
    }
  }

  #onClosed(s: HubSocket): void {
    if (s.closed && !this.registry.sockets.has(s)) return;
    s.closed = true;
    this.registry.sockets.delete(s);
    if (s.firstMessageTimer !== undefined) clearTimeout(s.firstMessageTimer);
    this.#signaling.onClosed(s);
  }

  /** Starts the offline-machine sweep on first use (no timer for a hub never used). */
  #startPruning(): void {
    if (this.#pruneTimer !== undefined || this.draining) return;
    const every = Math.min(60_000, Math.max(10, this.offlineRetentionMs / 4));
    this.#pruneTimer = setInterval(() => this.pruneOffline(), every);
    Deno.unrefTimer(this.#pruneTimer);
  }

  /**
   * Forgets machines whose agent has been disconnected for longer than
   * {@link offlineRetentionMs}.
   * @param now epoch ms (tests inject).
   * @returns the names removed.
   */
  pruneOffline(now = Date.now()): string[] {
    const removed = this.registry.prune(now, this.offlineRetentionMs);
    for (const name of removed) log.info(`machine ${escapeForLog(name)} pruned (offline)`);
    return removed;
  }

  /**
   * Sends `mgmt-request` to a machine's agent and waits for its `mgmt-response`.
   * @param timeoutMs give up after this long, ms.
   * @returns HTTP status and body: 200 with the raw response JSON verbatim, 404
   *   unknown machine, 503 agent not connected, 502 write failure, 504 after the timeout.
   */
  mgmtRequest(
    machineName: string,
    action: string,
    payload?: unknown,
    timeoutMs = MGMT_TIMEOUT_MS,
  ): Promise<MgmtResult> {
    return this.management.request(machineName, action, payload, timeoutMs);
  }

  /** Closes every WebSocket (shutdown): sessions end with 1001 `hub shutting down`. */
  closeAll(): void {
    this.draining = true;
    this.#enforcer.stop();
    if (this.#pruneTimer !== undefined) clearInterval(this.#pruneTimer);
    this.#pruneTimer = undefined;
    for (const x of [...this.registry.sessions.values()]) {
      this.#signaling.endSession(x, "shutdown");
    }
    this.bridges.closeAll();
    for (const s of [...this.registry.sockets]) {
      closeSocket(s, HubClose.goingAway, "hub shutting down");
    }
  }

  /** Resolves a machine by name (the most recent registration with that name). */
  machineByName(name: string): Machine | undefined {
    return this.registry.byName(name);
  }

  /**
   * The `machines` array of `/api/status` (spec hub-http-api.md §4.1): local machines sorted
   * by id, then the bridged ones with `reachableThrough` (§3.7), filtered by `visible`;
   * `services` gives a caller's per-service filter of a machine (spec §14.1; undefined = all).
   */
  machineList(
    visible: (name: string) => boolean,
    now = new Date(),
    services?: (name: string) => string[] | undefined,
  ): Record<string, unknown>[] {
    return [
      ...this.registry.machineList(visible, now, this.wsIdleTimeoutS, services),
      ...this.bridges.statusList(visible),
    ];
  }
}
