/**
 * The hub's WebSocket side: machine registry, session setup in the exact order of
 * spec session-and-relay.md §3, and the relay of frames between a client
 * WebSocket and the agent's per-session WebSocket.
 *
 * Every accepted WebSocket is a {@link Peer} that starts unpaired (§1.6):
 * - unpaired: text is parsed as signaling (`register`, `connect`, `session-join`,
 *   `mgmt-response`; other types ignored); binary or undecodable text closes it
 *   with 1002 `Expected JSON for first message`;
 * - paired (client ↔ agent per-session WS): short `"keepalive"` texts are
 *   absorbed, other text is forwarded verbatim, binary frames get hop processing
 *   in place and are forwarded as the very buffer received; a bad frame closes
 *   that WebSocket with 1002 `relay frame: unsupported version`.
 *
 * Hardening beyond Go (each closes only the offending WebSocket): text over
 * {@link MAX_SIGNAL_BYTES} or binary over {@link MAX_FRAME_BYTES} → 1009; a
 * WebSocket that sends no signaling message within `firstMessageTimeoutMs` →
 * 1008; a receiver whose send buffer is over `sendBufferLimit` has frames dropped
 * (WireGuard treats it as loss) rather than queueing without bound.
 *
 * @module
 */
import {
  applyHop,
  decodeSignal,
  encodeSignal,
  HubClose,
  HubErrors,
  isKeepaliveText,
  makeError,
  makeReady,
  makeRegistered,
  makeSessionRequest,
  makeSessionStart,
  makeUdpOffer,
  MAX_SIGNAL_BYTES,
  ProtocolError,
  randomHex,
  type RegisteredMessage,
  type SignalMessage,
} from "../protocol/mod.ts";
import type { ConnectMessage, RegisterMessage, SessionJoinMessage } from "../protocol/mod.ts";
import { logger, tokenPreview } from "../log/mod.ts";
import { type HubAuth, tokensEqual } from "./auth.ts";
import { type History, rfc3339 } from "./history.ts";
import { normaliseServices, portsDetail, type Service, sessionDetail } from "./services.ts";
import type { FrameSink, UdpRelay, UdpTokenEntry } from "./udp_relay.ts";
import type { HubMessageEvent, HubWebSocket } from "./websocket.ts";

const log = logger("hub");

/** Largest binary message accepted: a 64 KiB datagram plus the relay header, in bytes. */
export const MAX_FRAME_BYTES = 65536 + 7;
/** Highest session index; the 255th concurrent session of a machine is refused. */
export const MAX_SESSIONS = 254;
/** Time an agent has to join after `session-request`, ms (spec §3.2.2). */
export const JOIN_TIMEOUT_MS = 30_000;
/** Mgmt request timeout, ms (spec §2.15). */
export const MGMT_TIMEOUT_MS = 30_000;
/**
 * `idleTimeout` given to the front end's `upgradeWebSocket`, seconds. It pings a WebSocket
 * that has been silent for half of it (10 s, Go's hub-to-agent ping interval) and
 * closes it when nothing, not even the pong, arrives in the other half; so an open
 * WebSocket has proven its peer alive within the last 20 s.
 */
export const WS_IDLE_TIMEOUT_S = 20;

/** One accepted WebSocket. */
export interface Peer extends FrameSink {
  readonly id: number;
  readonly ws: HubWebSocket;
  readonly remote: string;
  role: "new" | "control" | "client" | "agent-session" | "rejected";
  /** control: its machine; client: the machine it resolved (for history). */
  machine?: Machine;
  session?: Session;
  /** The paired WebSocket (client ↔ agent per-session). */
  peer?: Peer;
  firstMessageTimer?: ReturnType<typeof setTimeout>;
  closed: boolean;
}

/** A registered machine entry (kept while the hub runs, spec §12.1). */
export interface Machine {
  key: string;
  name: string;
  agentId: string;
  machineRegistrationId: string;
  displayName: string;
  hostname: string;
  os: string;
  agentVersion: string;
  location: string;
  owner: string;
  tags: string[];
  services: Service[];
  capabilities?: Record<string, unknown>;
  protocolVersion?: number;
  /** Token the agent registered with (open-mode per-machine rule, spec §2.8). */
  token: string;
  control?: Peer;
  registeredAt?: Date;
  lastSeen?: Date;
  sessions: Map<string, Session>;
  /** usedIdx[n] = 1 while index n is taken (1..254). */
  usedIdx: Uint8Array;
}

/** A client session (one client WS, one agent per-session WS). */
export interface Session {
  id: string;
  idx: number;
  machine: Machine;
  client: Peer;
  agent?: Peer;
  clientKey: string;
  ports?: number[];
  detail: string;
  joinTimer?: ReturnType<typeof setTimeout>;
  agentUdp?: UdpTokenEntry;
  clientUdp?: UdpTokenEntry;
  ended: boolean;
}

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
  joinTimeoutMs?: number;
  /** Drop frames to a WebSocket whose send buffer holds more than this, bytes (default 4 MiB). */
  sendBufferLimit?: number;
  /** WebSocket idle timeout, seconds (default {@link WS_IDLE_TIMEOUT_S}). */
  wsIdleTimeoutS?: number;
}

/** Relay counters (bench and status). */
export interface RelayStats {
  framesRelayed: number;
  bytesRelayed: number;
  framesDropped: number;
}

/** The WebSocket half of the hub. Transport-agnostic: it is handed upgraded sockets. */
export class Hub {
  readonly machines = new Map<string, Machine>();
  readonly #byName = new Map<string, string>();
  readonly #byRegId = new Map<string, string>();
  readonly #sessions = new Map<string, Session>();
  readonly #peers = new Set<Peer>();
  readonly #pendingMgmt = new Map<
    string,
    {
      machine: Machine;
      resolve: (r: { status: number; body: string }) => void;
      timer: ReturnType<typeof setTimeout>;
    }
  >();
  readonly stats: RelayStats = { framesRelayed: 0, bytesRelayed: 0, framesDropped: 0 };
  #nextPeerId = 1;
  draining = false;
  readonly #firstMessageTimeoutMs: number;
  readonly #joinTimeoutMs: number;
  readonly #sendBufferLimit: number;
  /** `idleTimeout` for the front end's `upgradeWebSocket`, seconds. */
  readonly wsIdleTimeoutS: number;

  constructor(readonly opts: HubOptions) {
    this.wsIdleTimeoutS = opts.wsIdleTimeoutS ?? WS_IDLE_TIMEOUT_S;
    this.#firstMessageTimeoutMs = opts.firstMessageTimeoutMs ?? 30_000;
    this.#joinTimeoutMs = opts.joinTimeoutMs ?? JOIN_TIMEOUT_MS;
    this.#sendBufferLimit = opts.sendBufferLimit ?? 4 * 1024 * 1024;
  }

  /** Number of open WebSockets. */
  get peerCount(): number {
    return this.#peers.size;
  }

  /** Number of live sessions (all machines). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Takes ownership of a freshly upgraded server WebSocket.
   * @param ws from the front end's `upgradeWebSocket`.
   * @param remote `ip:port` of the TCP peer, for logs.
   */
  accept(ws: HubWebSocket, remote: string): Peer {
    ws.binaryType = "arraybuffer";
    const p: Peer = {
      id: this.#nextPeerId++,
      ws,
      remote,
      role: "new",
      closed: false,
      sendFrame: (frame: Uint8Array) => this.#sendFrame(p, frame),
    };
    this.#peers.add(p);
    p.firstMessageTimer = setTimeout(() => {
      p.firstMessageTimer = undefined;
      if (p.role === "new" && !p.closed) {
        log.debug(`ws ${remote}: no signaling message in time; closing`);
        this.#close(p, HubClose.policy, "no signaling message received");
      }
    }, this.#firstMessageTimeoutMs);
    ws.onmessage = (ev: HubMessageEvent) => {
      try {
        if (typeof ev.data === "string") this.#onText(p, ev.data);
        else this.#onBinary(p, ev.data as ArrayBuffer);
      } catch (err) {
        // A bug in one handler must not take the hub down; close just this peer.
        log.error(`ws ${remote}: ${(err as Error).stack ?? err}`);
        this.#close(p, 1011, "internal error");
      }
    };
    ws.onclose = () => this.#onClosed(p);
    ws.onerror = () => {/* onclose follows */};
    return p;
  }

  // ---- receive paths ----

  #onBinary(p: Peer, data: ArrayBuffer): void {
    const other = p.peer;
    if (!other) {
      if (p.session?.ended) return; // late frame after teardown: discard (spec §1.6)
      this.#close(p, HubClose.protocol, HubClose.expectedJson);
      return;
    }
    if (data.byteLength > MAX_FRAME_BYTES) {
      this.#close(p, HubClose.tooBig, "message too big");
      return;
    }
    const frame = new Uint8Array(data);
    const verdict = applyHop(frame);
    if (verdict === "invalid") {
      this.#close(p, HubClose.protocol, HubClose.badFrame);
      return;
    }
    if (verdict === "drop") return;
    this.#sendFrame(other, frame);
  }

  #sendFrame(to: Peer, frame: Uint8Array): void {
    const ws = to.ws;
    if (
      to.closed || ws.readyState !== WebSocket.OPEN || ws.bufferedAmount > this.#sendBufferLimit
    ) {
      this.stats.framesDropped++;
      return;
    }
    ws.send(frame);
    this.stats.framesRelayed++;
    this.stats.bytesRelayed += frame.length;
  }

  #onText(p: Peer, text: string): void {
    if (text.length > MAX_SIGNAL_BYTES) {
      this.#close(p, HubClose.tooBig, "message too big");
      return;
    }
    if (p.peer) {
      if (isKeepaliveText(text)) return;
      const ws = p.peer.ws;
      if (!p.peer.closed && ws.readyState === WebSocket.OPEN) ws.send(text);
      return;
    }
    if (p.role === "rejected") return;
    let msg: SignalMessage | { type: "unknown" };
    try {
      msg = decodeSignal(text);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      log.debug(`ws ${p.remote}: bad signaling message: ${err.message}`);
      this.#close(p, HubClose.protocol, HubClose.expectedJson);
      return;
    }
    if (p.machine && p.role === "control") p.machine.lastSeen = new Date();
    switch (msg.type) {
      case "register":
        if (p.role === "new" || p.role === "control") this.#onRegister(p, msg);
        break;
      case "connect":
        if (p.role === "new") this.#onConnect(p, msg);
        break;
      case "session-join":
        if (p.role === "new") this.#onSessionJoin(p, msg);
        break;
      case "mgmt-response":
        if (p.role === "control") this.#onMgmtResponse(p, msg.requestId, text);
        break;
      default:
        break; // unknown and hub-bound-elsewhere types are ignored (§1.6)
    }
  }

  #settle(p: Peer, role: Peer["role"]): void {
    p.role = role;
    if (p.firstMessageTimer !== undefined) {
      clearTimeout(p.firstMessageTimer);
      p.firstMessageTimer = undefined;
    }
  }

  #reject(p: Peer, message: string): void {
    this.#settle(p, "rejected");
    this.#sendJson(p, makeError(message));
    this.#close(p, HubClose.policy, message);
  }

  // ---- register (§3.1) ----

  #onRegister(p: Peer, m: RegisterMessage): void {
    if (!m.agentId) return this.#reject(p, HubErrors.agentIdRequired);
    if (!m.machineName) return this.#reject(p, "register: machineName is required");
    if (!this.opts.auth().canRegister(m.token, m.machineName)) {
      log.info(
        `register denied: machine ${m.machineName} from ${p.remote} (token ${
          tokenPreview(m.token)
        })`,
      );
      return this.#reject(p, HubErrors.accessDenied);
    }
    const key = `${m.agentId}:${m.machineName}`;
    let entry = this.machines.get(key);
    if (m.machineRegistrationId) {
      const oldKey = this.#byRegId.get(m.machineRegistrationId);
      if (oldKey && oldKey !== key && this.machines.has(oldKey) && !entry) {
        // Renamed machine: move the entry, with its sessions and state (§3.1 step 4).
        entry = this.machines.get(oldKey)!;
        this.machines.delete(oldKey);
        if (this.#byName.get(entry.name) === oldKey) this.#byName.delete(entry.name);
        entry.key = key;
        entry.name = m.machineName;
        entry.agentId = m.agentId;
        this.machines.set(key, entry);
      }
    }
    if (!entry) {
      entry = {
        key,
        name: m.machineName,
        agentId: m.agentId,
        machineRegistrationId: m.machineRegistrationId || crypto.randomUUID(),
        displayName: "",
        hostname: "",
        os: "",
        agentVersion: "",
        location: "",
        owner: "",
        tags: [],
        services: [],
        token: "",
        sessions: new Map(),
        usedIdx: new Uint8Array(MAX_SESSIONS + 1),
      };
      this.machines.set(key, entry);
    }
    this.#byRegId.set(entry.machineRegistrationId, key);
    this.#byName.set(m.machineName, key);
    if (entry.control && entry.control !== p) {
      // Newest registration takes over; the old control socket's close becomes a no-op.
      const old = entry.control;
      entry.control = undefined;
      old.machine = undefined;
      this.#close(old, HubClose.goingAway, "replaced by a newer registration");
      this.opts.history.record(entry.name, "agent-disconnect", "agent disconnected");
    }
    entry.control = p;
    this.#settle(p, "control");
    p.machine = entry;
    entry.services = normaliseServices(m.services, m.ports);
    entry.token = m.token ?? "";
    for (
      const f of ["displayName", "hostname", "os", "agentVersion", "location", "owner"] as const
    ) {
      if (m[f]) entry[f] = m[f]!;
    }
    if (m.tags) entry.tags = m.tags;
    if (m.capabilities) entry.capabilities = m.capabilities;
    if (m.protocolVersion !== undefined) entry.protocolVersion = m.protocolVersion;
    const now = new Date();
    entry.registeredAt ??= now;
    entry.lastSeen = now;
    this.#sendJson(p, makeRegistered(m.machineName, this.opts.defaultUpdate));
    this.opts.history.record(entry.name, "agent-register", portsDetail(entry.services));
    log.info(`agent registered: ${entry.name} (${entry.agentId}) from ${p.remote}`);
  }

  // ---- connect (§3.2.2) ----

  #onConnect(p: Peer, m: ConnectMessage): void {
    this.#settle(p, "client");
    const key = this.#byName.get(m.machineId);
    const entry = key ? this.machines.get(key) : undefined;
    if (!entry || !entry.control) return this.#rejectClient(p, HubErrors.machineNotFound, entry);
    p.machine = entry;
    const auth = this.opts.auth();
    if (auth.enabled) {
      if (!auth.canConnect(m.token, entry.name)) {
        log.info(`connect denied: machine ${entry.name} (token ${tokenPreview(m.token)})`);
        return this.#rejectClient(p, HubErrors.accessDenied, entry);
      }
    } else if (entry.token && !tokensEqual(m.token ?? "", entry.token)) {
      return this.#rejectClient(p, HubErrors.invalidToken, entry);
    }
    let idx = 0;
    for (let n = 1; n <= MAX_SESSIONS; n++) {
      if (!entry.usedIdx[n]) {
        idx = n;
        break;
      }
    }
    if (idx === 0) return this.#rejectClient(p, HubErrors.tooManySessions, entry);
    let id = randomHex(8);
    while (this.#sessions.has(id)) id = randomHex(8);
    entry.usedIdx[idx] = 1;
    const s: Session = {
      id,
      idx,
      machine: entry,
      client: p,
      clientKey: m.wgPubKey,
      ports: m.ports,
      detail: sessionDetail(entry.services, m.ports),
      ended: false,
    };
    entry.sessions.set(id, s);
    this.#sessions.set(id, s);
    p.session = s;
    s.joinTimer = setTimeout(() => {
      s.joinTimer = undefined;
      if (!s.agent && !s.ended) this.#endSession(s, "join-timeout");
    }, this.#joinTimeoutMs);
    this.#sendJson(entry.control, makeSessionRequest(id, idx, m.wgPubKey));
  }

  #rejectClient(p: Peer, message: string, entry?: Machine): void {
    if (entry) p.machine = entry; // client-disconnect is recorded for resolved machines
    this.#sendJson(p, makeError(message));
    this.#close(p, HubClose.policy, message);
  }

  // ---- session-join and pairing (§3.3, §3.2.3) ----

  #onSessionJoin(p: Peer, m: SessionJoinMessage): void {
    const key = this.#byName.get(m.machineId);
    if (!key || !this.machines.has(key)) return this.#reject(p, HubErrors.machineNotFound);
    const s = this.#sessions.get(m.sessionId);
    if (!s || s.ended || s.agent || s.machine.name !== m.machineId) {
      return this.#reject(p, HubErrors.sessionNotFound);
    }
    if (s.client.closed || s.client.ws.readyState !== WebSocket.OPEN) {
      return this.#reject(p, HubErrors.clientGone);
    }
    this.#settle(p, "agent-session");
    if (s.joinTimer !== undefined) {
      clearTimeout(s.joinTimer);
      s.joinTimer = undefined;
    }
    // Pair synchronously, then the setup messages in the order Go peers rely on.
    s.agent = p;
    p.session = s;
    p.machine = s.machine;
    p.peer = s.client;
    s.client.peer = p;
    this.#sendJson(p, makeSessionStart(s.clientKey));
    this.#sendJson(s.client, makeReady(s.idx));
    const udpHost = this.opts.udpHost || undefined;
    let agentToken = randomHex(8);
    let clientToken = randomHex(8);
    if (this.opts.udp) {
      const pair = this.opts.udp.createPair(p, s.client);
      s.agentUdp = pair.agent;
      s.clientUdp = pair.client;
      agentToken = pair.agent.hex;
      clientToken = pair.client.hex;
    }
    this.#sendJson(p, makeUdpOffer(this.opts.udpPort, agentToken, udpHost));
    this.#sendJson(s.client, makeUdpOffer(this.opts.udpPort, clientToken, udpHost));
    this.opts.history.record(s.machine.name, "client-connect", s.detail || undefined);
    log.info(`session ${s.id.slice(0, 8)} up: ${s.machine.name} #${s.idx}`);
  }

  // ---- teardown (§3.4) ----

  #endSession(
    s: Session,
    cause: "client" | "agent-session" | "agent-disconnected" | "join-timeout" | "shutdown",
  ): void {
    if (s.ended) return;
    s.ended = true;
    if (s.joinTimer !== undefined) clearTimeout(s.joinTimer);
    s.machine.sessions.delete(s.id);
    s.machine.usedIdx[s.idx] = 0;
    this.#sessions.delete(s.id);
    this.opts.udp?.deletePair(s.agentUdp, s.clientUdp);
    const { client, agent } = s;
    client.peer = undefined;
    if (agent) agent.peer = undefined;
    switch (cause) {
      case "client":
        if (agent) {
          this.#sendJson(agent, { type: "session-end" });
          this.#close(agent, 1000, "");
        }
        break;
      case "agent-session":
        this.#close(client, HubClose.goingAway, HubClose.agentSessionEnded);
        break;
      case "agent-disconnected":
        this.#close(client, HubClose.goingAway, HubClose.agentDisconnected);
        if (agent) this.#close(agent, 1000, "");
        break;
      case "join-timeout":
        this.#close(client, HubClose.goingAway, HubClose.agentDidNotJoin);
        break;
      case "shutdown":
        this.#close(client, HubClose.goingAway, "hub shutting down");
        if (agent) this.#close(agent, HubClose.goingAway, "hub shutting down");
        break;
    }
  }

  #onClosed(p: Peer): void {
    if (p.closed && !this.#peers.has(p)) return;
    p.closed = true;
    this.#peers.delete(p);
    if (p.firstMessageTimer !== undefined) clearTimeout(p.firstMessageTimer);
    const history = this.opts.history;
    switch (p.role) {
      case "control": {
        const entry = p.machine;
        if (!entry) break; // superseded: its disconnect was recorded when it was replaced
        if (entry.control === p) {
          entry.control = undefined;
          entry.lastSeen = new Date();
          for (const s of [...entry.sessions.values()]) this.#endSession(s, "agent-disconnected");
          for (const [rid, w] of this.#pendingMgmt) {
            if (w.machine === entry) {
              clearTimeout(w.timer);
              this.#pendingMgmt.delete(rid);
              w.resolve({ status: 503, body: '{"error":"agent disconnected"}\n' });
            }
          }
        }
        history.record(entry.name, "agent-disconnect", "agent disconnected");
        log.info(`agent disconnected: ${entry.name}`);
        break;
      }
      case "client": {
        const s = p.session;
        if (s) this.#endSession(s, "client");
        if (p.machine) {
          history.record(p.machine.name, "client-disconnect", s?.detail || "client disconnected");
        }
        break;
      }
      case "agent-session": {
        const s = p.session;
        if (s) this.#endSession(s, "agent-session");
        if (p.machine) {
          history.record(
            p.machine.name,
            "agent-session-disconnect",
            s?.detail || "agent-session disconnected",
          );
        }
        break;
      }
      default:
        break;
    }
  }

  // ---- mgmt plumbing (§2.14, §2.15, §3.8); the HTTP side is a later issue ----

  /**
   * Sends `mgmt-request` to a machine's agent and waits for its `mgmt-response`.
   * @returns HTTP status and body: 200 with the raw response JSON verbatim, 404
   *   unknown machine, 503 agent not connected, 502 write failure, 504 after 30 s.
   */
  mgmtRequest(
    machineName: string,
    action: string,
    payload?: unknown,
    timeoutMs = MGMT_TIMEOUT_MS,
  ): Promise<{ status: number; body: string }> {
    const key = this.#byName.get(machineName);
    const entry = key ? this.machines.get(key) : undefined;
    if (!entry) return Promise.resolve({ status: 404, body: '{"error":"machine not found"}\n' });
    const control = entry.control;
    if (!control) {
      return Promise.resolve({ status: 503, body: '{"error":"agent not connected"}\n' });
    }
    const requestId = randomHex(8);
    const msg: Record<string, unknown> = { action };
    if (payload !== undefined) msg.payload = payload;
    msg.requestId = requestId;
    msg.type = "mgmt-request";
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pendingMgmt.delete(requestId);
        resolve({ status: 504, body: '{"error":"agent did not respond within 30 seconds"}\n' });
      }, timeoutMs);
      this.#pendingMgmt.set(requestId, { machine: entry, resolve, timer });
      try {
        control.ws.send(JSON.stringify(msg));
      } catch {
        clearTimeout(timer);
        this.#pendingMgmt.delete(requestId);
        resolve({ status: 502, body: '{"error":"failed to send request to agent"}\n' });
      }
    });
  }

  #onMgmtResponse(p: Peer, requestId: string, raw: string): void {
    const w = this.#pendingMgmt.get(requestId);
    if (!w || w.machine !== p.machine) return;
    clearTimeout(w.timer);
    this.#pendingMgmt.delete(requestId);
    w.resolve({ status: 200, body: raw });
  }

  // ---- helpers ----

  #sendJson(p: Peer, msg: SignalMessage | Record<string, unknown>): void {
    if (p.closed || p.ws.readyState !== WebSocket.OPEN) return;
    try {
      p.ws.send(encodeSignal(msg as SignalMessage));
    } catch { /* closing */ }
  }

  #close(p: Peer, code: number, reason: string): void {
    if (p.ws.readyState === WebSocket.CLOSING || p.ws.readyState === WebSocket.CLOSED) return;
    try {
      p.ws.close(code, reason);
    } catch {
      try {
        p.ws.close();
      } catch { /* already closed */ }
    }
  }

  /** Closes every WebSocket (shutdown): sessions end with 1001 `hub shutting down`. */
  closeAll(): void {
    this.draining = true;
    for (const s of [...this.#sessions.values()]) this.#endSession(s, "shutdown");
    for (const p of [...this.#peers]) this.#close(p, HubClose.goingAway, "hub shutting down");
  }

  /** Resolves a machine by name (the most recent registration with that name). */
  machineByName(name: string): Machine | undefined {
    const key = this.#byName.get(name);
    return key ? this.machines.get(key) : undefined;
  }

  /**
   * The `machines` array of `/api/status` (spec §4.1), sorted by id, filtered by `visible`.
   * `lastSeen` of a connected agent is at least now − the WebSocket idle timeout: the
   * front end closes a WebSocket whose pong is that late, so an open control socket proves it.
   */
  machineList(visible: (name: string) => boolean, now = new Date()): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    const entries = [...this.machines.values()].sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : a.key < b.key ? -1 : 1
    );
    const nul = (s: string) => s === "" ? null : s;
    for (const e of entries) {
      if (!visible(e.name)) continue;
      let lastSeen = e.lastSeen;
      if (e.control) {
        const floor = new Date(now.getTime() - this.wsIdleTimeoutS * 1000);
        if (!lastSeen || lastSeen < floor) lastSeen = floor;
      }
      const o: Record<string, unknown> = { id: e.name };
      if (e.agentId) o.agentId = e.agentId;
      if (e.machineRegistrationId) o.machineRegistrationId = e.machineRegistrationId;
      o.displayName = nul(e.displayName);
      o.hostname = nul(e.hostname);
      o.os = nul(e.os);
      o.agentVersion = nul(e.agentVersion);
      o.tags = e.tags;
      o.location = nul(e.location);
      o.owner = nul(e.owner);
      o.agentConnected = !!e.control;
      o.sessionCount = e.sessions.size;
      o.registeredAt = e.registeredAt ? rfc3339(e.registeredAt) : null;
      o.lastSeen = lastSeen ? rfc3339(lastSeen) : null;
      o.services = e.services;
      if (e.capabilities) o.capabilities = e.capabilities;
      if (e.protocolVersion !== undefined) o.protocolVersion = e.protocolVersion;
      out.push(o);
    }
    return out;
  }
}
