/**
 * Upstreams (book, *Upstreams*; spec agent-and-client.md §6): TCP listeners on the agent
 * host that forward every accepted connection to a configured `host:port`, e.g. a service's
 * database moved elsewhere, or a `tela connect` listener on the same host (book, *Upstreams
 * through a Tela tunnel*). Started once when telad starts, before it connects to the hub,
 * independent of sessions and reconnects; closed when telad stops. Not advertised to the hub.
 * @module
 */
import { lookup } from "node:dns/promises";
import { escapeForLog, type Logger } from "../log/mod.ts";
import { pipeBoth, socketDuplex } from "../session/mod.ts";
import { dialTarget, TARGET_DIAL_TIMEOUT_MS, TargetDialError } from "./agent.ts";
import { splitHostPort, type UpstreamConfig } from "./config.ts";

/** Options of {@link startUpstreams}. */
export interface UpstreamOptions {
  /** Gives up dialing a target after this long, in milliseconds (spec §6: 10 s). */
  dialTimeoutMs?: number;
  /**
   * Host to listen on; default every interface, IPv4 and IPv6 (`[::]` dual-stack, plus
   * `0.0.0.0` when the host's `[::]` sockets are IPv6-only). Tests use `127.0.0.1`.
   */
  hostname?: string;
}

/** One upstream that is listening. */
export interface UpstreamListener {
  /** Its label: `name`, else `port <port>`. */
  name: string;
  /** The port it listens on (the configured one; with port 0, the one the system chose). */
  port: number;
  target: string;
}

/**
 * Resolves `host` with the host resolver (`getaddrinfo`: `/etc/hosts`, then DNS) and dials
 * each address in turn until one accepts, all within `timeoutMs` (spec §6: "all resolved
 * addresses tried"); TCP_NODELAY on.
 * @param host a name or an address (IPv6 without brackets).
 * @param port 1-65535.
 * @param timeoutMs for the whole dial, in milliseconds.
 * @throws {TargetDialError} `timed out after 10 s`, or the last address's error (e.g.
 *   `Connection refused (os error 111)`), or the resolver's (`getaddrinfo ENOTFOUND x`).
 */
export async function dialHostPort(
  host: string,
  port: number,
  timeoutMs: number = TARGET_DIAL_TIMEOUT_MS,
): Promise<Deno.TcpConn> {
  const deadline = performance.now() + timeoutMs;
  let addresses: string[];
  // The lookup counts against the deadline too (a resolver that hangs must not hold the
  // client's connection beyond it; the lookup itself is left to finish in the background).
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    addresses = await Promise.race([
      lookup(host, { all: true }).then((list) => list.map((a) => a.address)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new TargetDialError(`timed out after ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    if (err instanceof TargetDialError) throw err;
    throw new TargetDialError((err as Error).message);
  } finally {
    clearTimeout(timer);
  }
  let last: unknown = new TargetDialError(`no address for ${host}`);
  for (const address of addresses) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    try {
      return await dialTarget(address, port, left);
    } catch (err) {
      last = err;
    }
  }
  if (performance.now() >= deadline) {
    throw new TargetDialError(`timed out after ${timeoutMs / 1000} s`);
  }
  throw last;
}

/** Wait before a connection from this host is served, ms (loop detection, see `#serve`). */
const LOOP_WAIT_MS = 25;

let localAddresses: Set<string> | undefined;

/** Whether `a` is an address of this host (loopback, or one of its interfaces). */
function isLocalAddress(a: Deno.Addr): boolean {
  const host = addrKey(a).replace(/:\d+$/, "");
  if (/^127\./.test(host) || host === "::1") return true;
  if (!localAddresses) {
    localAddresses = new Set();
    try {
      for (const i of Deno.networkInterfaces()) localAddresses.add(i.address.toLowerCase());
    } catch { /* no --allow-sys: loopback only */ }
  }
  return localAddresses.has(host);
}

/** `address:port` of a socket end, IPv4-mapped IPv6 written as IPv4 (so both ends compare). */
function addrKey(a: Deno.Addr): string {
  const n = a as Deno.NetAddr;
  const host = n.hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(
    /^::ffff:(\d+\.\d+\.\d+\.\d+)$/,
    "$1",
  );
  return `${host}:${n.port}`;
}

/** The running upstreams of one telad: their listeners and their open connections. */
export class Upstreams {
  #listeners: Deno.TcpListener[] = [];
  #conns = new Set<Deno.Conn>();
  #closed = false;
  #loops: Promise<void>[] = [];
  #serving = new Set<Promise<void>>();
  /** `address:port` of the local end of every outbound socket (loop detection). */
  #outboundLocal = new Set<string>();
  /** Inbound connections by the `address:port` of their remote end (loop detection). */
  #inboundRemote = new Map<string, { conn: Deno.TcpConn; name: string; target: string }>();
  /** Inbound connections closed as loops (their own dial, if under way, is abandoned). */
  #looped = new WeakSet<Deno.TcpConn>();
  /** The upstreams that are listening. */
  readonly listening: UpstreamListener[] = [];

  constructor(readonly log: Logger, readonly options: UpstreamOptions = {}) {}

  /**
   * Listens for one upstream and serves it until {@link close}. A listen failure is logged
   * (`listen failed on 0.0.0.0:<port>: <e>`) and the upstream skipped.
   * @returns whether it listens.
   */
  add(u: UpstreamConfig): boolean {
    const name = u.name || `port ${u.port}`;
    let listeners: Deno.TcpListener[];
    try {
      listeners = this.#listen(u.port);
    } catch (err) {
      this.log.warn(`listen failed on 0.0.0.0:${u.port}: ${(err as Error).message}`);
      return false;
    }
    const port = (listeners[0].addr as Deno.NetAddr).port;
    this.#listeners.push(...listeners);
    this.listening.push({ name, port, target: u.target });
    this.log.info(`${name}: :${port} -> ${u.target}`);
    for (const l of listeners) this.#loops.push(this.#accept(l, name, u.target));
    return true;
  }

  /**
   * `[::]:<port>`, dual-stack where the host allows it; when `0.0.0.0:<port>` can still be
   * bound beside it (IPv6-only sockets, `net.ipv6.bindv6only=1`), that one too. A host
   * without IPv6 gets `0.0.0.0:<port>` alone.
   */
  #listen(port: number): Deno.TcpListener[] {
    if (this.options.hostname) {
      return [Deno.listen({ hostname: this.options.hostname, port, transport: "tcp" })];
    }
    let v6: Deno.TcpListener;
    try {
      v6 = Deno.listen({ hostname: "::", port, transport: "tcp" });
    } catch (err) {
      if (err instanceof Deno.errors.AddrInUse || err instanceof Deno.errors.PermissionDenied) {
        throw err;
      }
      return [Deno.listen({ hostname: "0.0.0.0", port, transport: "tcp" })];
    }
    const bound = (v6.addr as Deno.NetAddr).port;
    try {
      const v4 = Deno.listen({ hostname: "0.0.0.0", port: bound, transport: "tcp" });
      return [v6, v4];
    } catch {
      return [v6]; // in use by [::] itself: the dual-stack socket takes IPv4 too
    }
  }

  async #accept(listener: Deno.TcpListener, name: string, target: string): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch {
        if (this.#closed) return;
        continue; // e.g. too many open files: keep serving the others
      }
      const serving = this.#serve(conn, name, target);
      this.#serving.add(serving);
      serving.finally(() => this.#serving.delete(serving));
    }
  }

  /**
   * A loop: an inbound connection that is one of this telad's own outbound upstream sockets
   * (its remote end is the local end of one), i.e. a target that leads back to an upstream
   * listener (`127.1:P`, this host's LAN address, a name that resolves here ...). Checked both
   * when the inbound connection is accepted and when an outbound one is established, since
   * either may be seen first.
   */
  #loop(conn: Deno.TcpConn, name: string, target: string): void {
    this.#looped.add(conn);
    this.log.warn(
      `${escapeForLog(name)}: loop: ${escapeForLog(target)} leads back to this upstream; closing`,
    );
    try {
      conn.close();
    } catch { /* closed */ }
  }

  async #serve(inbound: Deno.TcpConn, name: string, target: string): Promise<void> {
    this.#conns.add(inbound);
    let outbound: Deno.TcpConn | undefined;
    const remoteKey = addrKey(inbound.remoteAddr);
    let outKey: string | undefined;
    try {
      // A connection from this host may be one of our own outbound sockets whose connect
      // has not been reported yet: give it a moment before deciding, so a loop is cut
      // before this connection dials (else every hop would dial one more).
      if (isLocalAddress(inbound.remoteAddr)) await new Promise((r) => setTimeout(r, LOOP_WAIT_MS));
      if (this.#outboundLocal.has(remoteKey)) return this.#loop(inbound, name, target);
      this.#inboundRemote.set(remoteKey, { conn: inbound, name, target });
      inbound.setNoDelay(true);
      const hp = splitHostPort(target);
      if (!hp) throw new TargetDialError(`"${target}" is not host:port`);
      try {
        outbound = await dialHostPort(hp.host, hp.port, this.options.dialTimeoutMs);
      } catch (err) {
        this.log.warn(`${name}: dial ${target} failed: ${(err as Error).message}`);
        return;
      }
      this.#conns.add(outbound);
      outKey = addrKey(outbound.localAddr);
      this.#outboundLocal.add(outKey);
      const back = this.#inboundRemote.get(outKey);
      if (back) this.#loop(back.conn, name, target);
      if (this.#closed || this.#looped.has(inbound)) return;
      // Backpressure both ways (a read waits for the previous write); EOF passed on as a
      // write shutdown in both directions; both closed when both directions are done.
      // Spec §6 (Go) passes on only the client's EOF: a target that ends first leaves the
      // client open until the client ends, so a client reading to EOF (an HTTP/1.0 body
      // delimited by close, `nc`) would hang. Passing it on is what a direct connection does.
      await pipeBoth(socketDuplex(inbound), socketDuplex(outbound));
    } finally {
      if (this.#inboundRemote.get(remoteKey)?.conn === inbound) {
        this.#inboundRemote.delete(remoteKey);
      }
      if (outKey !== undefined) this.#outboundLocal.delete(outKey);
      for (const c of [inbound, outbound]) {
        if (!c) continue;
        this.#conns.delete(c);
        try {
          c.close();
        } catch { /* closed by the pipe */ }
      }
    }
  }

  /** Connections being forwarded now (each counts its inbound and its outbound socket). */
  get openSockets(): number {
    return this.#conns.size;
  }

  /** Stops listening and closes every forwarded connection; resolves when all are closed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const l of this.#listeners) {
      try {
        l.close();
      } catch { /* closed */ }
    }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await Promise.all([...this.#loops, ...this.#serving]);
  }
}

/**
 * Starts the upstreams of one machine (spec §6): one listener per entry, logging
 * `[upstream] <name>: :<port> -> <target>` for each that listens,
 * `[upstream] listen failed on 0.0.0.0:<port>: <e>` for each that cannot (skipped), then
 * `[upstream] <n> listener(s) started`. Each accepted connection dials the target with a
 * 10 s timeout (failure: `[upstream] <name>: dial <target> failed: <e>`, the connection is
 * closed), Nagle off on both sockets, and copies both ways with backpressure.
 * @param upstreams the machine's `upstreams:` (validated by `validateAgentConfig`).
 * @param log tagged `upstream` (spec §1.2: every upstream line starts with `[upstream]`).
 * @returns the running set; call {@link Upstreams.close} at stop.
 */
export function startUpstreams(
  upstreams: UpstreamConfig[],
  log: Logger,
  options: UpstreamOptions = {},
): Upstreams {
  const set = new Upstreams(log, options);
  let n = 0;
  for (const u of upstreams) if (set.add(u)) n++;
  log.info(`${n} listener(s) started`);
  return set;
}
