/**
 * A WebSocket client (RFC 6455 §4.1 opening handshake, §5 framing) over a Deno TCP or TLS
 * connection with TCP_NODELAY set, for the hub WebSockets of agent and client.
 *
 * Why not the runtime's `WebSocket`: Deno 2.9 opens its client WebSockets with
 * `TCP_NODELAY` off (`setsockopt(TCP_NODELAY, 0)` seen with strace), so Nagle's algorithm
 * holds back every frame written while an earlier one is unacknowledged: a tunnel ACK
 * behind a data frame, the tail of a large relay frame. Side by side with the runtime's
 * socket forced to TCP_NODELAY (an LD_PRELOAD shim, measurement only): upload 185 → 316
 * Mbit/s, download 237 → 401, connect 253 → 144 ms. Framing is the hub's own RFC 6455 code
 * (`lib/transport/websocket.ts`, the hub server socket) in its client role: masked frames out, one write for all frames
 * queued in an event-loop turn.
 * @module
 */
import { acceptKey, frontClock, ServerWebSocket } from "./websocket.ts";

/** Largest message accepted from the hub, in octets (relay frames are at most 64 KiB + 7). */
export const CLIENT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Client-mode liveness (spec session-and-relay.md §1.5), in milliseconds. */
export interface WebSocketLiveness {
  /** A ping goes out this often (default 20 000). */
  pingIntervalMs?: number;
  /** Nothing received this long: the socket is closed (default 45 000). */
  timeoutMs?: number;
}

/** The hub answered the upgrade with something other than 101 Switching Protocols. */
export class WebSocketUpgradeError extends Error {
  override name = "WebSocketUpgradeError";
}

/** The opening handshake did not finish in time. */
export class WebSocketHandshakeTimeout extends Error {
  override name = "WebSocketHandshakeTimeout";
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
 * Opens a WebSocket to `url` (`ws://host[:port]/path` or `wss://...`): TCP (or TLS with the
 * runtime's trust store, `DENO_CERT` included), TCP_NODELAY, the RFC 6455 §4.1 upgrade
 * request, and the server's `Sec-WebSocket-Accept` checked.
 * @param url the hub URL as configured (spec session-and-relay.md §1.1).
 * @param timeoutMs the whole handshake's deadline, in milliseconds.
 * @param liveness client-mode liveness (spec §1.5): a ping every 20 s, and the socket is
 *   closed (code 1001) after 45 s with nothing received; tests shorten both.
 * @returns an open socket with the `WebSocket` subset lib/session uses (`binaryType`,
 *   `readyState`, `bufferedAmount`, `onmessage`, `onclose`, `onerror`, `send`, `close`).
 * @throws {WebSocketHandshakeTimeout} after `timeoutMs`; {@link WebSocketUpgradeError} for
 *   an answer other than 101 or a wrong accept key; the runtime's connection errors
 *   (`Deno.errors.ConnectionRefused`, TLS `InvalidData`, ...) as they are.
 */
export async function dialWebSocket(
  url: string,
  timeoutMs: number,
  liveness: WebSocketLiveness = {},
): Promise<ServerWebSocket> {
  const u = new URL(url);
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
      reject(new WebSocketHandshakeTimeout(`no answer within ${timeoutMs} ms`));
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
    const request = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n` +
      `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
      `Sec-WebSocket-Version: 13\r\n\r\n`;
    const req = new TextEncoder().encode(request);
    for (let off = 0; off < req.length;) off += await c.write(req.subarray(off));
    const { head, rest } = await readHead(c);
    const status = head.match(/^HTTP\/1\.[01] (\d{3})/);
    if (!status || status[1] !== "101") {
      throw new WebSocketUpgradeError(
        `the hub answered the WebSocket upgrade with "${head.split("\r\n")[0].slice(0, 80)}"`,
      );
    }
    const accept = head.match(/\r\nsec-websocket-accept:\s*(\S+)/i)?.[1];
    if (accept !== acceptKey(key)) {
      throw new WebSocketUpgradeError("the hub's Sec-WebSocket-Accept does not match our key");
    }
    const ws = new ServerWebSocket({
      client: true,
      maxMessageBytes: CLIENT_MAX_MESSAGE_BYTES,
      idleTimeoutMs: 0,
    });
    const pingMs = liveness.pingIntervalMs ?? 20_000;
    const deadMs = liveness.timeoutMs ?? 45_000;
    let lastPing = frontClock.now = performance.now();
    // The socket stamps `lastRx` from the shared coarse clock, which this timer advances.
    const timer = setInterval(() => {
      const now = frontClock.now = performance.now();
      if (now - ws.lastRx >= deadMs) {
        clearInterval(timer);
        ws.fail(1001, `nothing from the hub for ${Math.round(deadMs / 1000)} s`);
      } else if (now - lastPing >= pingMs) {
        lastPing = now;
        ws.ping();
      }
    }, Math.max(10, Math.min(1000, pingMs / 4)));
    ws.attach(c, rest, lastPing).catch(() => {}).finally(() => clearInterval(timer));
    return ws;
  } catch (err) {
    try {
      conn?.close();
    } catch { /* already closed */ }
    if (timedOut && !(err instanceof WebSocketHandshakeTimeout)) {
      throw new WebSocketHandshakeTimeout(`no answer within ${timeoutMs} ms`);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Reads an HTTP response head (up to 16 KiB) and the bytes after it. */
async function readHead(c: Deno.Conn): Promise<{ head: string; rest: Uint8Array }> {
  let buf = new Uint8Array(4096);
  let n = 0;
  for (;;) {
    if (n === buf.length) {
      if (buf.length >= 16384) throw new WebSocketUpgradeError("the hub's answer head is too long");
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
          head: new TextDecoder().decode(buf.subarray(0, i + 1)),
          rest: buf.slice(i + 1, n),
        };
      }
    }
  }
}
