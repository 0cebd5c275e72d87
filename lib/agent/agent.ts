/**
 * The agent's per-machine registration loop and per-session workers (spec
 * session-and-relay.md §2.1, §3.1, §3.3, §9.2, §10.1; agent-and-client.md §7).
 * @module
 */
import { escapeForLog, type Logger, tokenPreview } from "../log/mod.ts";
import {
  type AnySignal,
  type BindFactory,
  DEFAULT_MTU,
  generateSessionKeys,
  type HubDenial,
  HubDialError,
  parsePublicKeyHex,
  pipeBoth,
  readDenial,
  reconnectLoop,
  type ServiceSpec,
  SessionTunnel,
  SignalSocket,
  socketDuplex,
  type TransportSettings,
  tunnelAddresses,
  type TunnelConn,
  type TunnelEngine,
} from "../session/mod.ts";
import { TELA_VERSION } from "../host/mod.ts";
import { PathGateway } from "../gateway/mod.ts";
import type { MachineConfig } from "./config.ts";
import { capabilities } from "../fileshare/config.ts";
import { FILE_SHARE_PORT } from "../fileshare/protocol.ts";
import { ShareServer } from "../fileshare/server.ts";

/** Target dial timeout, in milliseconds (spec §12). */
export const TARGET_DIAL_TIMEOUT_MS = 10_000;

/**
 * The hub refused this machine's very first registration (`Access denied` / `Invalid token`
 * before it was ever registered: a misconfigured token); the machine stops.
 */
export class AgentAuthError extends Error {
  override name = "AgentAuthError";
}

/** A service target did not accept the forwarded connection in time. */
export class TargetDialError extends Error {
  override name = "TargetDialError";
}

/** Settings shared by every machine of one telad. */
export interface AgentOptions {
  hubUrl: string;
  agentId: string;
  /** machine name → registration id from `telad.state`. */
  registrationIds: Record<string, string>;
  /** Makes each session's Bind (the transport, e.g. lib/transport's `sessionBind()`). */
  bind: BindFactory;
  /**
   * STUN servers and the highest tier (`-stun`, `-transport`, `TELAD_STUN_SERVERS`,
   * `TELAD_TRANSPORT`, telad.yaml `stun:`, `transport:`) for every session's bind; absent:
   * the defaults.
   */
  transport?: TransportSettings;
  engine: TunnelEngine;
  mtu?: number;
  log: (machine: string) => Logger;
  random?: () => number;
  /** Where the file-share server logs (`[fileshare] ...` lines); default the machine's log. */
  shareLog?: Logger;
  /** Waits between reconnect attempts (tests record the backoff); default a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * Answers the hub's `mgmt-request`s (spec §2.14–2.15, agent-and-client.md §8.7; telad's
   * {@link AgentManagement}); absent: every action is answered `unknown action`.
   */
  management?: {
    handle(
      req: { requestId: string; action: string; payload?: unknown },
      machine: string,
    ): Promise<Record<string, unknown>>;
  };
}

/**
 * What the operator can do once the hub ended one permission of this machine (or did not say
 * why), for the log line: the token still works, so a new grant brings the machine back.
 */
export const AGENT_DENIAL_ADVICE = "telad keeps retrying with backoff, so a new grant brings " +
  "it back; ask the hub administrator (tela admin access grant <id> <machine> register) or " +
  "give telad another token (-token, TELA_TOKEN, telad.yaml or 'telad login')";

/**
 * How to give telad a new token, for a denial that killed the token itself (its identity
 * removed, the token rotated, revoked or expired: no grant brings it back), e.g.
 * `give telad a new one (sudo telad login -hub wss://h, -token, TELA_TOKEN or telad.yaml, or
 * telad pair -hub wss://h -code <register code>) and restart it`.
 * @param hubUrl the hub telad registers with.
 */
export function newTokenAdvice(hubUrl: string): string {
  return `give telad a new one (sudo telad login -hub ${hubUrl}, -token, TELA_TOKEN or ` +
    `telad.yaml, or telad pair -hub ${hubUrl} -code <register code>) and restart it`;
}

/** The service descriptor registered for the path gateway (spec agent-and-client.md §5.2). */
export function gatewayService(port: number): ServiceSpec {
  return { port, proto: "http", name: "gateway", description: "Path-based reverse proxy" };
}

/**
 * What a machine advertises to the hub and serves in the tunnel: its configured ports and
 * services, then, with a gateway, the gateway's port and its `gateway` descriptor appended
 * (spec §5.2: after the configured ones, even when the gateway has no routes).
 */
export function advertisedServices(
  m: MachineConfig,
): { ports: number[]; services: ServiceSpec[] } {
  const g = m.gateway;
  if (!g?.port) return { ports: m.ports, services: m.services };
  return { ports: [...m.ports, g.port], services: [...m.services, gatewayService(g.port)] };
}

function goOs(): string {
  return Deno.build.os === "darwin" ? "darwin" : Deno.build.os;
}

/** One machine's registration loop: control WebSocket, sessions, reconnect. */
export class MachineAgent {
  #stop = new AbortController();
  #control: SignalSocket | null = null;
  #sessions = new Set<AgentSession>();
  readonly log: Logger;
  /** Times the hub answered `registered`. */
  registrations = 0;
  #shares: Promise<ShareServer> | null = null;

  /**
   * The machine's file-share server (spec §2), made once (share roots resolved then); null
   * when the machine has no shares.
   */
  shareServer(): Promise<ShareServer> | null {
    const shares = this.machine.shares ?? [];
    if (shares.length === 0) return null;
    this.#shares ??= ShareServer.create(shares, this.opts.shareLog ?? this.log);
    return this.#shares;
  }

  #machine: MachineConfig;

  constructor(machine: MachineConfig, readonly opts: AgentOptions) {
    this.#machine = machine;
    this.log = opts.log(machine.name);
  }

  /** The machine's configuration (changed by a remote `config-set`, see {@link reconfigure}). */
  get machine(): MachineConfig {
    return this.#machine;
  }

  /**
   * Runs on with `m` (same machine name): new sessions use it, and a fresh `register` with
   * its metadata goes out on the open control WebSocket so the hub shows it at once (spec
   * §8.3 `config-set`). Shares made before keep serving until a restart.
   */
  reconfigure(m: MachineConfig): void {
    this.#machine = m;
    const sock = this.#control;
    if (!sock) return;
    try {
      sock.sendJson(this.registerMessage(), true);
      this.log.info(`configuration changed; registering again with the new metadata`);
    } catch (err) {
      this.log.warn(`could not send the new registration: ${(err as Error).message}`);
    }
  }

  /** The `register` message (spec §2.1). */
  registerMessage(): Record<string, unknown> {
    const m = this.machine;
    let hostname = m.hostname;
    if (!hostname) {
      try {
        hostname = Deno.hostname();
      } catch {
        hostname = undefined;
      }
    }
    const msg: Record<string, unknown> = {
      type: "register",
      machineName: m.name,
      agentId: this.opts.agentId,
    };
    const regId = this.opts.registrationIds[m.name];
    if (regId) msg.machineRegistrationId = regId;
    if (m.displayName) msg.displayName = m.displayName;
    if (hostname) msg.hostname = hostname;
    msg.os = m.os || goOs();
    msg.agentVersion = TELA_VERSION;
    if (m.tags?.length) msg.tags = m.tags;
    if (m.location) msg.location = m.location;
    if (m.owner) msg.owner = m.owner;
    const advertised = advertisedServices(m);
    msg.ports = advertised.ports;
    msg.services = advertised.services;
    if (m.token) msg.token = m.token;
    msg.capabilities = capabilities(m.shares ?? []);
    return msg;
  }

  /**
   * Registers and serves sessions until {@link stop}, reconnecting with the spec's backoff
   * (§10.1: it starts over after a connection that got `registered`, grows otherwise).
   * A denial after the machine had been registered (its access revoked: the control
   * connection cut, or a re-registration refused) is logged with the hub's reason and
   * retried on the backoff (issue 10, decision 2): a new grant brings the machine back after
   * a permission was revoked; after its token died (identity removed, token rotated, revoked
   * or expired) the log line says how to give telad a new token instead.
   * @throws {AgentAuthError} when the hub answers `Access denied` or `Invalid token` to the
   *   first registration attempt ever (a misconfigured token: the loop stops for this
   *   machine, spec §10.1).
   */
  async run(): Promise<void> {
    const { hubUrl, random, sleep } = this.opts;
    await reconnectLoop(async () => {
      try {
        return (await this.#connectOnce()) ? "reset" : "grow";
      } catch (err) {
        // Refusals for good stop the loop; an unreachable hub is the loop's to report.
        if (err instanceof AgentAuthError || err instanceof HubDialError) throw err;
        this.log.warn((err as Error).message);
        return "grow";
      }
    }, { hubUrl, log: this.log, random, sleep, signal: this.#stop.signal });
  }

  async #connectOnce(): Promise<boolean> {
    const { hubUrl } = this.opts;
    this.log.info(`connecting to hub ${hubUrl} (token ${tokenPreview(this.machine.token)})`);
    const sock = await SignalSocket.dial(hubUrl);
    this.#control = sock;
    let registered = false;
    try {
      if (this.#stop.signal.aborted) return false;
      sock.sendJson(this.registerMessage(), true);
      while (true) {
        let msg: AnySignal;
        try {
          msg = await sock.next();
        } catch (err) {
          const e = err as { reason?: string; message: string };
          // A close whose reason is a denial (no `error` message first) is that denial.
          if (e.reason && (readDenial(e.reason) || /invalid token/i.test(e.reason))) {
            this.#denied(e.reason, registered);
            return false;
          }
          if (e.reason && /replaced by a newer registration/i.test(e.reason)) {
            // Spec §3.1.1: another telad registered this machine name; the hub closed us.
            // The backoff grows, so two telads sharing a name do not trade places at once.
            this.log.warn(
              `hub closed this connection: another telad registered machine "${this.machine.name}" ` +
                `(replaced by a newer registration); reconnecting with backoff. ` +
                `Give each telad its own machine name.`,
            );
            return false;
          }
          this.log.warn(`hub connection lost${e.reason ? `: ${escapeForLog(e.reason)}` : ""}`);
          return registered;
        }
        switch (msg.type) {
          case "registered":
            registered = true;
            this.registrations++;
            this.log.info(
              `registered with hub as "${this.machine.name}", ports [${
                advertisedServices(this.machine).ports.join(" ")
              }] forwarded to ${this.machine.target}`,
            );
            break;
          case "session-request": {
            const s = new AgentSession(
              this,
              msg.sessionId,
              msg.sessionIdx,
              msg.wgPubKey,
              msg.ports,
            );
            this.#sessions.add(s);
            s.run().finally(() => this.#sessions.delete(s));
            break;
          }
          case "mgmt-request":
            this.#manage(sock, msg);
            break;
          case "error":
            if (readDenial(msg.message) || /invalid token/i.test(msg.message)) {
              this.#denied(msg.message, registered);
              // The hub closes next; the backoff grows, as after any failed registration.
              return false;
            }
            this.log.warn(`hub error: ${escapeForLog(msg.message)}`);
            break;
        }
      }
    } finally {
      this.#control = null;
      sock.close();
      // All sessions of a machine end when its control WebSocket drops (spec §3.1.3).
      for (const s of [...this.#sessions]) s.stop();
    }
  }

  /**
   * Answers one `mgmt-request` without holding up the control loop (spec §2.15): the
   * registry's answer, or `unknown action` when this process has no management. The answer
   * is dropped when the control WebSocket closed meanwhile (the hub already answered 503).
   */
  async #manage(
    sock: SignalSocket,
    msg: { requestId: string; action: string; payload?: unknown },
  ): Promise<void> {
    const req = { requestId: msg.requestId, action: msg.action, payload: msg.payload };
    const res = this.opts.management ? await this.opts.management.handle(req, this.machine.name) : {
      type: "mgmt-response",
      requestId: msg.requestId,
      ok: false,
      message: `unknown action: ${msg.action}`,
    };
    try {
      sock.sendJson(res);
    } catch (err) {
      this.log.debug(`mgmt-response not sent: ${(err as Error).message}`);
    }
  }

  /**
   * Handles a denial from the hub (an `error` or a close reason): before the first
   * registration ever, the machine stops with what to fix (an unknown token or no register
   * permission, a dead token); afterwards access was revoked and the reconnect loop keeps
   * trying, and the log line says whether a new grant or a new token brings it back.
   * @param message the hub's text, e.g. `Access denied: token of identity "x" was revoked`.
   * @param registered whether this control connection had been registered (a cut, not a
   *   refused re-registration).
   * @throws {AgentAuthError} when the machine was never registered.
   */
  #denied(message: string, registered: boolean): void {
    const name = this.machine.name;
    const denial = readDenial(message);
    if (this.registrations === 0) {
      const text = escapeForLog(message);
      this.log.error(`hub refused to register "${name}", stopping reconnect: ${text}`);
      throw new AgentAuthError(
        `hub refused to register "${name}": ${firstRefusal(denial, text, name, this.opts.hubUrl)}`,
      );
    }
    const reason = denial?.reason ?? escapeForLog(message);
    if (denial?.scope === "token") {
      // The token is dead: backing off (decision 2) cannot bring it back, a new token can.
      this.log.error(
        `${
          registered ? `hub ended the registration of "${name}"` : `hub still refuses "${name}"`
        }: ${reason}; this token no longer works: ${newTokenAdvice(this.opts.hubUrl)} ` +
          `(telad keeps retrying with backoff meanwhile)`,
      );
      return;
    }
    this.log.error(
      registered
        ? `hub ended the registration of "${name}": ${reason}; ${AGENT_DENIAL_ADVICE}`
        : `hub still refuses "${name}": ${reason} (retrying with backoff)`,
    );
  }

  /** Stops the loop, the control WebSocket and every session. */
  stop(): void {
    this.#stop.abort();
    this.#control?.close();
    for (const s of [...this.#sessions]) s.stop();
  }

  /**
   * Closes the machine's file-share connections (after {@link stop}).
   * @returns resolves when their handlers ended and interrupted uploads' temporary files are
   *   removed; at once when the machine has no shares.
   */
  async closeShares(): Promise<void> {
    if (!this.#shares) return;
    try {
      await (await this.#shares).close();
    } catch { /* never made: nothing to close */ }
  }

  /** Sessions running now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }
}

/**
 * What follows `hub refused to register "<machine>": ` when the hub refuses a machine's very
 * first registration: the hub's text and what to do about it. A plain `Access denied` is an
 * unknown token or a missing register permission (the hub does not say which); a dead token
 * needs a new one; `Invalid token` a corrected one.
 * @param denial the message read as a denial (null for `Invalid token`).
 * @param text the hub's message, escaped for a log line.
 */
function firstRefusal(
  denial: HubDenial | null,
  text: string,
  machine: string,
  hubUrl: string,
): string {
  const grant = `tela admin access grant <id> ${machine} register`;
  if (denial?.scope === "unknown") {
    return `${text} (the token is unknown, or its identity has no register permission on ` +
      `"${machine}": ${grant})`;
  }
  if (denial?.scope === "token") {
    return `${denial.reason}; this token no longer works: ${newTokenAdvice(hubUrl)}`;
  }
  if (denial) return `${denial.reason} (${grant})`;
  return `${text} (check -token, TELA_TOKEN, the token in telad.yaml or 'telad login')`;
}

/**
 * Dials `host:port` with a timeout; TCP_NODELAY on.
 * @param timeoutMs give up after this long, in milliseconds (spec §12: 10 s).
 * @throws {TargetDialError} `timed out after <n> s`; the runtime's errors when refused.
 */
export async function dialTarget(
  hostname: string,
  port: number,
  timeoutMs = TARGET_DIAL_TIMEOUT_MS,
): Promise<Deno.TcpConn> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const dial = Deno.connect({ hostname, port, transport: "tcp" });
  try {
    const conn = await Promise.race([
      dial,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TargetDialError(`timed out after ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ]);
    conn.setNoDelay(true);
    return conn;
  } catch (err) {
    dial.then((c) => c.close(), () => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** One session worker: its own WebSocket, keys, tunnel and in-tunnel listeners (spec §3.3). */
export class AgentSession {
  #sock: SignalSocket | null = null;
  #tunnel: SessionTunnel | null = null;
  #gateway: PathGateway | null = null;
  #stopped = false;
  #shareListener: { close(): void } | null = null;

  constructor(
    readonly agent: MachineAgent,
    readonly sessionId: string,
    readonly sessionIdx: number,
    readonly clientKeyHex: string,
    /**
     * The ports the hub allows this session (`session-request.ports`, issue 10 decision 3);
     * undefined: every port of the machine.
     */
    readonly allowedPorts?: number[],
  ) {}

  /**
   * The machine's ports this session forwards: all of them, or those the hub's
   * `session-request` allowed. Connections to the others are refused in the tunnel like a
   * port the machine does not expose (no listener: the netstack answers with a reset).
   */
  get ports(): number[] {
    const all = advertisedServices(this.agent.machine).ports;
    const allowed = this.allowedPorts;
    return allowed ? all.filter((p) => allowed.includes(p)) : all;
  }

  async run(): Promise<void> {
    const { log, machine, opts } = this.agent;
    const sid = this.sessionId.slice(0, 8);
    if (this.sessionIdx > 254) {
      log.warn(`[session ${sid}] session index ${this.sessionIdx} over 254, refusing`);
    }
    let sock: SignalSocket;
    try {
      sock = await SignalSocket.dial(opts.hubUrl);
    } catch (err) {
      log.warn(`[session ${sid}] ${(err as Error).message}`);
      return;
    }
    this.#sock = sock;
    if (this.#stopped) return sock.close();
    try {
      if (this.sessionIdx > 254) {
        sock.close(1008, "session limit exceeded");
        return;
      }
      sock.sendJson(
        { type: "session-join", machineId: machine.name, sessionId: this.sessionId },
        true,
      );
      const first = await sock.next(30_000).catch(() => null);
      if (!first || first.type !== "session-start") {
        const why = first?.type === "error" ? first.message : first ? first.type : "no answer";
        log.warn(`[session ${sid}] hub did not start the session: ${why}`);
        return;
      }
      const clientKey = parsePublicKeyHex(this.clientKeyHex);
      const addr = tunnelAddresses(this.sessionIdx);
      const keys = generateSessionKeys();
      sock.sendJson({
        type: "wg-pubkey",
        wgPubKey: keys.publicHex,
        ports: this.ports,
        capabilities: capabilities(machine.shares ?? []),
      }, true);
      const tunnel = new SessionTunnel({
        sock,
        bind: opts.bind,
        bindContext: {
          role: "agent",
          hubUrl: opts.hubUrl,
          log: {
            info: (m) => log.info(`[session ${sid}] ${m}`),
            warn: (m) => log.warn(`[session ${sid}] ${m}`),
            debug: (m) => log.debug(`[session ${sid}] ${m}`),
          },
          ...opts.transport,
        },
        engine: opts.engine,
        privateKey: keys.privateKey,
        peerPublicKey: clientKey,
        localAddress: addr.agent,
        peerAddress: addr.client,
        mtu: opts.mtu ?? DEFAULT_MTU,
        // The client initiates the handshake (see SessionTunnel): no simultaneous initiation.
        persistentKeepaliveSeconds: 0,
        onTimeout: () => {
          log.warn(`[session ${sid}] keepalive unanswered for 45 s, closing`);
          sock.close(1001, "keepalive timeout");
        },
      });
      this.#tunnel = tunnel;
      const ended = new Promise<void>((resolve) => {
        sock.onText((msg) => {
          if (tunnel.bind.signal?.(msg)) return;
          if (msg.type === "session-end") resolve();
        });
        sock.closed.then(() => resolve());
      });
      log.info(`[session ${sid}] tunnel up (agent ${addr.agent}, client ${addr.client})`);
      log.debug(`[session ${sid}] tunnel MTU ${opts.mtu ?? DEFAULT_MTU}`);
      if (this.allowedPorts) {
        log.info(
          `[session ${sid}] hub limits this session to ports [${this.ports.join(" ")}]`,
        );
      }
      const gw = machine.gateway;
      for (const port of this.ports) {
        // Q-GW-1 (spec §5.4): the gateway port gets the gateway, never a plain forwarder.
        if (gw && port === gw.port) continue;
        log.debug(`[session ${sid}] forwarding ${addr.agent}:${port} → ${machine.target}:${port}`);
        this.#serve(tunnel, port, sid);
      }
      this.#serveShares(tunnel, addr.agent, sid);
      // Spec §5.3: after the forwarders, when it has a port (this session may use) and routes.
      if (gw && gw.port !== 0 && gw.routes.length > 0 && this.ports.includes(gw.port)) {
        this.#gateway = new PathGateway({
          config: gw,
          targetHost: machine.target,
          localAddress: addr.agent,
          clientAddress: addr.client,
          dial: async (host, port) => socketDuplex(await dialTarget(host, port)),
          log,
        });
        this.#gateway.start((port) => tunnel.stack.listen(port));
      }
      await ended;
      log.info(`[session ${sid}] session ended`);
    } catch (err) {
      log.warn(`[session ${sid}] ${(err as Error).message}`);
    } finally {
      this.stop();
    }
  }

  async #serve(tunnel: SessionTunnel, port: number, sid: string): Promise<void> {
    const { log, machine } = this.agent;
    let listener;
    try {
      listener = tunnel.stack.listen(port);
    } catch (err) {
      log.warn(`[session ${sid}] cannot listen on tunnel port ${port}: ${(err as Error).message}`);
      return;
    }
    while (!this.#stopped) {
      let conn: TunnelConn;
      try {
        conn = await listener.accept();
      } catch {
        break;
      }
      this.#forward(conn, machine.target, port);
    }
    try {
      listener.close();
    } catch { /* closed */ }
  }

  /** Serves the machine's shares on tunnel port 17377 for this session (spec §2.1). */
  async #serveShares(tunnel: SessionTunnel, address: string, sid: string): Promise<void> {
    const { log } = this.agent;
    const made = this.agent.shareServer();
    if (!made) return;
    let server: ShareServer;
    let listener;
    try {
      server = await made;
      if (this.#stopped) return;
      listener = tunnel.stack.listen(FILE_SHARE_PORT);
    } catch (err) {
      log.warn(
        `[fileshare] listen failed on ${address}:${FILE_SHARE_PORT}: ${(err as Error).message}`,
      );
      return;
    }
    this.#shareListener = listener;
    log.debug(`[session ${sid}] file shares on ${address}:${FILE_SHARE_PORT}`);
    await server.serve(listener, `${address}:${FILE_SHARE_PORT}`);
  }

  async #forward(conn: TunnelConn, host: string, port: number): Promise<void> {
    let target: Deno.TcpConn;
    try {
      target = await dialTarget(host, port);
    } catch (err) {
      this.agent.log.warn(`target dial failed (${host}:${port}): ${(err as Error).message}`);
      conn.abort();
      return;
    }
    await pipeBoth(conn, socketDuplex(target));
  }

  /** Ends the session: tunnel down, WebSocket closed. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      this.#shareListener?.close();
    } catch { /* closed */ }
    this.#gateway?.close();
    this.#tunnel?.close();
    this.#sock?.close();
  }
}
