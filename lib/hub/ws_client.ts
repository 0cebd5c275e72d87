/**
 * The hub's own outbound WebSocket (the bridge dial, bridge.ts): a TCP or TLS connection
 * (`Deno.connect` / `Deno.connectTls`), the RFC 6455 §4.1 client handshake with a random
 * `Sec-WebSocket-Key` whose `Sec-WebSocket-Accept` is checked, then the framing of
 * websocket.ts in client mode (frames sent are masked, frames received are size-checked from
 * their header).
 *
 * Why not the runtime's `WebSocket`: its `close()` waits for the peer's Close frame for ever,
 * so a remote hub that stops answering kept this hub's socket (a descriptor) open until the
 * process ended. Here a Close that gets no answer within `closeTimeoutMs` drops the TCP
 * connection.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { HubTimeoutError } from "../session/hub_error.ts";
import { acceptKey, ServerWebSocket } from "./websocket.ts";
import { frontClock } from "./websocket.ts";

/** Largest HTTP response head accepted from the remote hub, bytes (16 KiB). */
export const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;
/** Default time a Close of ours has to be answered before the TCP connection is dropped, ms. */
export const CLIENT_CLOSE_TIMEOUT_MS = 5_000;

/** Options of {@link dialWebSocket}. */
export interface DialOptions {
  /** Deadline for TCP (and TLS) connect plus the HTTP upgrade, ms. */
  timeoutMs: number;
  /** Largest message accepted (all fragments together), bytes; larger ones close with 1009. */
  maxMessageBytes: number;
  /** Time the peer has to answer our Close, ms (default {@link CLIENT_CLOSE_TIMEOUT_MS}). */
  closeTimeoutMs?: number;
  /** Most bytes queued for a peer that does not read, bytes (websocket.ts default otherwise). */
  maxBufferedBytes?: number;
}

/**
 * Opens a client WebSocket to `url` (no subprotocol, no extensions; spec
 * session-and-relay.md §1.2, §3.7 step 2).
 * @param url `ws://host[:port]/path` or `wss://...`.
 * @returns an open socket (readyState 1) with the {@link ServerWebSocket} API.
 * @throws {HubTimeoutError} when connect and upgrade take longer than `timeoutMs`;
 *   `Deno.errors.ConnectionRefused` and the other connect/TLS errors as thrown;
 *   `Error("Invalid status code: <n>")` when the answer is not `101`, and an `Error`
 *   naming the header when `Upgrade`, `Connection` or `Sec-WebSocket-Accept` is wrong.
 */
export async function dialWebSocket(url: string, opts: DialOptions): Promise<ServerWebSocket> {
  const u = new URL(url);
  if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw new TypeError(`not a ws:// or wss:// URL: ${url}`);
  }
  const tls = u.protocol === "wss:";
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  const port = u.port ? Number(u.port) : tls ? 443 : 80;
  let conn: Deno.Conn | undefined;
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      try {
        conn?.close(); // a read or write in progress fails at once
      } catch { /* closed */ }
      reject(new HubTimeoutError(opts.timeoutMs, "WebSocket handshake"));
    }, opts.timeoutMs);
  });
  deadline.catch(() => {});
  try {
    const connecting = tls ? Deno.connectTls({ hostname, port }) : Deno.connect({ hostname, port });
    let c: Deno.Conn;
    try {
      c = await Promise.race([connecting, deadline]);
    } catch (err) {
      // A connect that outlives the deadline is closed as soon as it completes.
      connecting.then((late) => late.close(), () => {});
      throw err;
    }
    conn = c;
    if (timedOut) throw new HubTimeoutError(opts.timeoutMs, "WebSocket handshake");
    if (!tls) (c as Deno.TcpConn).setNoDelay?.(true);
    const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
    const path = (u.pathname || "/") + u.search;
    const head = `GET ${path} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
    const bytes = new TextEncoder().encode(head);
    let off = 0;
    while (off < bytes.length) off += await c.write(bytes.subarray(off));
    // Read the response head; bytes after it are the first frames.
    let buf = new Uint8Array(4096);
    let end = 0;
    let headEnd = -1;
    while (headEnd < 0) {
      if (end === buf.length) {
        if (buf.length >= MAX_RESPONSE_HEAD_BYTES) {
          throw new Error(`WebSocket upgrade response head over ${MAX_RESPONSE_HEAD_BYTES} bytes`);
        }
        const grown = new Uint8Array(buf.length * 2);
        grown.set(buf);
        buf = grown;
      }
      const n = await c.read(buf.subarray(end));
      if (n === null) throw new Error("connection closed during the WebSocket upgrade");
      const from = Math.max(0, end - 3);
      end += n;
      for (let i = from; i + 3 < end; i++) {
        if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) {
          headEnd = i + 4;
          break;
        }
      }
    }
    if (timedOut) throw new HubTimeoutError(opts.timeoutMs, "WebSocket handshake");
    const lines = new TextDecoder().decode(buf.subarray(0, headEnd - 4)).split("\r\n");
    const status = /^HTTP\/1\.1 (\d{3})(?: |$)/.exec(lines[0]);
    if (!status) throw new Error(`invalid HTTP version parsed: ${lines[0].slice(0, 40)}`);
    if (status[1] !== "101") throw new Error(`Invalid status code: ${status[1]}`);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    if (headers.get("upgrade")?.toLowerCase() !== "websocket") {
      throw new Error("WebSocket upgrade refused: no Upgrade: websocket in the 101 response");
    }
    if (!/(^|,)\s*upgrade\s*(,|$)/i.test(headers.get("connection") ?? "")) {
      throw new Error("WebSocket upgrade refused: no Connection: Upgrade in the 101 response");
    }
    if (headers.get("sec-websocket-accept") !== acceptKey(key)) {
      throw new Error("WebSocket upgrade refused: wrong Sec-WebSocket-Accept");
    }
    clearTimeout(timer);
    const ws = new ServerWebSocket({
      maxMessageBytes: opts.maxMessageBytes,
      idleTimeoutMs: 0,
      closeTimeoutMs: opts.closeTimeoutMs ?? CLIENT_CLOSE_TIMEOUT_MS,
      maxBufferedBytes: opts.maxBufferedBytes,
      client: true,
    });
    ws.attach(c, buf.slice(headEnd, end), frontClock.now).catch(() => {/* ends in onclose */});
    return ws;
  } catch (err) {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed */ }
    if (timedOut && !(err instanceof HubTimeoutError)) {
      throw new HubTimeoutError(opts.timeoutMs, "WebSocket handshake");
    }
    throw err;
  }
}
