/**
 * One HTTP/1.1 connection of the hub (RFC 9112): the request head and body read
 * under a size bound and a deadline, parsed by `http-parser-js` (the pure-JS
 * parser `websocket-driver` and `faye-websocket` use), handed to a fetch-style
 * handler as a `Request`, and the `Response` written back with one write. A
 * response that stands for a WebSocket upgrade (see {@link WebSocketUpgrader})
 * becomes a 101 and the connection is handed to the {@link ServerWebSocket}.
 *
 * Bounds: the head (request line + headers) at most `maxHeadBytes` (else 431),
 * read within `headerTimeoutMs` of the connection opening or of the previous
 * response (the keep-alive idle limit too); the body at most `maxBodyBytes`
 * (else 413, decided from `Content-Length` before reading it), read within
 * `bodyTimeoutMs`. A deadline that passes closes the connection.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import httpParser from "http-parser-js";
import { escapeForLog, logger } from "../log/mod.ts";
import { isConnectionGone } from "../transport/net_errors.ts";
import type { PendingConnections, PendingEntry } from "./pending.ts";
import { acceptKey, frontClock, type ServerWebSocket } from "./websocket.ts";

// deno-lint-ignore no-explicit-any
const { HTTPParser } = httpParser as any;
const log = logger("hub");

/** A fetch-style handler, as `Deno.serve` takes it. */
export type FetchHandler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Options of {@link serveHttp1}. */
export interface Http1Options {
  handler: FetchHandler;
  /** Deadline for a request head, from connection open or the previous response, ms. */
  headerTimeoutMs: number;
  /** Deadline for a request body once its head arrived, ms. */
  bodyTimeoutMs: number;
  /** Largest request head (request line and header fields), bytes. */
  maxHeadBytes: number;
  /** Largest request body, bytes. */
  maxBodyBytes: number;
  /** The WebSocket a response stands for, when the handler upgraded the request. */
  takeUpgrade: (res: Response) => ServerWebSocket | undefined;
  /** The cap on unauthenticated connections. */
  pending: PendingConnections;
  /** True once the server is shutting down: responses then end their connection. */
  draining: () => boolean;
  /** Called with every upgraded WebSocket while it is open (for idle pings). */
  onWebSocket: (ws: ServerWebSocket, open: boolean) => void;
}

/** Reason phrases (RFC 9110 §15) for the statuses the hub sends. */
const REASON: Record<number, string> = {
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  204: "No Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  412: "Precondition Failed",
  413: "Content Too Large",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

interface Parsed {
  method: string;
  url: string;
  headers: string[];
  keepAlive: boolean;
  upgrade: boolean;
  body: Uint8Array[];
  bodyLen: number;
  /** Set when the request must be refused before reading on (413). */
  refuse?: number;
  /** `Expect: 100-continue` and no 100 sent yet (RFC 9110 §10.1.1). */
  expectContinue?: boolean;
}

const encoder = new TextEncoder();
const NO_BODY = new Set([101, 204, 304]);

/**
 * Serves HTTP/1.1 requests on `conn` until it closes, a deadline passes, a bound
 * is exceeded, or the connection becomes a WebSocket.
 * @param conn an accepted TCP connection; closed when this returns, unless it became a WebSocket.
 * @param opts the handler, the bounds (octets) and deadlines (ms), and the unauthenticated cap.
 * @returns when the connection is done with HTTP. Never throws: a handler error becomes a 500.
 */
export async function serveHttp1(conn: Deno.TcpConn, opts: Http1Options): Promise<void> {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const entry: PendingEntry = { shed: close };
  const remoteAddr = conn.remoteAddr;
  const parser = new HTTPParser(HTTPParser.REQUEST);
  parser.maxHeaderSize = opts.maxHeadBytes;
  let cur: Parsed | undefined;
  const done: Parsed[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  parser[HTTPParser.kOnHeadersComplete] = (info: {
    headers: string[];
    method: number;
    url: string;
    upgrade: boolean;
    shouldKeepAlive: boolean;
  }) => {
    cur = {
      method: HTTPParser.methods[info.method],
      url: info.url,
      headers: info.headers,
      keepAlive: info.shouldKeepAlive,
      upgrade: info.upgrade,
      body: [],
      bodyLen: 0,
    };
    checkFraming(info.headers);
    // Head complete: the body has its own deadline.
    clearTimeout(timer);
    timer = setTimeout(close, opts.bodyTimeoutMs);
    for (let i = 0; i < info.headers.length; i += 2) {
      const name = info.headers[i].toLowerCase();
      if (name === "content-length" && Number(info.headers[i + 1]) > opts.maxBodyBytes) {
        cur.refuse = 413;
      } else if (name === "expect" && /100-continue/i.test(info.headers[i + 1])) {
        cur.expectContinue = true;
      }
    }
  };
  // A header line that is not `name: value` is refused, not skipped (RFC 9112 §5.1, §5.2:
  // no whitespace before the colon, no obsolete line folding).
  const parseHeader = parser.parseHeader;
  parser.parseHeader = function (line: string, headers: string[]) {
    if (!FIELD_LINE.test(line)) throw new RequestFramingError(`malformed header line`);
    return parseHeader.call(this, line, headers);
  };
  parser[HTTPParser.kOnBody] = (chunk: Uint8Array, start: number, len: number) => {
    // http-parser-js takes a chunk size with parseInt(…, 16): "-5" would walk it backwards
    // over the same line forever. Refuse it here, where the parser calls us.
    if (!(len >= 0)) throw new RequestFramingError("bad chunk size");
    if (!cur || cur.refuse) return;
    if (cur.bodyLen + len > opts.maxBodyBytes) {
      cur.refuse = 413;
      return;
    }
    // A copy: `chunk` is a Buffer view of the read buffer, which the next read overwrites.
    cur.body.push(Uint8Array.prototype.slice.call(chunk, start, start + len));
    cur.bodyLen += len;
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    if (cur) done.push(cur);
    cur = undefined;
  };

  opts.pending.add(entry);
  timer = setTimeout(close, opts.headerTimeoutMs);
  // Small first: an upgrade request is a few hundred bytes, and a thousand agents
  // connecting at once should not leave a thousand large buffers for the collector.
  let buf = new Uint8Array(1024);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      const grow = n === buf.length && buf.length < 16384;
      let ret: number | Error;
      try {
        ret = parser.execute(Buffer.from(buf.buffer, 0, n));
      } catch (err) {
        if (!(err instanceof RequestFramingError)) throw err;
        ret = err;
      }
      // A bad request after complete ones in the same read: those are answered first, then
      // the error, so no client takes the error for the answer to an earlier request.
      const failure = ret instanceof Error
        ? (/header size/.test(ret.message) ? 431 : 400)
        : cur?.refuse;
      let keepOpen = true;
      let served = false;
      while (done.length > 0 && keepOpen) {
        const m = done.shift()!;
        clearTimeout(timer);
        opts.pending.remove(entry);
        if (m.refuse) {
          await writeSimple(conn, m.refuse);
          keepOpen = false;
          break;
        }
        const req = toRequest(m);
        if (!req) {
          await writeSimple(conn, 400);
          keepOpen = false;
          break;
        }
        const completed = Promise.withResolvers<void>();
        let res: Response;
        try {
          res = await opts.handler(req, { remoteAddr, completed: completed.promise });
        } catch (err) {
          // A bug behind one route: this request gets a 500, the log gets the stack.
          log.error(
            `${m.method} ${escapeForLog(new URL(req.url).pathname)}: ${
              escapeForLog((err as Error)?.stack ?? String(err), 2000)
            }`,
          );
          res = new Response("Internal Server Error\n", { status: 500 });
        }
        const ws = opts.takeUpgrade(res);
        if (ws) {
          clearTimeout(timer);
          completed.resolve();
          // Not awaited: this frame (its read buffer and parser) is released while the
          // WebSocket lives; the returned promise settles when the WebSocket ends.
          const key = req.headers.get("sec-websocket-key") ?? "";
          // The parser stops at an upgrade's head: `ret` is where the WebSocket's bytes begin.
          const rest = typeof ret === "number" ? buf.slice(ret, n) : new Uint8Array(0);
          return upgradeTo(conn, key, ws, rest, opts);
        }
        keepOpen = m.keepAlive && !m.upgrade && !closed && !opts.draining();
        // A peer that does not read its response does not keep the descriptor either, and
        // counts against the cap while the response waits in memory for it: connections that
        // each ask for a large body and never read cannot pin that body many times over.
        timer = setTimeout(close, opts.bodyTimeoutMs);
        opts.pending.add(entry);
        await writeResponse(conn, req.method, res, keepOpen);
        opts.pending.remove(entry);
        clearTimeout(timer);
        completed.resolve();
        served = true;
      }
      if (failure !== undefined) {
        if (keepOpen && !closed) await writeSimple(conn, failure);
        break;
      }
      if (!keepOpen || closed) break;
      if (cur?.expectContinue && !cur.refuse) {
        // Every earlier response is out: the client may send the body now.
        cur.expectContinue = false;
        await writeAll(conn, encoder.encode("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      if (served) {
        // Between requests, or a pipelined one partly here: unauthenticated again, under the
        // deadline of what is arriving. (Only after a response: a peer sending a byte at a
        // time must not push its deadline back or stay the youngest entry.)
        clearTimeout(timer);
        timer = setTimeout(close, cur ? opts.bodyTimeoutMs : opts.headerTimeoutMs);
        opts.pending.add(entry);
      }
      if (grow) buf = new Uint8Array(16384); // a large head or a body is arriving
    }
  } catch (err) {
    // Reset by the peer, or closed by a deadline / the cap: expected. Anything else is a bug.
    if (!isConnectionGone(err)) {
      log.error(`http connection: ${escapeForLog((err as Error)?.stack ?? String(err), 2000)}`);
    }
  } finally {
    clearTimeout(timer);
    opts.pending.remove(entry);
  }
  close();
}

async function upgradeTo(
  conn: Deno.TcpConn,
  key: string,
  ws: ServerWebSocket,
  rest: Uint8Array,
  opts: Http1Options,
): Promise<void> {
  const head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`;
  const entry: PendingEntry = {
    shed: (why) =>
      why === "shutdown"
        ? ws.fail(1001, "hub shutting down")
        : ws.fail(1008, "too many unauthenticated connections"),
  };
  opts.pending.add(entry);
  ws.onAuthenticated = () => opts.pending.remove(entry);
  ws.onDone = () => {
    opts.pending.remove(entry);
    opts.onWebSocket(ws, false);
  };
  try {
    await writeAll(conn, encoder.encode(head));
  } catch {
    ws.fail(1006, "");
    return;
  }
  // Shed (or failed) while the 101 was being written: onDone already ran; do not track it.
  if (ws.readyState === WebSocket.CLOSED) return;
  opts.onWebSocket(ws, true);
  await ws.attach(conn, rest, frontClock.now);
}

/** A request whose framing is ambiguous or malformed (RFC 9112 §6.1, §6.3): answered 400. */
export class RequestFramingError extends Error {
  override name = "RequestFramingError";
}

/** `field-name ":"` at the start of a header line (RFC 9110 §5.1 token, then the colon). */
const FIELD_LINE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/;

/**
 * Refuses the framings a proxy in front of the hub could read differently (request
 * smuggling, RFC 9112 §6.1 and §6.3): Transfer-Encoding other than one `chunked`, or
 * together with Content-Length; a Content-Length that is not decimal digits, or that
 * repeats with another value.
 * @param headers name, value, name, value… as the parser gives them.
 * @throws {RequestFramingError} naming the problem.
 */
function checkFraming(headers: string[]): void {
  const te: string[] = [];
  const cl: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i].toLowerCase();
    if (name === "transfer-encoding") te.push(headers[i + 1].trim().toLowerCase());
    else if (name === "content-length") cl.push(headers[i + 1].trim());
  }
  if (te.length > 0 && (te.length > 1 || te[0] !== "chunked" || cl.length > 0)) {
    throw new RequestFramingError("Transfer-Encoding other than one chunked, or with a length");
  }
  if (cl.some((v) => !/^\d{1,15}$/.test(v)) || new Set(cl.map(Number)).size > 1) {
    throw new RequestFramingError("Content-Length is not one decimal length");
  }
}

function toRequest(m: Parsed): Request | undefined {
  try {
    const headers = new Headers();
    let host = "";
    for (let i = 0; i < m.headers.length; i += 2) {
      headers.append(m.headers[i], m.headers[i + 1]);
      if (!host && m.headers[i].toLowerCase() === "host") host = m.headers[i + 1];
    }
    const url = /^https?:\/\//i.test(m.url)
      ? m.url
      : `http://${host || "localhost"}${m.url.startsWith("/") ? m.url : "/" + m.url}`;
    let body: Uint8Array<ArrayBuffer> | undefined;
    if (m.bodyLen > 0 && m.method !== "GET" && m.method !== "HEAD") {
      body = new Uint8Array(m.bodyLen);
      let o = 0;
      for (const c of m.body) {
        body.set(c, o);
        o += c.length;
      }
    }
    return new Request(new URL(url), { method: m.method, headers, body });
  } catch {
    return undefined;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** A short plain-text error response that ends the connection. */
function writeSimple(conn: Deno.Conn, status: number): Promise<void> {
  const body = `${REASON[status] ?? "Error"}\n`;
  return writeAll(
    conn,
    encoder.encode(
      `HTTP/1.1 ${status} ${
        REASON[status] ?? "Error"
      }\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    ),
  ).catch(() => {});
}

/** Writes `res` as one HTTP/1.1 response (head and body in a single write). */
async function writeResponse(
  conn: Deno.Conn,
  method: string,
  res: Response,
  keepAlive: boolean,
): Promise<void> {
  const status = res.status;
  const body = res.body ? new Uint8Array(await res.arrayBuffer()) : undefined;
  let head = `HTTP/1.1 ${status} ${res.statusText || REASON[status] || "Status"}\r\n`;
  let length = body?.length;
  for (const [name, value] of res.headers) {
    if (name === "content-length") {
      if (length === undefined) length = Number(value);
      continue;
    }
    if (name === "connection" || name === "transfer-encoding") continue;
    head += `${name}: ${value}\r\n`;
  }
  // HEAD: the length GET would have, when the handler said it; otherwise none (RFC 9110 §8.6).
  if (!NO_BODY.has(status) && !(method === "HEAD" && length === undefined)) {
    head += `content-length: ${length ?? 0}\r\n`;
  }
  head += `date: ${new Date().toUTCString()}\r\n`;
  if (!keepAlive) head += "connection: close\r\n";
  head += "\r\n";
  const headBytes = encoder.encode(head);
  const send = method === "HEAD" || NO_BODY.has(status) || !body ? undefined : body;
  if (!send) return writeAll(conn, headBytes);
  if (send.length > 64 * 1024) {
    // Large: two writes rather than a second copy of the body.
    await writeAll(conn, headBytes);
    return writeAll(conn, send);
  }
  const out = new Uint8Array(headBytes.length + send.length);
  out.set(headBytes);
  out.set(send, headBytes.length);
  await writeAll(conn, out);
}
