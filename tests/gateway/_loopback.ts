/**
 * Test fixtures for the path gateway over loopback TCP: a real {@link PathGateway} whose client
 * side is each accepted loopback connection (it plays the tunnel connection) and whose
 * upstreams are raw TCP backends that record every byte they receive, so a test sees exactly
 * what the gateway sent upstream (request smuggling shows as a second request there).
 * @module
 */
import { type GatewayRoute, PathGateway } from "../../lib/gateway/mod.ts";
import { socketDuplex } from "../../lib/session/pipe.ts";
import type { TunnelConn } from "../../lib/session/mod.ts";

export const enc = new TextEncoder();
export const dec = new TextDecoder();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One connection a raw backend accepted: the bytes it received so far and whether it is open. */
export interface BackendConn {
  data: string;
  open: boolean;
  conn: Deno.Conn;
}

/** A raw TCP backend on 127.0.0.1; `reply` is called after each read with the bytes so far. */
export function rawBackend(reply?: (conn: Deno.Conn, got: string, rec: BackendConn) => void) {
  const conns: BackendConn[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const loops: Promise<void>[] = [];
  const accept = (async () => {
    for await (const c of listener) {
      const rec: BackendConn = { data: "", open: true, conn: c };
      conns.push(rec);
      loops.push((async () => {
        const buf = new Uint8Array(65536);
        try {
          for (;;) {
            const n = await c.read(buf);
            if (n === null) break;
            rec.data += dec.decode(buf.subarray(0, n));
            reply?.(c, rec.data, rec);
          }
        } catch { /* reset or closed by close() */ }
        rec.open = false;
        try {
          c.close();
        } catch { /* closed */ }
      })());
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    conns,
    async close() {
      listener.close();
      for (const r of conns) {
        try {
          r.conn.close();
        } catch { /* closed */ }
      }
      await accept;
      await Promise.all(loops);
    },
  };
}

/** Writes `text` to `conn`, ignoring a reset. */
export function send(conn: Deno.Conn, text: string): Promise<void> {
  return conn.write(enc.encode(text)).then(() => {}, () => {});
}

/** A backend answer once a request head has arrived (`got` holds CRLF CRLF). */
export function answerAfterHead(response: string) {
  return (c: Deno.Conn, got: string, rec: BackendConn & { answered?: boolean }) => {
    if (!rec.answered && got.includes("\r\n\r\n")) {
      rec.answered = true;
      send(c, response);
    }
  };
}

/** A PathGateway served on a loopback listener; log lines collected in `logs`. */
export function startGateway(routes: GatewayRoute[]) {
  const logs: string[] = [];
  const gw = new PathGateway({
    config: { port: 1, routes },
    targetHost: "127.0.0.1",
    localAddress: "10.77.1.1",
    clientAddress: "10.77.1.2",
    dial: async (h, p) => {
      const c = await Deno.connect({ hostname: h, port: p });
      c.setNoDelay(true);
      return socketDuplex(c);
    },
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served: Promise<void>[] = [];
  const accept = (async () => {
    for await (const c of listener) {
      const d = socketDuplex(c);
      const conn: TunnelConn = {
        ...d,
        abort: () => {
          try {
            c.close();
          } catch { /* closed */ }
        },
      } as unknown as TunnelConn;
      served.push(gw.serve(conn));
    }
  })();
  return {
    gw,
    logs,
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      gw.close();
      await accept;
      await Promise.all(served);
    },
  };
}

/** A client connection to `port` that collects everything it reads; `closed` when EOF/reset. */
export async function client(port: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const state = { text: "", eof: false };
  const done = (async () => {
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        state.text += dec.decode(buf.subarray(0, n));
      }
    } catch { /* reset or closed */ }
    state.eof = true;
  })();
  return {
    conn,
    state,
    send: (t: string) => send(conn, t),
    /** Waits (bounded) until `pred` holds on what was read, or EOF. */
    async until(pred: (text: string) => boolean, ms = 5000) {
      const end = Date.now() + ms;
      while (!pred(state.text) && !state.eof && Date.now() < end) await sleep(10);
      return state.text;
    },
    async close() {
      try {
        conn.close();
      } catch { /* closed */ }
      await done;
    },
    done,
  };
}

/** Sends `request`, reads until the gateway closes or `ms` passed, returns what came back. */
export async function exchange(port: number, request: string, ms = 2000): Promise<string> {
  const c = await client(port);
  await c.send(request);
  await Promise.race([c.done, sleep(ms)]);
  await c.close();
  return c.state.text;
}

/** Waits (bounded) until `pred()` holds. */
export async function waitFor(pred: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(10);
  return pred();
}
