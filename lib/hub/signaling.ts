/**
 * Signaling: what the hub does with each text message of an unpaired socket, in the exact
 * order of spec session-and-relay.md §3 (`register`, `connect`, `session-join`,
 * `mgmt-response`; other types ignored, §1.6), and the teardown of sessions and sockets
 * (§3.4).
 *
 * History (issue 10 decision 4 and its fix round): `agent-register`, `client-connect` and
 * the disconnects carry the identity id of the token used (none in open mode); a refused
 * register or connect is recorded (`agent-denied`, `client-denied`) only when its token
 * belongs to a known identity, valid, revoked or expired (that is the audit value: who tried
 * what). A token that belongs to no identity, or none at all, is only logged, at most once a
 * minute per remote address ({@link DenialLog}): anyone can cause those refusals, and storing
 * them would let a stranger flood the history.
 *
 * @module
 */
import {
  type ConnectMessage,
  decodeSignal,
  HubClose,
  HubErrors,
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
  type RegisterMessage,
  type SessionJoinMessage,
  type SignalMessage,
} from "../protocol/mod.ts";
import { escapeForLog, logger, tokenPreview } from "../log/mod.ts";
import { type HubAuth, tokensEqual } from "./auth.ts";
import { RegistrationError, RegistryFullError } from "./errors.ts";
import type { History } from "./history.ts";
import type { Management } from "./management.ts";
import { validateRegistration } from "./registration.ts";
import type { Machine, Registry, Session } from "./registry.ts";
import type { Relay } from "./relay.ts";
import { normaliseServices, portsDetail, sessionDetail } from "./services.ts";
import {
  BRIDGE_SERVICE_GRANT_TEXT,
  closeReason,
  grantedPorts,
  refusalText,
  servicePortText,
} from "./access/enforce.ts";
import { closeSocket, type HubSocket, sendJson } from "./socket.ts";
import { DenialLog, hostOf } from "./denial_log.ts";
import type { UdpRelay } from "./udp_relay.ts";
import { type SessionSide, SessionTransports } from "./transports.ts";
import type { BridgeRoute, Bridges } from "./bridge.ts";

const log = logger("hub");

/** What signaling needs from the hub around it. */
export interface SignalingContext {
  auth: () => HubAuth;
  history: History;
  registry: Registry;
  relay: Relay;
  management: Management;
  /** UDP relay port advertised in `udp-offer` (even if binding failed, like Go). */
  udpPort: number;
  /** `udpHost` / `TELAHUBD_UDP_HOST`, advertised when set. */
  udpHost?: string;
  udp?: UdpRelay;
  defaultUpdate?: RegisteredMessage["defaultUpdate"];
  /** Time an agent has to join after `session-request`, ms. */
  joinTimeoutMs: number;
  /**
   * Called when an identity registers a machine only because that machine's ACL entry lists
   * it and names no registrant: the hub makes it the registrant (AccessStore.claimRegistrant).
   */
  claimRegistrant?: (machine: string, identityId: string) => void;
  /** The `bridges:` directory (spec §3.7); machines not registered here may be reached there. */
  bridges?: Bridges;
}

/** Why a session ended; decides who is told what (§3.4). */
export type SessionEndCause =
  | "client"
  | "agent-session"
  | "agent-disconnected"
  | "join-timeout"
  | "shutdown";

/** The signaling state machine of every hub socket. */
export class Signaling {
  /** Log budget of refusals of unknown tokens, per remote address. */
  readonly #unknownDenials: DenialLog;
  /** Each session's transport per side (reports, and what the relay sees). */
  readonly transports: SessionTransports;

  /**
   * @param ctx the hub's registry, relay, management, auth and history this machine drives.
   * @param denials the log limiter of refusals of unknown tokens (tests inject a clock).
   */
  constructor(readonly ctx: SignalingContext, denials = new DenialLog()) {
    this.#unknownDenials = denials;
    this.transports = new SessionTransports(ctx.registry);
  }

  /**
   * Logs a refused register/connect and, when the token belongs to a known identity, records
   * it (`event`). Unknown tokens get a rate-limited log line only.
   */
  #denied(
    s: HubSocket,
    event: "agent-denied" | "client-denied",
    machine: string,
    token: string | undefined,
    who: string | undefined,
    text: string,
  ): void {
    const what = event === "agent-denied" ? "register" : "connect";
    const line = `${what} denied: machine ${escapeForLog(machine)} from ${s.remote} (token ${
      escapeForLog(tokenPreview(token))
    }${who ? `, identity ${escapeForLog(who)}` : ""}): ${escapeForLog(text)}`;
    if (who) {
      log.info(line);
      this.ctx.history.record(machine, event, text, { identity: who });
      return;
    }
    const skipped = this.#unknownDenials.take(hostOf(s.remote));
    if (skipped === undefined) return;
    log.info(
      `${line}; unknown token, not recorded${
        skipped ? ` (${skipped} more from this address not logged)` : ""
      }`,
    );
  }

  /** Handles one text message of `s` (paired sockets relay it instead). */
  onText(s: HubSocket, text: string): void {
    if (text.length > MAX_SIGNAL_BYTES) {
      closeSocket(s, HubClose.tooBig, "message too big");
      return;
    }
    if (s.cut) return; // access was withdrawn; the close is under way
    if (s.paired) {
      // Relayed verbatim like any paired text (§1.6); a transport report is also recorded.
      if (s.session && text.length < 256 && /"transport"/i.test(text)) this.#onReport(s, text);
      this.ctx.relay.forwardText(s.paired, text);
      return;
    }
    if (s.role === "rejected") return;
    let msg: SignalMessage | { type: "unknown" };
    try {
      msg = decodeSignal(text);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      log.debug(`ws ${s.remote}: bad signaling message: ${escapeForLog(err.message)}`);
      closeSocket(s, HubClose.protocol, HubClose.expectedJson);
      return;
    }
    if (s.machine && s.role === "control") s.machine.lastSeen = new Date();
    switch (msg.type) {
      case "register":
        if (s.role === "new" || s.role === "control") this.#onRegister(s, msg);
        break;
      case "connect":
        if (s.role === "new") this.#onConnect(s, msg);
        break;
      case "session-join":
        if (s.role === "new") this.#onSessionJoin(s, msg);
        break;
      case "mgmt-response":
        if (s.role === "control") this.ctx.management.onResponse(s, msg.requestId, text);
        break;
      default:
        break; // unknown and hub-bound-elsewhere types are ignored (§1.6)
    }
  }

  /**
   * A text on a paired socket that may be a `transport` report (our extension, issue 11):
   * recorded for the sender's side. Anything else, malformed text included, is only relayed
   * (a paired socket's text is never an error, §1.6).
   */
  #onReport(s: HubSocket, text: string): void {
    let msg;
    try {
      msg = decodeSignal(text);
    } catch {
      return;
    }
    const side: SessionSide | undefined = s.role === "client"
      ? "client"
      : s.role === "agent-session"
      ? "agent"
      : undefined;
    if (!side || !s.session) return;
    if (msg.type === "transport") this.transports.report(s.session, side, msg.transport);
    else if (msg.type === "unknown" && msg.rawType === "transport") {
      log.debug(
        `session ${s.session.id.slice(0, 8)}: ${side} reported a transport this hub does not ` +
          `know: ${escapeForLog(text)}`,
      );
    }
  }

  /** Sets the role of `s` and stops its first-message deadline. */
  settle(s: HubSocket, role: HubSocket["role"]): void {
    s.role = role;
    if (s.firstMessageTimer !== undefined) {
      clearTimeout(s.firstMessageTimer);
      s.firstMessageTimer = undefined;
    }
  }

  #reject(s: HubSocket, message: string): void {
    this.settle(s, "rejected");
    sendJson(s, makeError(message));
    closeSocket(s, HubClose.policy, closeReason(message));
  }

  /**
   * Cuts a live control socket or client session whose access was withdrawn (issue 10
   * decision 1): `error` with `text`, then 1008 with the same text. What the socket carried
   * ends at once, not when its close handshake completes (a peer that never answers the close
   * would otherwise keep relaying until the close times out): a client's session (the agent
   * gets `session-end`), or its bridged session (the bridge WebSocket closes); for a control
   * socket, its machine goes offline and every session of that machine ends.
   */
  cut(s: HubSocket, text: string): void {
    s.cut = true;
    sendJson(s, makeError(text));
    closeSocket(s, HubClose.policy, closeReason(text));
    if (s.role === "client" && s.session) this.endSession(s.session, "client");
    const bridged = s.role === "client" ? s.bridged : undefined;
    bridged?.end("client");
    const m = s.machine;
    if (s.role === "control" && m && m.control === s) {
      this.#agentGone(m);
      s.machine = undefined; // its close is then a no-op (recorded here already)
    }
    if (m || bridged) {
      this.ctx.history.record(
        m?.name ?? bridged!.machine,
        s.role === "control" ? "agent-denied" : "client-denied",
        text,
        { identity: s.identityId },
      );
    }
  }

  // ---- register (§3.1) ----

  #onRegister(s: HubSocket, m: RegisterMessage): void {
    if (!m.agentId) return this.#reject(s, HubErrors.agentIdRequired);
    if (!m.machineName) return this.#reject(s, "register: machineName is required");
    try {
      validateRegistration(m);
    } catch (err) {
      if (!(err instanceof RegistrationError)) throw err;
      log.info(
        `register rejected: machine ${escapeForLog(m.machineName)} from ${s.remote}: ${
          escapeForLog(err.message)
        }`,
      );
      return this.#reject(s, err.message);
    }
    const { registry, history } = this.ctx;
    const auth = this.ctx.auth();
    if (!auth.canRegister(m.token, m.machineName)) {
      const text = refusalText(auth, m.token);
      this.#denied(s, "agent-denied", m.machineName, m.token, idOf(auth, m.token), text);
      return this.#reject(s, text);
    }
    let entry: Machine;
    try {
      entry = registry.upsert(m);
    } catch (err) {
      if (!(err instanceof RegistryFullError)) throw err;
      log.warn(`register refused: machine ${escapeForLog(m.machineName)}: ${err.message}`);
      return this.#reject(s, err.message);
    }
    const before = s.machine;
    if (before && before !== entry && before.control === s) {
      // This socket registered under another name before: that machine's agent is gone from
      // it. Left pointing at this socket, the old entry would show as connected and never
      // be pruned, so one socket could pile up entries by re-registering under new names.
      this.#agentGone(before);
    }
    if (entry.control && entry.control !== s) {
      // Newest registration takes over; the old control socket's close becomes a no-op.
      const old = entry.control;
      entry.control = undefined;
      old.machine = undefined;
      closeSocket(old, HubClose.goingAway, "replaced by a newer registration");
      history.record(entry.name, "agent-disconnect", "agent disconnected", {
        identity: old.identityId,
      });
    }
    for (const other of registry.othersNamed(entry.name, entry.key)) {
      // Same name, another agentId (a second telad with its own state dir). Go keeps both
      // entries (§3.1.1) and the older one stays connected but unreachable by name, so
      // /api/status lists the machine twice and, when the newer agent leaves, the name
      // resolves to its offline entry while the older agent still runs. We treat it as the
      // same-agentId case instead: the older control WS is closed (its telad logs it and
      // reconnects with backoff), its sessions end, and its entry is dropped.
      const old = other.control;
      log.info(
        `agent replaced: ${escapeForLog(other.name)} (${
          escapeForLog(other.agentId)
        }) by a newer registration (${escapeForLog(entry.agentId)}) from ${s.remote}`,
      );
      if (old) {
        old.machine = undefined; // its close is then a no-op (recorded here)
        closeSocket(old, HubClose.goingAway, "replaced by a newer registration");
        this.#agentGone(other);
      } else {
        for (const x of [...other.sessions.values()]) this.endSession(x, "agent-disconnected");
      }
      registry.forget(other);
    }
    entry.control = s;
    this.settle(s, "control");
    s.machine = entry;
    s.authToken = m.token;
    s.identityId = auth.identity(m.token)?.id;
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
    if (s.identityId && auth.registersByListing(m.token, entry.name)) {
      // First registration of a machine with no registrant: this identity claims it, so a
      // user who only has connect on it cannot later register under its name.
      this.ctx.claimRegistrant?.(entry.name, s.identityId);
    }
    sendJson(s, makeRegistered(m.machineName, this.ctx.defaultUpdate));
    history.record(entry.name, "agent-register", portsDetail(entry.services), {
      identity: s.identityId,
    });
    log.info(
      `agent registered: ${escapeForLog(entry.name)} (${
        escapeForLog(entry.agentId)
      }) from ${s.remote}`,
    );
  }

  // ---- connect (§3.2.2) ----

  #onConnect(s: HubSocket, m: ConnectMessage): void {
    this.settle(s, "client");
    const { registry } = this.ctx;
    const entry = registry.byName(m.machineId);
    const auth = this.ctx.auth();
    // With auth on, a stranger's refused connect leaves no `client-disconnect` behind either
    // (Go records one for every client that resolved a machine: a way to flood the history).
    const stranger = auth.enabled && idOf(auth, m.token) === undefined;
    if (!entry || !entry.control) {
      const route = this.ctx.bridges?.route(m.machineId);
      if (route) return this.#onBridgedConnect(s, m, route);
      return this.#rejectClient(s, HubErrors.machineNotFound, stranger ? undefined : entry);
    }
    s.machine = entry;
    let allowed: number[] | undefined;
    if (auth.enabled) {
      const who = idOf(auth, m.token);
      let text: string | undefined;
      if (!auth.canConnect(m.token, entry.name)) {
        text = refusalText(auth, m.token);
      } else {
        allowed = grantedPorts(auth, m.token, entry);
        const bad = allowed && m.ports?.find((p) => !allowed!.includes(p));
        if (bad !== undefined && allowed) text = servicePortText(bad, entry.name);
      }
      if (text !== undefined) {
        this.#denied(s, "client-denied", entry.name, m.token, who, text);
        if (stranger) s.machine = undefined;
        return this.#rejectClient(s, text, stranger ? undefined : entry);
      }
      s.authToken = m.token;
      s.identityId = who;
      // Only the requested ports go to the agent when the client named some.
      if (allowed && m.ports?.length) allowed = [...m.ports];
    } else if (entry.token && !tokensEqual(m.token ?? "", entry.token)) {
      return this.#rejectClient(s, HubErrors.invalidToken, entry);
    }
    const idx = registry.takeIndex(entry);
    if (idx === 0) return this.#rejectClient(s, HubErrors.tooManySessions, entry);
    const session: Session = {
      id: registry.freshSessionId(() => randomHex(8)),
      idx,
      machine: entry,
      client: s,
      clientKey: m.wgPubKey,
      ports: m.ports,
      allowedPorts: allowed,
      detail: sessionDetail(entry.services, m.ports),
      ended: false,
      transports: this.transports.start(),
    };
    registry.addSession(session);
    s.session = session;
    session.joinTimer = setTimeout(() => {
      session.joinTimer = undefined;
      if (!session.agent && !session.ended) this.endSession(session, "join-timeout");
    }, this.ctx.joinTimeoutMs);
    sendJson(entry.control, makeSessionRequest(session.id, idx, m.wgPubKey, allowed));
  }

  /**
   * A connect to a machine not registered here but listed in a bridge (spec §3.7 step 1):
   * the client's connect permission on this hub, then bridge.ts carries it on.
   */
  #onBridgedConnect(s: HubSocket, m: ConnectMessage, route: BridgeRoute): void {
    const auth = this.ctx.auth();
    if (auth.enabled) {
      const who = idOf(auth, m.token);
      if (!auth.canConnect(m.token, m.machineId)) {
        const text = refusalText(auth, m.token);
        this.#denied(s, "client-denied", m.machineId, m.token, who, text);
        return this.#rejectClient(s, text);
      }
      // This hub cannot know the remote machine's services, so it cannot apply a filter.
      if (auth.connectServices(m.token, m.machineId)) {
        const text = BRIDGE_SERVICE_GRANT_TEXT;
        this.#denied(s, "client-denied", m.machineId, m.token, who, text);
        return this.#rejectClient(s, text);
      }
      s.authToken = m.token;
      s.identityId = who;
    }
    this.ctx.bridges!.open(s, m, route);
  }

  #rejectClient(s: HubSocket, message: string, entry?: Machine): void {
    if (entry) s.machine = entry; // client-disconnect is recorded for resolved machines
    sendJson(s, makeError(message));
    closeSocket(s, HubClose.policy, closeReason(message));
  }

  // ---- session-join and pairing (§3.3, §3.2.3) ----

  #onSessionJoin(s: HubSocket, m: SessionJoinMessage): void {
    if (!this.ctx.registry.byName(m.machineId)) return this.#reject(s, HubErrors.machineNotFound);
    const session = this.ctx.registry.sessions.get(m.sessionId);
    if (!session || session.ended || session.agent || session.machine.name !== m.machineId) {
      return this.#reject(s, HubErrors.sessionNotFound);
    }
    const client = session.client;
    if (client.closed || client.ws.readyState !== WebSocket.OPEN) {
      return this.#reject(s, HubErrors.clientGone);
    }
    this.settle(s, "agent-session");
    if (session.joinTimer !== undefined) {
      clearTimeout(session.joinTimer);
      session.joinTimer = undefined;
    }
    // Pair synchronously, then the setup messages in the order Go peers rely on.
    session.agent = s;
    s.session = session;
    s.machine = session.machine;
    s.paired = client;
    client.paired = s;
    this.transports.join(session);
    sendJson(s, makeSessionStart(session.clientKey));
    sendJson(client, makeReady(session.idx));
    const udpHost = this.ctx.udpHost || undefined;
    let agentToken = randomHex(8);
    let clientToken = randomHex(8);
    if (this.ctx.udp) {
      const pair = this.ctx.udp.createPair(s, client);
      session.agentUdp = pair.agent;
      session.clientUdp = pair.client;
      // DATA on a side's token: that side sends on the UDP relay (unless it reports otherwise).
      pair.agent.onData = () => this.transports.relayed(session, "agent", "udp-relay");
      pair.client.onData = () => this.transports.relayed(session, "client", "udp-relay");
      agentToken = pair.agent.hex;
      clientToken = pair.client.hex;
    }
    sendJson(s, makeUdpOffer(this.ctx.udpPort, agentToken, udpHost));
    sendJson(client, makeUdpOffer(this.ctx.udpPort, clientToken, udpHost));
    this.ctx.history.record(session.machine.name, "client-connect", session.detail || undefined, {
      identity: client.identityId,
    });
    log.info(
      `session ${session.id.slice(0, 8)} up: ${escapeForLog(session.machine.name)} #${session.idx}`,
    );
  }

  // ---- teardown (§3.4) ----

  /** Ends a session once: frees its index and UDP tokens and tells the other side. */
  endSession(s: Session, cause: SessionEndCause): void {
    if (s.ended) return;
    s.ended = true;
    if (s.joinTimer !== undefined) clearTimeout(s.joinTimer);
    this.ctx.registry.removeSession(s);
    this.ctx.udp?.deletePair(s.agentUdp, s.clientUdp);
    const { client, agent } = s;
    client.paired = undefined;
    if (agent) agent.paired = undefined;
    switch (cause) {
      case "client":
        if (agent) {
          sendJson(agent, { type: "session-end" });
          closeSocket(agent, 1000, "");
        }
        break;
      case "agent-session":
        closeSocket(client, HubClose.goingAway, HubClose.agentSessionEnded);
        break;
      case "agent-disconnected":
        closeSocket(client, HubClose.goingAway, HubClose.agentDisconnected);
        if (agent) closeSocket(agent, 1000, "");
        break;
      case "join-timeout":
        closeSocket(client, HubClose.goingAway, HubClose.agentDidNotJoin);
        break;
      case "shutdown":
        closeSocket(client, HubClose.goingAway, "hub shutting down");
        if (agent) closeSocket(agent, HubClose.goingAway, "hub shutting down");
        break;
    }
  }

  /** `entry`'s control socket is gone: it goes offline, its sessions and mgmt requests end. */
  #agentGone(entry: Machine): void {
    const identity = entry.control?.identityId;
    entry.control = undefined;
    entry.lastSeen = new Date();
    this.ctx.registry.changed();
    for (const x of [...entry.sessions.values()]) this.endSession(x, "agent-disconnected");
    this.ctx.management.failMachine(entry);
    this.ctx.history.record(entry.name, "agent-disconnect", "agent disconnected", { identity });
    log.info(`agent disconnected: ${escapeForLog(entry.name)}`);
  }

  /** A socket closed: end what it carried and record it in the history. */
  onClosed(s: HubSocket): void {
    const { history } = this.ctx;
    switch (s.role) {
      case "control": {
        const entry = s.machine;
        if (!entry) break; // superseded: its disconnect was recorded when it was replaced
        if (entry.control === s) {
          this.#agentGone(entry);
        } else {
          history.record(entry.name, "agent-disconnect", "agent disconnected", {
            identity: s.identityId,
          });
          log.info(`agent disconnected: ${escapeForLog(entry.name)}`);
        }
        break;
      }
      case "client":
      case "agent-session": {
        s.bridged?.end("client");
        // Either half of a session: end the session, record "<role>-disconnect".
        const session = s.session;
        if (session) this.endSession(session, s.role);
        if (s.machine) {
          // Both halves of a session name the identity whose session it was.
          history.record(
            s.machine.name,
            `${s.role}-disconnect`,
            session?.detail || `${s.role} disconnected`,
            { identity: session?.client.identityId ?? s.identityId },
          );
        }
        break;
      }
      default:
        break;
    }
  }
}

/** The identity id behind `token` for audit: valid, revoked or expired; else undefined. */
function idOf(auth: HubAuth, token: string | undefined): string | undefined {
  const st = auth.tokenState(token);
  return st.state === "ok" ? st.identity.id : st.state === "unknown" ? undefined : st.id;
}
