/**
 * The one WebSocket client of the project (RFC 6455 §4.1 opening handshake, §5 framing) over
 * a Deno TCP or TLS connection with TCP_NODELAY set: the hub WebSockets of agent and client
 * (lib/session/signal.ts) and the hub's own bridge dial (lib/hub/bridge.ts).
 *
 * Why not the runtime's `WebSocket`:
 * - Deno 2.9 opens its client WebSockets with `TCP_NODELAY` off (`setsockopt(TCP_NODELAY,
 *   0)` seen with strace), so Nagle's algorithm holds back every frame written while an
 *   earlier one is unacknowledged: a tunnel ACK behind a data frame, the tail of a large relay
 *   frame. Side by side with the runtime's socket forced to TCP_NODELAY (an LD_PRELOAD shim,
 *   measurement only): upload 185 → 316 Mbit/s, download 237 → 401, connect 253 → 144 ms.
 * - Its `close()` waits for the peer's Close frame for ever, so a remote hub that stops
 *   answering kept the bridging hub's socket (a descriptor) open until the process ended.
 *   Here a Close that gets no answer within `closeTimeoutMs` drops the TCP connection.
 *
 * Framing is the hub's own RFC 6455 code (`lib/transport/websocket.ts`, the hub server
 * socket) in its client role: masked frames out, frames received size-checked from their
 * header, one write for all frames queued in an event-loop turn.
 * @module
 */
import { HubTimeoutError } from "../session/hub_error.ts";
import { acceptKey, frontClock, ServerWebSocket } from "./websocket.ts";

/** Default largest message accepted from the hub, in octets (relay frames are at most 64 KiB + 7). */
export const CLIENT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Largest HTTP response head accepted for the upgrade, bytes (16 KiB). */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

/** The server answered the upgrade with something other than a valid 101 Switching Protocols. */
export class WebSocketUpgradeError extends Error {
  override name = "WebSocketUpgradeError";
}

/**
 * The opening handshake (TCP/TLS connect plus the HTTP upgrade) did not finish in time; a
 * {@link HubTimeoutError}, so lib/session/hub_error.ts classifies it as `timeout`.
 */
export class WebSocketHandshakeTimeout extends HubTimeoutError {
  override name = "WebSocketHandshakeTimeout";
  /** @param timeoutMs the deadline that passed, in milliseconds. */
  constructor(timeoutMs: number) {
    super(timeoutMs, "WebSocket handshake");
  }
}

/** Options of {@link dialWebSocket}. */
export interface DialOptions {
  /** Deadline for TCP (and TLS) connect plus the HTTP upgrade, ms. */
  timeoutMs: number;
  /**
   * Largest message accepted (all fragments together), bytes; larger ones close with 1009
   * (default {@link CLIENT_MAX_MESSAGE_BYTES}).
   */
  maxMessageBytes?: number;
  /**
   * Time the peer has to answer our Close before the TCP connection is dropped, ms
   * (websocket.ts default otherwise).
   */
  closeTimeoutMs?: number;
  /** Most bytes queued for a peer that does not read, bytes (websocket.ts default otherwise). */
  maxBufferedBytes?: number;
  /** Client-mode liveness (spec §1.5; defaults: ping every 20 s, close after 45 s). */
  liveness?: WebSocketLiveness;
}

/** Client-mode liveness (spec session-and-relay.md §1.5), in milliseconds. */
export interface WebSocketLiveness {
  /** A ping goes out this often (default 20 000). */
  pingIntervalMs?: number;
  /** Nothing received this long: the socket is closed with 1001 (default 45 000). */
  timeoutMs?: number;
}

/**
 * Whether {@link dialWebSocket} should be used for `url`: a `ws:` or `wss:` URL and no
 * proxy configured in the environment (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, any case),
 * which only the runtime's WebSocket honours; false too when the environment cannot be read.
 */
export function directDialPossible(url: string): boolean {
  if (!/^wss?:\/\//i.test(url)) return false;
  try {
    for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]) {
      if (Deno.env.get(k) || Deno.env.get(k.toLowerCase())) return false;
    }
  } catch {
    return false;
  }
  return true;
}

/**
 * Opens a WebSocket to `url` (`ws://host[:port]/path` or `wss://...`; no subprotocol, no
 * extensions; spec session-and-relay.md §1.2, §3.7 step 2): TCP (or TLS with the runtime's
 * trust store, `DENO_CERT` included), TCP_NODELAY, the RFC 6455 §4.1 upgrade request, and
 * the server's 101 checked (`Upgrade: websocket`, `Connection: Upgrade`,
 * `Sec-WebSocket-Accept` for our random key).
 * @param url the hub URL as configured (spec session-and-relay.md §1.1).
 * @param options the handshake deadline in milliseconds, or {@link DialOptions}.
 * @returns an open socket (readyState 1) with the {@link ServerWebSocket} API (a superset of
 *   the `WebSocket` subset lib/session uses: `binaryType`, `readyState`, `bufferedAmount`,
 *   `onmessage`, `onclose`, `onerror`, `send`, `close`).
 * @throws {TypeError} for a URL that is not `ws:` or `wss:`;
 *   {@link WebSocketHandshakeTimeout} after the deadline; {@link WebSocketUpgradeError} for
 *   an answer other than a valid 101; the runtime's connection errors
 *   (`Deno.errors.ConnectionRefused`, TLS `InvalidData`, ...) as they are.
 */
export async function dialWebSocket(
  url: string,
  options: number | DialOptions,
): Promise<ServerWebSocket> {
  const opts: DialOptions = typeof options === "number" ? { timeoutMs: options } : options;
  const timeoutMs = opts.timeoutMs;
  const u = new URL(url);
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(`not a ws:// or wss:// URL: ${url}`);
  }
  const tls = u.protocol === "wss:";
  const hostname = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = u.port ? Number(u.port) : tls ? 443 : 80;
  let conn: Deno.Conn | null = null;
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      try {
        conn?.close(); // ends a read or write in progress
      } catch { /* already closed */ }
      reject(new WebSocketHandshakeTimeout(timeoutMs));
    }, timeoutMs);
  });
  deadline.catch(() => {});
  try {
    const connecting = tls ? Deno.connectTls({ hostname, port }) : Deno.connect({ hostname, port });
    // A connection that completes after the deadline is closed at once.
    connecting.then((late) => timedOut && late.close(), () => {});
    const c = await Promise.race([connecting, deadline]);
    conn = c;
    try {
      (c as Deno.TcpConn).setNoDelay?.(true);
    } catch { /* TLS over a transport without the option */ }
    const keyBytes = crypto.getRandomValues(new Uint8Array(16));
    const key = btoa(String.fromCharCode(...keyBytes));
    const path = (u.pathname || "/") + u.search;
    const request = `GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\n` +
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
      `Sec-WebSocket-Version: 13\r\n\r\n`;
    const req = new TextEncoder().encode(request);
    for (let off = 0; off < req.length;) off += await c.write(req.subarray(off));
    const { head, rest } = await readHead(c);
    if (timedOut) throw new WebSocketHandshakeTimeout(timeoutMs);
    checkUpgradeAnswer(head, key);
    clearTimeout(timer);
    const ws = new ServerWebSocket({
      client: true,
      maxMessageBytes: opts.maxMessageBytes ?? CLIENT_MAX_MESSAGE_BYTES,
      idleTimeoutMs: 0,
      closeTimeoutMs: opts.closeTimeoutMs,
      maxBufferedBytes: opts.maxBufferedBytes,
    });
    // Client-mode liveness (spec §1.5): a ping every 20 s, closed after 45 s of silence.
    // The socket stamps `lastRx` from the shared coarse clock, which this timer advances.
    const pingMs = opts.liveness?.pingIntervalMs ?? 20_000;
    const deadMs = opts.liveness?.timeoutMs ?? 45_000;
    let lastPing = frontClock.now = performance.now();
    const live = setInterval(() => {
      const now = frontClock.now = performance.now();
      if (now - ws.lastRx >= deadMs) {
        clearInterval(live);
        ws.fail(1001, `nothing from the hub for ${Math.round(deadMs / 1000)} s`);
      } else if (now - lastPing >= pingMs) {
        lastPing = now;
        ws.ping();
      }
    }, Math.max(10, Math.min(1000, pingMs / 4)));
    ws.attach(c, rest, lastPing).catch(() => {/* ends in onclose */}).finally(() =>
      clearInterval(live)
    );
    return ws;
  } catch (err) {
    try {
      conn?.close();
    } catch { /* already closed */ }
    if (timedOut && !(err instanceof WebSocketHandshakeTimeout)) {
      throw new WebSocketHandshakeTimeout(timeoutMs);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks the server's answer head (RFC 6455 §4.1, the client's checks 1-4).
 * @throws {WebSocketUpgradeError} naming the status line or the header that is wrong.
 */
function checkUpgradeAnswer(head: string, key: string): void {
  const lines = head.split("\r\n");
  const status = lines[0].match(/^HTTP\/1\.[01] (\d{3})(?: |$)/);
  // The wording is what lib/session/hub_error.ts classifyHubError reads: `http-status`
  // (an HTTP server that is not a hub, a wrong path), `tls-expected` (not HTTP at all).
  if (!status) {
    throw new WebSocketUpgradeError(
      `the hub's answer to the WebSocket upgrade is not HTTP: "${lines[0].slice(0, 40)}"`,
    );
  }
  if (status[1] !== "101") {
    throw new WebSocketUpgradeError(
      `the hub answered the WebSocket upgrade with status ${status[1]} ("${
        lines[0].slice(0, 80)
      }")`,
    );
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  if (headers.get("upgrade")?.toLowerCase() !== "websocket") {
    throw new WebSocketUpgradeError("the hub's 101 answer has no Upgrade: websocket");
  }
  if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.get("connection") ?? "")) {
    throw new WebSocketUpgradeError("the hub's 101 answer has no Connection: Upgrade");
  }
  if (headers.get("sec-websocket-accept") !== acceptKey(key)) {
    throw new WebSocketUpgradeError("the hub's Sec-WebSocket-Accept does not match our key");
  }
}

/** Reads an HTTP response head (up to {@link MAX_RESPONSE_HEAD_BYTES}) and the bytes after it. */
async function readHead(c: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  let buf = new Uint8Array(4096);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (buf.length >= MAX_RESPONSE_HEAD_BYTES) {
        throw new WebSocketUpgradeError(
          `the hub's answer head is over ${MAX_RESPONSE_HEAD_BYTES} bytes`,
        );
      }
      const grown = new Uint8Array(buf.length * 2);
      grown.set(buf);
      buf = grown;
    }
    const r = await c.read(buf.subarray(n));
    if (r === null) {
      throw new WebSocketUpgradeError("the hub closed the connection during the upgrade");
    }
    n += r;
    for (let i = Math.max(3, n - r - 3); i < n; i++) {
      if (buf[i - 3] === 13 && buf[i - 2] === 10 && buf[i - 1] === 13 && buf[i] === 10) {
        return {
          head: new TextDecoder().decode(buf.subarray(0, i - 3)),
          rest: buf.slice(i + 1, n),
        };
      }
    }
  }
}
