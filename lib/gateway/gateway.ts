/**
 * The path gateway (spec agent-and-client.md §5; book, *The path gateway*, *Set up a
 * path-based gateway*): an HTTP/1.1 reverse proxy on one port inside a session's tunnel that
 * sends each request to `<target host>:<route.target>` by the longest matching path prefix.
 *
 * What it reads: each request head (request line and header fields, at most
 * {@link MAX_HEAD_BYTES}), and the framing of bodies so it knows where one request ends and
 * the next begins on a kept-alive connection. Bodies pass through as the bytes that arrived.
 * What it changes (spec §5.3): hop-by-hop fields removed both ways, `X-Forwarded-For`
 * appended with the client's tunnel address; `Host` passes through unchanged.
 *
 * Connections: the tunnel side is kept alive across requests (each request is routed on its
 * own); each request gets a fresh upstream connection that carries only it (`Connection:
 * close` upstream), so a request never waits behind another one's upstream and no pool needs
 * minding inside a session. Upgrades (101, e.g. WebSocket) become a byte copy both ways.
 * @module
 */
import { escapeForLog } from "../log/mod.ts";
import type { DuplexConn, TunnelConn, TunnelListener } from "../session/mod.ts";
import {
  ByteReader,
  copyBody,
  type Field,
  fieldTokens,
  fieldValues,
  type Framing,
  HttpError,
  latin1Bytes,
  parseRequestHead,
  parseResponseHead,
  requestFraming,
  type RequestHead,
  responseFraming,
  type ResponseHead,
} from "./http.ts";

/** One route: requests whose decoded path starts with `path` go to port `target`. */
export interface GatewayRoute {
  /** URL path prefix, a plain string prefix (no segment semantics: `/api` matches `/apix`). */
  path: string;
  /** TCP port on the machine's target host. */
  target: number;
}

/** A machine's `gateway:` (spec §5.1). */
export interface GatewayConfig {
  /** Port the gateway listens on inside the tunnel. */
  port: number;
  routes: GatewayRoute[];
}

/** Where the gateway logs (a machine's logger). */
export interface GatewayLog {
  info(msg: string): void;
  warn(msg: string): void;
}

/** Options of {@link PathGateway}. */
export interface PathGatewayOptions {
  config: GatewayConfig;
  /** The machine's `target` (default `127.0.0.1`): the host every route dials. */
  targetHost: string;
  /** This end's tunnel address (`10.77.N.1`), for the log line. */
  localAddress: string;
  /** The client's tunnel address (`10.77.N.2`), appended to `X-Forwarded-For`. */
  clientAddress: string;
  /** Opens a TCP connection to `host:port` (the agent's target dial: 10 s timeout, no Nagle). */
  dial: (host: string, port: number) => Promise<DuplexConn>;
  log: GatewayLog;
}

/** Largest request or response head accepted, in octets (larger requests get a 431). */
export const MAX_HEAD_BYTES = 64 * 1024;

/** Body of the 502 for a request no route matches (spec §5.3, exact). */
export const NO_ROUTE_BODY = "no gateway route matched\n";

/** Hop-by-hop fields (RFC 9110 §7.6.1; Go's httputil.ReverseProxy list, spec §5.3). */
const HOP_BY_HOP = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

const REASONS: Record<number, string> = {
  400: "Bad Request",
  431: "Request Header Fields Too Large",
  501: "Not Implemented",
  502: "Bad Gateway",
  505: "HTTP Version Not Supported",
};

/**
 * Routes sorted for matching: longest `path` first (spec §5.3; ties keep their file order).
 * @param routes the configured routes, any order.
 */
export function sortRoutes(routes: GatewayRoute[]): GatewayRoute[] {
  return routes.map((r, i) => ({ r, i })).sort((a, b) =>
    b.r.path.length - a.r.path.length || a.i - b.i
  ).map((x) => x.r);
}

/**
 * The route for a request-target: the first of `sorted` whose `path` is a plain string prefix
 * of the target's percent-decoded path (spec §5.3). The query does not take part.
 * @param sorted routes from {@link sortRoutes}.
 * @param target the request-target (origin-form `/a/b?q`, or absolute-form `http://h/a/b?q`).
 * @returns the route, or undefined when none matches.
 * @throws {HttpError} 400 when the path holds a malformed percent escape.
 */
export function matchRoute(sorted: GatewayRoute[], target: string): GatewayRoute | undefined {
  const path = decodedPath(originForm(target));
  return sorted.find((r) => path.startsWith(r.path));
}

/** `http://host/p?q` → `/p?q`; other forms unchanged (RFC 9112 §3.2). */
function originForm(target: string): string {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(target);
  if (!m) return target;
  return m[1] === "" || m[1].startsWith("?") ? `/${m[1]}` : m[1];
}

function decodedPath(target: string): string {
  const raw = target.split("?")[0].split("#")[0];
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, "malformed percent-encoding in the request path");
  }
}

/** `Connection`-named fields and the fixed hop-by-hop set removed (RFC 9110 §7.6.1). */
function endToEnd(fields: Field[]): Field[] {
  const named = new Set(fieldTokens(fields, "connection"));
  return fields.filter(([k]) => {
    const n = k.toLowerCase();
    return !HOP_BY_HOP.has(n) && !named.has(n);
  });
}

function serializeHead(startLine: string, fields: Field[]): Uint8Array {
  let s = startLine + "\r\n";
  for (const [k, v] of fields) s += `${k}: ${v}\r\n`;
  return latin1Bytes(s + "\r\n");
}

/**
 * A plain-text response the gateway makes itself (no route, no upstream, a refused request).
 * @param close adds `Connection: close` (the connection ends after it).
 */
function simpleResponse(status: number, body: string, close: boolean): Uint8Array {
  const bytes = new TextEncoder().encode(body);
  const fields: Field[] = [
    ["Content-Type", "text/plain; charset=utf-8"],
    ["X-Content-Type-Options", "nosniff"],
    ["Date", new Date().toUTCString()],
    ["Content-Length", String(bytes.length)],
  ];
  if (close) fields.push(["Connection", "close"]);
  const head = serializeHead(`HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`, fields);
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

/** Whether the client asked to keep the connection after this request (RFC 9112 §9.3). */
function clientKeepsAlive(head: RequestHead): boolean {
  const conn = fieldTokens(head.fields, "connection");
  if (conn.includes("close")) return false;
  return head.minor === 1 || conn.includes("keep-alive");
}

/** An upgrade request: `Connection: upgrade` and an `Upgrade` field (RFC 9110 §7.8). */
function isUpgrade(head: RequestHead): boolean {
  return fieldTokens(head.fields, "connection").includes("upgrade") &&
    fieldValues(head.fields, "upgrade").length > 0;
}

function quiet(p: Promise<unknown> | void): void {
  if (p) p.catch(() => {});
}

/**
 * One session's path gateway: listens on `config.port` in the tunnel, serves each accepted
 * connection until it closes or {@link close} is called.
 */
export class PathGateway {
  readonly routes: GatewayRoute[];
  #listener: TunnelListener | null = null;
  #open = new Set<{ abort(): void }>();
  #closed = false;

  constructor(readonly opts: PathGatewayOptions) {
    this.routes = sortRoutes(opts.config.routes);
  }

  /**
   * Starts listening (spec §5.3): logs `[gateway] listening on <addr>:<port> (<k> routes)` and
   * one line per route, or `[gateway] listen failed on …` and stays off.
   * @param listen the tunnel's listen (`tunnel.stack.listen`).
   * @returns false when the listener could not be opened.
   */
  start(listen: (port: number) => TunnelListener): boolean {
    const { config, localAddress, targetHost, log } = this.opts;
    const where = `${localAddress}:${config.port}`;
    try {
      this.#listener = listen(config.port);
    } catch (err) {
      log.warn(`[gateway] listen failed on ${where}: ${(err as Error).message}`);
      return false;
    }
    log.info(`[gateway] listening on ${where} (${this.routes.length} routes)`);
    for (const r of this.routes) log.info(`[gateway]   ${r.path} -> ${targetHost}:${r.target}`);
    this.#acceptLoop(this.#listener);
    return true;
  }

  async #acceptLoop(listener: TunnelListener): Promise<void> {
    while (!this.#closed) {
      let conn: TunnelConn;
      try {
        conn = await listener.accept();
      } catch {
        break;
      }
      this.serve(conn);
    }
  }

  /** Stops listening and resets every connection in progress (the session ended). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener?.close();
    } catch { /* closed */ }
    for (const c of this.#open) c.abort();
    this.#open.clear();
  }

  /**
   * Serves HTTP/1.1 requests on one tunnel connection until the client closes it, a request
   * asks to close, a request cannot be read, or an upgrade takes the connection over.
   * @returns when the connection is done. Never throws.
   */
  async serve(conn: TunnelConn): Promise<void> {
    const entry = { abort: () => conn.abort() };
    this.#open.add(entry);
    const reader = new ByteReader(conn.readable);
    const writer = conn.writable.getWriter();
    let clean = true;
    try {
      for (;;) {
        let head: RequestHead;
        let framing: Framing;
        try {
          const bytes = await reader.readHead(MAX_HEAD_BYTES);
          if (!bytes) break;
          head = parseRequestHead(bytes);
          framing = requestFraming(head);
        } catch (err) {
          if (err instanceof HttpError) {
            await writer.write(simpleResponse(err.status, `${err.message}\n`, true));
          }
          break;
        }
        if (!(await this.#proxy(head, framing, reader, writer))) break;
      }
    } catch {
      clean = false; // the client or the upstream went away mid-message
    } finally {
      this.#open.delete(entry);
      if (clean) {
        quiet(writer.close());
        quiet(reader.cancel());
        quiet(conn.close());
      } else {
        conn.abort();
      }
    }
  }

  /**
   * Proxies one request.
   * @returns true when the client connection stays usable for another request.
   */
  async #proxy(
    req: RequestHead,
    framing: Framing,
    client: ByteReader,
    toClient: WritableStreamDefaultWriter<Uint8Array>,
  ): Promise<boolean> {
    const { targetHost, log } = this.opts;
    const keepAlive = clientKeepsAlive(req);
    // A refusal that leaves a request body unread ends the connection (it cannot be skipped
    // safely without reading it).
    const refuse = async (status: number, body: string) => {
      const close = !keepAlive || framing.kind !== "none";
      await toClient.write(simpleResponse(status, body, close));
      return !close;
    };
    let route: GatewayRoute | undefined;
    try {
      route = matchRoute(this.routes, req.target);
    } catch (err) {
      return await refuse((err as HttpError).status, `${(err as Error).message}\n`);
    }
    if (!route) return await refuse(502, NO_ROUTE_BODY);
    const upstreamName = `${targetHost}:${route.target}`;
    let up: DuplexConn;
    try {
      up = await this.opts.dial(targetHost, route.target);
    } catch (err) {
      const why = (err as Error).message;
      log.warn(`[gateway] http: proxy error: dial tcp ${upstreamName}: ${escapeForLog(why)}`);
      return await refuse(
        502,
        `gateway route ${route.path} -> ${upstreamName}: cannot connect: ${why}\n` +
          `Is the service on port ${route.target} of the agent's target host running? ` +
          `(telad.yaml gateway.routes)\n`,
      );
    }
    const upEntry = { abort: () => quiet(up.close()) };
    this.#open.add(upEntry);
    const fromUp = new ByteReader(up.readable);
    const toUp = up.writable.getWriter();
    const upgrade = isUpgrade(req);
    try {
      // The request head: hop-by-hop fields out, X-Forwarded-For appended (spec §5.3).
      const fields = endToEnd(req.fields);
      const xff = fieldValues(req.fields, "x-forwarded-for");
      const forwarded = fields.filter(([k]) => k.toLowerCase() !== "x-forwarded-for");
      forwarded.push([
        "X-Forwarded-For",
        [...xff, this.opts.clientAddress].join(", "),
      ]);
      const te = fieldTokens(req.fields, "te");
      if (te.includes("trailers")) forwarded.push(["TE", "trailers"]);
      if (framing.kind === "chunked") forwarded.push(["Transfer-Encoding", "chunked"]);
      if (upgrade) {
        forwarded.push(["Connection", "Upgrade"]);
        forwarded.push(["Upgrade", fieldValues(req.fields, "upgrade").join(", ")]);
      } else {
        forwarded.push(["Connection", "close"]);
      }
      await toUp.write(
        serializeHead(`${req.method} ${originForm(req.target)} HTTP/1.1`, forwarded),
      );
      // The request body streams while the response is read (an upstream may answer early).
      let requestDone = framing.kind === "none";
      let requestFailed = false;
      const requestCopy = copyBody(client, toUp, framing).then(
        () => (requestDone = true),
        () => (requestFailed = true),
      );

      let res: ResponseHead;
      for (;;) {
        let bytes: Uint8Array | null;
        try {
          bytes = await fromUp.readHead(MAX_HEAD_BYTES);
          if (!bytes) throw new HttpError(502, "upstream closed the connection without a response");
          res = parseResponseHead(bytes);
        } catch (err) {
          const why = (err as Error).message;
          log.warn(`[gateway] http: proxy error: ${upstreamName}: ${escapeForLog(why)}`);
          await toClient.write(
            simpleResponse(502, `gateway route ${route.path} -> ${upstreamName}: ${why}\n`, true),
          );
          return false;
        }
        if (res.status >= 100 && res.status < 200 && res.status !== 101) {
          // Interim responses (100 Continue, 103 Early Hints) go through as they are.
          await toClient.write(serializeHead(`HTTP/1.1 ${res.status} ${res.reason}`, res.fields));
          continue;
        }
        break;
      }

      if (res.status === 101) {
        if (!upgrade) {
          await toClient.write(
            simpleResponse(
              502,
              `gateway route ${route.path}: unexpected 101 from upstream\n`,
              true,
            ),
          );
          return false;
        }
        const out = endToEnd(res.fields);
        out.push(["Connection", "Upgrade"]);
        const proto = fieldValues(res.fields, "upgrade");
        if (proto.length) out.push(["Upgrade", proto.join(", ")]);
        await toClient.write(serializeHead(`HTTP/1.1 101 ${res.reason}`, out));
        // As Go's ReverseProxy: once either direction ends, both connections close.
        await Promise.race([relay(client, toUp), relay(fromUp, toClient)]);
        return false;
      }

      const resFraming = responseFraming(res, req.method);
      // An HTTP/1.0 client gets a chunked body decoded, delimited by the connection's end.
      const dechunk = req.minor === 0 && resFraming.kind === "chunked";
      const closeAfter = !keepAlive || resFraming.kind === "close" || dechunk;
      const out = endToEnd(res.fields);
      if ((resFraming.kind === "chunked" && !dechunk) || resFraming.kind === "close") {
        // The body passes through with its transfer coding: say so.
        for (const v of fieldValues(res.fields, "transfer-encoding")) {
          out.push(["Transfer-Encoding", v]);
        }
      }
      const trailer = fieldValues(res.fields, "trailer");
      if (trailer.length && resFraming.kind === "chunked") {
        out.push(["Trailer", trailer.join(", ")]);
      }
      if (closeAfter) out.push(["Connection", "close"]);
      await toClient.write(serializeHead(`HTTP/1.1 ${res.status} ${res.reason}`, out));
      await copyBody(fromUp, toClient, resFraming, dechunk);
      if (!requestDone && !requestFailed) {
        // Answered before the request body was read whole: this connection cannot be reused.
        return false;
      }
      await requestCopy;
      return !closeAfter && requestDone;
    } finally {
      this.#open.delete(upEntry);
      quiet(fromUp.cancel());
      quiet(toUp.close());
      quiet(up.close());
    }
  }
}

/**
 * Copies `from` to `to` until `from` ends, then closes `to`'s write side; used both ways
 * after a 101 (the bytes already read past the heads go first). Never throws.
 */
async function relay(
  from: ByteReader,
  to: WritableStreamDefaultWriter<Uint8Array>,
): Promise<void> {
  try {
    for (;;) {
      const b = await from.readSome(64 * 1024);
      if (!b) break;
      await to.write(b);
    }
    await to.close();
  } catch {
    quiet(to.abort());
    await from.cancel();
  }
}
