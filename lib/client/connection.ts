/**
 * One client connection to one machine through one hub (spec session-and-relay.md §3.2,
 * §10.2, §11.1; agent-and-client.md §10): persistent local listeners on 127.0.0.1, a
 * session per attempt (fresh keys, new WebSocket), every accepted local connection
 * forwarded to `10.77.N.1:<remote>` through the tunnel, reconnect with backoff.
 * @module
 */
import { escapeForLog, type Logger } from "../log/mod.ts";
import {
  type AnySignal,
  type AttemptResult,
  type BindFactory,
  DEFAULT_MTU,
  type DenialScope,
  generateSessionKeys,
  HubDialError,
  parsePublicKeyHex,
  pipeBoth,
  readDenial,
  reconnectLoop,
  SessionTunnel,
  SignalSocket,
  socketDuplex,
  type TransportKind,
  type TransportSettings,
  tunnelAddresses,
  type TunnelConn,
  type TunnelEngine,
} from "../session/mod.ts";
import {
  fetchHubStatus,
  HubUnauthorizedError,
  MachineNotListedError,
  resolveServiceNames,
  UnknownServiceError,
} from "./hubapi.ts";
import {
  advertisedName,
  type BoundService,
  listenWithFallback,
  type PortMapping,
} from "./ports.ts";

/** The hub refused for good (e.g. `Invalid token`): the connection stops and does not retry. */
export class FatalConnectError extends Error {
  override name = "FatalConnectError";
}

/**
 * The hub ended this connection's access (issue 10, decision 2): an established session was
 * cut, or a reconnect refused, with `Access denied...`. The connection stops for good; with
 * {@link AccessEndedError.scope} `token`, no other connection with the same hub and token
 * can succeed either (`tela connect -profile` stops those too).
 */
export class AccessEndedError extends FatalConnectError {
  override name = "AccessEndedError";
  /**
   * @param message the line shown to the user.
   * @param hubUrl the hub, as configured for the connection.
   * @param token the token the hub refused (never logged).
   * @param scope `token` when the token itself is dead (revoked, rotated, expired, removed).
   */
  constructor(
    message: string,
    readonly hubUrl: string,
    readonly token: string | undefined,
    readonly scope: DenialScope,
  ) {
    super(message);
  }
}

/** What the user can do once the hub ended access, appended to the one log line. */
export const ACCESS_ENDED_ADVICE =
  "ask the hub administrator (tela admin access) or use another token";

/** Settings of one connection. */
export interface ConnectionOptions {
  hubUrl: string;
  machine: string;
  token?: string;
  /**
   * Explicit mappings; empty or absent (and no {@link serviceNames}): forward every port the
   * agent advertises (book, Appendix A).
   */
  mappings?: PortMapping[];
  /**
   * Services asked for by name (`-services`, a profile's `name:`), each with an optional
   * local port. Each attempt first resolves them through the hub's `/api/status` (spec
   * agent-and-client.md §10.1) until that succeeds; an unreachable hub or an unregistered
   * machine is retried by the reconnect loop, a 401 or an unknown name ends the connection
   * with {@link FatalConnectError}. The explicit mappings are bound together with them,
   * in the spec's order (explicit first).
   */
  serviceNames?: { name: string; local?: number }[];
  mtu?: number;
  /**
   * Loopback address the local listeners bind (a profile's `address:`, already checked to
   * be in 127.0.0.0/8); default 127.0.0.1.
   */
  address?: string;
  /** Makes each session's Bind (the transport, e.g. lib/transport's `sessionBind()`). */
  bind: BindFactory;
  /**
   * STUN servers and the highest tier (`-stun`, `-transport`, their variables, the profile's
   * `stun:` and `transport:`), handed to every session's bind; absent: the defaults.
   */
  transport?: TransportSettings;
  /** Called after every change of the session's send path (the first call is the initial one). */
  onTransport?: (transport: TransportKind) => void;
  engine: TunnelEngine;
  log: Logger;
  /**
   * Longest wait, in milliseconds, for the hub's `ready` and the agent's `wg-pubkey` after
   * `connect` (default {@link SESSION_SETUP_TIMEOUT_MS}); then the attempt is reset.
   */
  sessionSetupTimeoutMs?: number;
  /**
   * `Access denied` before any session succeeded ends the connection with an error
   * (ad-hoc `tela connect`: a wrong token exits non-zero). Without it, such a first denial
   * is retried with backoff (a profile's machine may be granted later) unless the hub says
   * the token itself is dead. Once a session was established, any `Access denied` (the
   * session cut, or a reconnect refused) ends the connection with {@link AccessEndedError}.
   */
  fatalFirstDenial?: boolean;
  /** Called with the listeners each time new ones are bound (for the Services block). */
  onBound?: (services: BoundService[], wanted: number[]) => void;
  /** Called once per established session. */
  onSession?: (info: { sessionIdx: number; agentPorts: number[] }) => void;
  /** Injected randomness for backoff jitter (tests). */
  random?: () => number;
}

/** Time allowed for reading service names from the hub before the Services block, in ms. */
export const SERVICE_NAMES_TIMEOUT_MS = 3_000;

interface LiveTunnel {
  tunnel: SessionTunnel;
  peer: string;
}

/** A local listener and where it forwards. */
export interface LocalListener {
  listener: Deno.TcpListener;
  localPort: number;
  remotePort: number;
}

/** A Services block: `named` once printed with the agent's names; `printed` settles then. */
interface ReportedBlock {
  bound: BoundService[];
  wanted: number[];
  named: boolean;
  printed: Promise<void>;
}

/** `bound` with each service's advertised name, where the agent gave one. */
function withNames(bound: BoundService[], names: ReadonlyMap<number, string>): BoundService[] {
  return bound.map((b) => names.has(b.remotePort) ? { ...b, name: names.get(b.remotePort) } : b);
}

/**
 * The spec's line for a `udp-offer` (agent-and-client.md §10.3): `received UDP relay offer
 * (host <h>, port <p>)`, or `(port <p>)` when the hub names no host. The host is the hub's
 * text, escaped.
 */
/** Default of {@link ConnectionOptions.sessionSetupTimeoutMs}: 30 s. */
export const SESSION_SETUP_TIMEOUT_MS = 30_000;

function logUdpOffer(log: Logger, msg: { port: number; host?: string }): void {
  const host = msg.host ? `host ${escapeForLog(msg.host)}, ` : "";
  log.info(`received UDP relay offer (${host}port ${msg.port})`);
}

/** A running client connection. Call {@link MachineConnection.run}; stop with {@link stop}. */
export class MachineConnection {
  readonly listeners: LocalListener[] = [];
  #live: LiveTunnel | null = null;
  #waiters: ((t: LiveTunnel | null) => void)[] = [];
  #stop = new AbortController();
  #sock: SignalSocket | null = null;
  #everEstablished = false;
  /** Names the agent advertises, once the hub listed its machine. */
  #names: ReadonlyMap<number, string> | null = null;
  /** Services blocks handed to `onBound`. */
  #blocks: ReportedBlock[] = [];
  /** Sessions established so far. */
  sessions = 0;
  /** The send path of the current session as its bind last reported it; undefined: none yet. */
  transport: TransportKind | undefined;
  /** The mappings: the explicit ones, then those of the service names once resolved. */
  #mappings: PortMapping[];
  /** Service names not resolved yet. */
  #unresolved: { name: string; local?: number }[];

  constructor(readonly opts: ConnectionOptions) {
    this.#mappings = [...(opts.mappings ?? [])];
    this.#unresolved = [...(opts.serviceNames ?? [])];
  }

  /**
   * Binds the explicit mappings now (before the first hub connection, spec §10.2); with
   * service names to resolve, they are bound with those instead, once the hub named them.
   */
  bindExplicit(): void {
    if (this.#mappings.length === 0 || this.#unresolved.length > 0) return;
    this.#bind(this.#mappings);
  }

  /**
   * Resolves the service names through the hub's `/api/status`, then binds every mapping.
   * @returns `grow` when the machine is not listed yet (retried), null when resolved.
   * @throws {HubDialError} hub unreachable: the reconnect loop reports it and retries.
   * @throws {FatalConnectError} 401 (wrong or missing token) or a name the agent does not
   *   advertise: retrying cannot help.
   */
  async #resolveServiceNames(): Promise<AttemptResult | null> {
    const { hubUrl, token, machine, log } = this.opts;
    const names = this.#unresolved;
    let ports: number[];
    try {
      const status = await fetchHubStatus(hubUrl, token);
      ports = resolveServiceNames(status, machine, names.map((n) => n.name));
    } catch (err) {
      // The spec's words (§10.1): fetch errors get the prefix, a missing name says itself.
      const message = err instanceof UnknownServiceError
        ? err.message
        : `cannot resolve service names: ${(err as Error).message}`;
      if (err instanceof HubUnauthorizedError || err instanceof UnknownServiceError) {
        throw new FatalConnectError(message);
      }
      if (err instanceof MachineNotListedError) {
        log.warn(`machine "${machine}" is not registered on this hub yet (will retry)`);
        return "grow";
      }
      if (err instanceof HubDialError) throw err;
      log.warn(message);
      return "grow";
    }
    this.#unresolved = [];
    ports.forEach((p, i) => this.#mappings.push({ local: names[i].local ?? p, remote: p }));
    this.#bind(this.#mappings);
    return null;
  }

  #bind(maps: PortMapping[]): void {
    const bound: BoundService[] = [];
    const wanted: number[] = [];
    const address = this.opts.address || "127.0.0.1";
    for (const m of maps) {
      let got;
      try {
        got = listenWithFallback(m.local, address);
      } catch (err) {
        this.opts.log.warn(`  SKIP port ${m.local} (${(err as Error).message})`);
        continue;
      }
      const l = { listener: got.listener, localPort: got.port, remotePort: m.remote };
      this.listeners.push(l);
      bound.push({
        localPort: got.port,
        remotePort: m.remote,
        ...(address !== "127.0.0.1" ? { address } : {}),
        ...(got.refused ? { refused: got.refused } : {}),
      });
      wanted.push(m.local);
      this.#acceptLoop(l);
    }
    if (bound.length) this.#report(bound, wanted);
  }

  /** Names the services as the agent advertises them, then hands the block to `onBound`. */
  #report(bound: BoundService[], wanted: number[]): void {
    const onBound = this.opts.onBound;
    if (!onBound) return;
    const block: ReportedBlock = { bound, wanted, named: false, printed: Promise.resolve() };
    block.printed = (async () => {
      const names = await this.#serviceNames();
      block.named = this.#names !== null;
      onBound(withNames(bound, names), wanted);
    })();
    this.#blocks.push(block);
  }

  /**
   * Once a session is up the agent is registered for sure: a block printed before that with
   * the well-known labels only (the client started first) is printed again with the names.
   * Blocks still being printed are waited for first, so none is printed twice.
   */
  async #renameBlocks(): Promise<void> {
    if (!this.opts.onBound) return;
    await Promise.all(this.#blocks.map((b) => b.printed));
    const unnamed = this.#blocks.filter((b) => !b.named);
    if (unnamed.length === 0) return;
    const names = await this.#serviceNames();
    if (this.#names === null) return;
    for (const b of unnamed) {
      if (b.named) continue;
      b.named = true;
      if (b.bound.some((s) => names.has(s.remotePort))) {
        this.opts.onBound(withNames(b.bound, names), b.wanted);
      }
    }
  }

  /**
   * Port → name of the services the agent advertises (`telad -ports 5432:postgres`), read
   * from the hub's `/api/status`; empty when the hub cannot say (the well-known labels are
   * used then). A successful answer is kept for the listeners bound later.
   */
  async #serviceNames(): Promise<ReadonlyMap<number, string>> {
    if (this.#names) return this.#names;
    const { hubUrl, token, machine, log } = this.opts;
    try {
      const status = await fetchHubStatus(hubUrl, token, { timeoutMs: SERVICE_NAMES_TIMEOUT_MS });
      const names = new Map<number, string>();
      const m = status.machines.find((x) => x.id === machine);
      for (const s of m?.services ?? []) {
        const name = advertisedName(s);
        if (name) names.set(s.port, name);
      }
      if (m) this.#names = names;
      return names;
    } catch (err) {
      log.debug(`service names not available, using well-known labels: ${(err as Error).message}`);
      return new Map();
    }
  }

  async #acceptLoop(l: LocalListener): Promise<void> {
    try {
      for await (const conn of l.listener) this.#forward(conn, l.remotePort);
    } catch {
      // listener closed
    }
  }

  #waitTunnel(): Promise<LiveTunnel | null> {
    if (this.#live) return Promise.resolve(this.#live);
    if (this.#stop.signal.aborted) return Promise.resolve(null);
    return new Promise((r) => this.#waiters.push(r));
  }

  async #forward(conn: Deno.TcpConn, remote: number): Promise<void> {
    try {
      conn.setNoDelay(true);
    } catch { /* closed already */ }
    // A connection accepted while no tunnel is up waits for the next one (spec §11.1).
    const live = await this.#waitTunnel();
    if (!live) {
      conn.close();
      return;
    }
    let tc;
    try {
      tc = await live.tunnel.stack.dial(live.peer, remote);
    } catch (err) {
      this.opts.log.warn(
        `tunnel dial failed (${this.opts.machine}:${remote}): ${(err as Error).message}`,
      );
      try {
        conn.close();
      } catch { /* ignore */ }
      return;
    }
    this.opts.log.debug(`tunnel connected to ${this.opts.machine}:${remote}`);
    await pipeBoth(socketDuplex(conn), tc);
  }

  /**
   * Runs sessions until {@link stop} is called, reconnecting with the spec's backoff (§10.2:
   * it starts over after an attempt that ended cleanly, grows after a failure).
   * @throws {FatalConnectError} when the hub refuses for good (`Invalid token`, or a first
   *   `Access denied` with `fatalFirstDenial`).
   * @throws {AccessEndedError} when the hub ends access after a session was established (the
   *   session cut, or a reconnect refused, with `Access denied...`), or refuses a first
   *   attempt because the token itself was revoked, rotated, expired or removed.
   */
  async run(): Promise<void> {
    const { hubUrl, log, random } = this.opts;
    await reconnectLoop(() => this.#attempt(), {
      hubUrl,
      log,
      random,
      signal: this.#stop.signal,
      label: () =>
        this.#unresolved.length ? "retrying service resolution" : `reconnecting to hub ${hubUrl}`,
    });
  }

  async #attempt(): Promise<AttemptResult> {
    const { log, hubUrl } = this.opts;
    if (this.#unresolved.length > 0) {
      const waiting = await this.#resolveServiceNames();
      if (waiting) return waiting;
      if (this.#stop.signal.aborted) return "reset";
    }
    log.info(`connecting to hub: ${hubUrl}`);
    // A dial failure (HubDialError) is the loop's to report and retry.
    const sock = await SignalSocket.dial(hubUrl);
    if (this.#stop.signal.aborted) {
      sock.close();
      return "reset";
    }
    this.#sock = sock;
    try {
      return await this.#session(sock);
    } finally {
      this.#sock = null;
      sock.close();
    }
  }

  async #session(sock: SignalSocket): Promise<AttemptResult> {
    const { log, machine } = this.opts;
    const keys = generateSessionKeys();
    const ports = this.#mappings.map((m) => m.remote);
    sock.sendJson({
      type: "connect",
      machineId: machine,
      wgPubKey: keys.publicHex,
      ...(this.opts.token ? { token: this.opts.token } : {}),
      ...(ports.length ? { ports } : {}),
    }, true);
    log.info(`connected, requesting session for: ${machine}`);
    let sessionIdx: number | undefined;
    let agentKey: string | undefined;
    let agentPorts: number[] = [];
    // Transport messages that arrive before the tunnel is up (`udp-offer` follows `ready`):
    // only the first offer (the bind takes one) and the last peer-endpoint are kept, so a
    // flood cannot grow memory; the offer is logged once per session.
    let earlyOffer: AnySignal | null = null;
    let earlyEndpoint: AnySignal | null = null;
    let offerLogged = false;
    const setupMs = this.opts.sessionSetupTimeoutMs ?? SESSION_SETUP_TIMEOUT_MS;
    const setupEnd = performance.now() + setupMs;
    while (sessionIdx === undefined || agentKey === undefined) {
      let msg: AnySignal;
      const left = setupEnd - performance.now();
      if (left <= 0) {
        log.warn(
          `no ${sessionIdx === undefined ? "ready" : "wg-pubkey"} from the hub within ` +
            `${setupMs / 1000} s of the session request; reconnecting`,
        );
        return "reset";
      }
      try {
        msg = await sock.next(left);
      } catch (err) {
        if (performance.now() >= setupEnd) continue; // the timeout: reported above
        const e = err as { reason?: string; message: string };
        // A close whose reason is a denial (no `error` message first) is that denial.
        if (readDenial(e.reason) || /invalid token/i.test(e.reason ?? "")) {
          return this.#hubError(e.reason!);
        }
        log.warn(
          `hub closed the connection before the session was ready: ${e.reason || e.message}`,
        );
        return "reset";
      }
      if (msg.type === "ready") {
        sessionIdx = msg.sessionIdx;
        log.info(`tunnel ready signal received (session ${sessionIdx})`);
      } else if (msg.type === "wg-pubkey") {
        agentKey = msg.wgPubKey;
        agentPorts = msg.ports ?? [];
        if (agentPorts.length) log.info(`daemon ports: [${agentPorts.join(" ")}]`);
      } else if (msg.type === "error") {
        return this.#hubError(msg.message);
      } else if (msg.type === "udp-offer") {
        if (earlyOffer === null) {
          earlyOffer = msg;
          logUdpOffer(log, msg);
          offerLogged = true;
        }
      } else if (msg.type === "peer-endpoint") {
        earlyEndpoint = msg;
      }
    }
    let peerKey: Uint8Array;
    try {
      peerKey = parsePublicKeyHex(agentKey);
    } catch (err) {
      log.warn((err as Error).message);
      return "reset";
    }
    const addr = tunnelAddresses(sessionIdx);
    const tunnel = new SessionTunnel({
      sock,
      bind: this.opts.bind,
      bindContext: {
        role: "client",
        hubUrl: this.opts.hubUrl,
        log,
        ...this.opts.transport,
        onTransport: (t) => {
          this.transport = t;
          this.opts.onTransport?.(t);
        },
      },
      engine: this.opts.engine,
      privateKey: keys.privateKey,
      peerPublicKey: peerKey,
      localAddress: addr.client,
      peerAddress: addr.agent,
      mtu: this.opts.mtu ?? DEFAULT_MTU,
      onTimeout: () => {
        log.warn("session keepalive unanswered for 45 s, closing the session");
        sock.close(1001, "keepalive timeout");
      },
    });
    log.info(`WireGuard tunnel up -- client=${addr.client} daemon=${addr.agent}`);
    log.debug(`tunnel MTU ${this.opts.mtu ?? DEFAULT_MTU}`);
    this.sessions++;
    this.#everEstablished = true;
    if (this.#mappings.length === 0 && agentPorts.length) {
      const unbound = agentPorts.filter((p) => !this.listeners.some((l) => l.remotePort === p));
      this.#bind(unbound.map((p) => ({ local: p, remote: p })));
    }
    const live = { tunnel, peer: addr.agent };
    this.#live = live;
    for (const w of this.#waiters.splice(0)) w(live);
    this.opts.onSession?.({ sessionIdx, agentPorts });
    this.#renameBlocks();
    // During the session the hub may still say why it ends it (an `error` before its close,
    // e.g. when the token is revoked); transport messages go to the bind.
    let hubError = "";
    if (earlyOffer) tunnel.bind.signal?.(earlyOffer);
    if (earlyEndpoint) tunnel.bind.signal?.(earlyEndpoint);
    sock.onText((msg) => {
      if (msg.type === "udp-offer" && !offerLogged) {
        offerLogged = true;
        logUdpOffer(log, msg);
      }
      if (tunnel.bind.signal?.(msg)) return;
      if (msg.type === "error") hubError = msg.message;
    });
    let onAbort!: () => void;
    const stopped = new Promise<null>((r) => {
      onAbort = () => r(null);
      this.#stop.signal.addEventListener("abort", onAbort, { once: true });
    });
    const closed = await Promise.race([sock.closed, stopped]);
    this.#stop.signal.removeEventListener("abort", onAbort); // one listener per session, not more
    this.#live = null;
    this.transport = undefined;
    tunnel.close();
    if (!closed) return "reset";
    const why = hubError || closed.reason;
    log.info(`session ended -- cleaning up${why ? ` (${why})` : ""}`);
    const denial = readDenial(why);
    if (denial) throw this.#accessEnded(denial.reason, denial.scope, "ended");
    if (/invalid token/i.test(why)) {
      throw new FatalConnectError(`hub rejected the token for "${machine}": ${why}`);
    }
    if (/agent disconnected/i.test(why)) {
      log.warn(`the agent of "${machine}" went away; waiting for it to come back`);
    } else if (/agent session ended/i.test(why)) {
      log.warn(`the agent of "${machine}" closed the session; reconnecting`);
    }
    return "reset";
  }

  #hubError(message: string): AttemptResult {
    const { log, machine } = this.opts;
    if (/invalid token/i.test(message)) {
      throw new FatalConnectError(`hub rejected the token for "${machine}": ${message}`);
    }
    const denial = readDenial(message);
    if (denial) {
      if (this.#everEstablished) throw this.#accessEnded(denial.reason, denial.scope, "ended");
      if (this.opts.fatalFirstDenial) {
        throw new FatalConnectError(
          `hub refused access to "${machine}": ${
            escapeForLog(message)
          } (check -token, TELA_TOKEN or 'tela login')`,
        );
      }
      // The token itself is dead: no retry can succeed.
      if (denial.scope === "token") throw this.#accessEnded(denial.reason, "token", "refused");
      log.warn(
        `hub refused access to "${machine}": ${
          escapeForLog(message)
        } (not granted yet? will retry)`,
      );
      return "grow";
    }
    if (/not found/i.test(message)) {
      log.warn(`machine "${machine}" is not registered on this hub (will retry)`);
      return "grow";
    }
    log.warn(`hub error: ${message}`);
    return "grow";
  }

  /** The error that ends this connection after a denial, with its one line for the user. */
  #accessEnded(reason: string, scope: DenialScope, how: "ended" | "refused"): AccessEndedError {
    const { machine, hubUrl, token } = this.opts;
    return new AccessEndedError(
      `access to "${machine}" ${how} by the hub: ${reason}; ${ACCESS_ENDED_ADVICE}`,
      hubUrl,
      token,
      scope,
    );
  }

  /** Whether a session's tunnel is up now. */
  get tunnelUp(): boolean {
    return this.#live !== null;
  }

  /**
   * Dials `port` on the agent inside the live tunnel (the control API's file-share proxy,
   * spec agent-and-client.md §3.1).
   * @param timeoutMs give up after this long, in milliseconds.
   * @throws {Error} `no active tunnel for machine "<m>" (is tela connect running?)` when no
   *   session is up, `timed out after <n> s`, or the stack's refusal (reset: nothing listens).
   */
  async dial(port: number, timeoutMs: number): Promise<TunnelConn> {
    const live = this.#live;
    if (!live) {
      throw new Error(
        `no active tunnel for machine "${this.opts.machine}" (is tela connect running?)`,
      );
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const dial = live.tunnel.stack.dial(live.peer, port);
    try {
      return await Promise.race([
        dial,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`timed out after ${timeoutMs / 1000} s`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      dial.then((c) => c.abort(), () => {});
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops: ends the session, closes the listeners, wakes waiting local connections. */
  stop(): void {
    this.#stop.abort();
    this.#sock?.close();
    for (const l of this.listeners) {
      try {
        l.listener.close();
      } catch { /* closed */ }
    }
    for (const w of this.#waiters.splice(0)) w(null);
  }
}
