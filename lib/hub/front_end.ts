/**
 * The hub's network front end on one TCP port: the accept loop that survives
 * descriptor exhaustion ({@link acceptLoop}), HTTP/1.1 with bounded heads and
 * bodies and deadlines ({@link serveHttp1}), the cap on unauthenticated
 * connections ({@link PendingConnections}), and RFC 6455 WebSockets
 * ({@link ServerWebSocket}) with size limits checked before buffering and idle
 * pings. Requests reach a fetch-style handler, as with `Deno.serve`; a handler
 * upgrades with {@link FrontEnd.upgradeWebSocket} the way it would with
 * `Deno.upgradeWebSocket`.
 *
 * Why not `Deno.serve`: it offers no header timeout, no WebSocket message limit
 * before buffering, no mask check, and its accept loop ends the process on EMFILE.
 *
 * @module
 */
import { escapeForLog, logger } from "../log/mod.ts";
import { MAX_SIGNAL_BYTES } from "../protocol/mod.ts";
import { acceptLoop } from "./listener.ts";
import { type FetchHandler, serveHttp1 } from "./http1.ts";
import { MAX_UNAUTHENTICATED, PendingConnections } from "./pending.ts";
import { frontClock, ServerWebSocket } from "./websocket.ts";

const log = logger("hub");

/** Deadline for a request head (Go's hub: `ReadHeaderTimeout` 10 s), ms. */
export const HEADER_TIMEOUT_MS = 10_000;
/** Deadline for a request body, ms. */
export const BODY_TIMEOUT_MS = 30_000;
/** Largest request head, bytes. */
export const MAX_HEAD_BYTES = 16 * 1024;
/**
 * Largest request body, bytes (256 KiB; the admin API takes at most 4 KiB). With
 * the head buffer and the copy a `Request` is built from, an unauthenticated
 * request holds well under 1 MiB.
 */
export const MAX_BODY_BYTES = 256 * 1024;
/**
 * Largest WebSocket message, bytes (192 KiB): a signaling text at the hub's
 * {@link MAX_SIGNAL_BYTES} UTF-16 units takes at most 3 bytes per unit in UTF-8,
 * and any relay frame fits. Read buffer, fragments, their concatenation and the
 * decoded text together stay under 1 MiB.
 */
export const MAX_MESSAGE_BYTES = 3 * MAX_SIGNAL_BYTES;
/** `idleTimeout` when the handler gives none, seconds (Deno's default). */
export const DEFAULT_WS_IDLE_TIMEOUT_S = 120;

/** The request does not ask for a WebSocket as RFC 6455 §4.2.1 requires. */
export class WebSocketUpgradeError extends Error {
  override name = "WebSocketUpgradeError";
}

/** Upgrades a request to a WebSocket; the same shape as `Deno.upgradeWebSocket`. */
export type WebSocketUpgrader = (
  req: Request,
  opts?: { idleTimeout?: number },
) => { socket: ServerWebSocket; response: Response };

/** Options of {@link startFrontEnd}. */
export interface FrontEndOptions {
  hostname: string;
  /** TCP port; 0 = any free port. */
  port: number;
  handler: FetchHandler;
  /** Deadline for each request head, ms (default {@link HEADER_TIMEOUT_MS}). */
  headerTimeoutMs?: number;
  /** Deadline for each request body, ms (default {@link BODY_TIMEOUT_MS}). */
  bodyTimeoutMs?: number;
  /** Largest request head, bytes (default {@link MAX_HEAD_BYTES}). */
  maxHeadBytes?: number;
  /** Largest request body, bytes (default {@link MAX_BODY_BYTES}). */
  maxBodyBytes?: number;
  /** Largest WebSocket message, bytes (default {@link MAX_MESSAGE_BYTES}). */
  maxMessageBytes?: number;
  /** Cap on unauthenticated connections (default {@link MAX_UNAUTHENTICATED}). */
  maxUnauthenticated?: number;
}

/** A serving front end. */
export interface FrontEnd {
  readonly addr: Deno.NetAddr;
  /** For the handler: answer an upgrade request with the returned response. */
  readonly upgradeWebSocket: WebSocketUpgrader;
  /** Unauthenticated connections held now. */
  readonly pendingCount: number;
  /**
   * Stops accepting, ends idle HTTP connections, lets requests in progress finish,
   * and after `graceMs` drops whatever is left (WebSockets should be closed first).
   */
  shutdown(graceMs: number): Promise<void>;
}

/**
 * Listens on `hostname:port` and serves until {@link FrontEnd.shutdown}.
 * @throws {Deno.errors.AddrInUse} when the port is taken (and the other `Deno.listen` errors).
 * @example
 * ```ts
 * const fe: FrontEnd = startFrontEnd({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: (req) => {
 *     if (req.headers.get("upgrade") !== "websocket") return new Response("hello\n");
 *     const { socket, response } = fe.upgradeWebSocket(req, { idleTimeout: 20 });
 *     socket.onmessage = (ev) => socket.send(ev.data); // echo
 *     return response;
 *   },
 * });
 * await fe.shutdown(1000);
 * ```
 */
export function startFrontEnd(opts: FrontEndOptions): FrontEnd {
  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
  const pending = new PendingConnections(opts.maxUnauthenticated ?? MAX_UNAUTHENTICATED);
  const upgrades = new WeakMap<Response, ServerWebSocket>();
  const sockets = new Set<ServerWebSocket>();
  const conns = new Set<Deno.TcpConn>();
  const tasks = new Set<Promise<void>>();
  const maxMessageBytes = opts.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  let draining = false;

  frontClock.now = performance.now();
  const sweeper = setInterval(() => {
    const now = frontClock.now = performance.now();
    for (const ws of sockets) {
      const half = ws.idleTimeoutMs / 2;
      if (ws.pingAt && ws.lastRx > ws.pingAt) ws.pingAt = 0;
      try {
        if (ws.pingAt) {
          if (now - ws.pingAt >= half) ws.fail(1001, "idle timeout");
        } else if (now - ws.lastRx >= half) {
          ws.pingAt = now;
          ws.ping();
        }
      } catch (err) {
        // A bug behind one socket's close handler must not end the process.
        log.error(
          `websocket idle check: ${escapeForLog((err as Error)?.stack ?? String(err), 2000)}`,
        );
      }
    }
  }, 500);

  const upgradeWebSocket: WebSocketUpgrader = (req, o) => {
    const upgrade = req.headers.get("upgrade")?.toLowerCase();
    const key = req.headers.get("sec-websocket-key") ?? "";
    if (req.method !== "GET" || upgrade !== "websocket") {
      throw new WebSocketUpgradeError(
        "not a WebSocket upgrade request (GET with Upgrade: websocket)",
      );
    }
    if (req.headers.get("sec-websocket-version") !== "13") {
      throw new WebSocketUpgradeError("Sec-WebSocket-Version must be 13");
    }
    if (!/^[A-Za-z0-9+/]{22}==$/.test(key)) {
      throw new WebSocketUpgradeError("Sec-WebSocket-Key must be 16 bytes in base64");
    }
    const socket = new ServerWebSocket({
      maxMessageBytes,
      idleTimeoutMs: (o?.idleTimeout ?? DEFAULT_WS_IDLE_TIMEOUT_S) * 1000,
    });
    // A placeholder: the connection writes the 101 when the handler returns it.
    const response = new Response(null, { status: 200 });
    upgrades.set(response, socket);
    return { socket, response };
  };

  const onConnection = (conn: Deno.TcpConn) => {
    if (draining) {
      conn.close();
      return;
    }
    try {
      conn.setNoDelay(true);
    } catch { /* closed already */ }
    conns.add(conn);
    const task = serveHttp1(conn, {
      handler: opts.handler,
      headerTimeoutMs: opts.headerTimeoutMs ?? HEADER_TIMEOUT_MS,
      bodyTimeoutMs: opts.bodyTimeoutMs ?? BODY_TIMEOUT_MS,
      maxHeadBytes: opts.maxHeadBytes ?? MAX_HEAD_BYTES,
      maxBodyBytes: opts.maxBodyBytes ?? MAX_BODY_BYTES,
      takeUpgrade: (res) => {
        const ws = upgrades.get(res);
        if (ws) upgrades.delete(res);
        return ws;
      },
      pending,
      draining: () => draining,
      onWebSocket: (ws, open) => open ? sockets.add(ws) : sockets.delete(ws),
    }).catch((err) => {
      log.error(`connection: ${escapeForLog((err as Error)?.stack ?? String(err), 2000)}`);
      try {
        conn.close();
      } catch { /* closed */ }
    }).finally(() => {
      conns.delete(conn);
      tasks.delete(task);
    });
    tasks.add(task);
  };
  const accepting = acceptLoop(listener, { onConnection });

  return {
    addr: listener.addr as Deno.NetAddr,
    upgradeWebSocket,
    get pendingCount() {
      return pending.size;
    },
    async shutdown(graceMs: number) {
      if (!draining) {
        draining = true;
        try {
          listener.close();
        } catch { /* closed */ }
        await accepting;
        pending.shedAll();
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((r) => timer = setTimeout(r, graceMs));
      await Promise.race([Promise.allSettled([...tasks]), grace]);
      clearTimeout(timer);
      for (const ws of sockets) ws.fail(1001, "hub shutting down");
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.allSettled([...tasks]);
      clearInterval(sweeper);
    },
  };
}
