/**
 * The TCP_NODELAY WebSocket client against two real servers on loopback: our hub's front
 * end and the runtime's own `Deno.serve` + `Deno.upgradeWebSocket` (an independent RFC 6455
 * implementation); plus the failures `SignalSocket.dial` relies on.
 */
import assert from "node:assert/strict";
import { startFrontEnd } from "../../lib/hub/front_end.ts";
import {
  acceptKey,
  type HubCloseEvent,
  type HubMessageEvent,
  type ServerWebSocket,
} from "../../lib/transport/websocket.ts";
import { classifyHubError } from "../../lib/session/hub_error.ts";
import {
  dialWebSocket,
  directDialPossible,
  WebSocketHandshakeTimeout,
  WebSocketUpgradeError,
} from "../../lib/transport/ws_client.ts";

/** Messages of `ws` as they arrive; `next()` waits for the next one. */
function inbox(ws: ServerWebSocket) {
  const got: (string | Uint8Array)[] = [];
  let wake: (() => void) | null = null;
  let closed: HubCloseEvent | null = null;
  ws.onmessage = (ev: HubMessageEvent) => {
    got.push(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data));
    wake?.();
  };
  ws.onclose = (ev) => {
    closed = ev;
    wake?.();
  };
  return {
    async next(): Promise<string | Uint8Array> {
      for (let i = 0; i < 1000 && got.length === 0 && !closed; i++) {
        await new Promise<void>((r) => (wake = r));
      }
      const m = got.shift();
      if (m === undefined) throw new Error(`socket closed: ${JSON.stringify(closed)}`);
      return m;
    },
    closed: () => closed,
  };
}

/** Text and binary messages of every header size, echoed byte-exact. */
async function exchange(url: string) {
  const ws = await dialWebSocket(url, 5000);
  const box = inbox(ws);
  try {
    assert.equal(ws.readyState, 1);
    ws.send('{"type":"hello"}');
    assert.equal(await box.next(), '{"type":"hello"}');
    for (const len of [0, 1, 63, 64, 125, 126, 1139, 65535, 65536, 65063, 200_000]) {
      const data = new Uint8Array(len).map((_, i) => (i * 13 + len) & 0xff);
      ws.send(data);
      assert.deepEqual(await box.next(), data, `binary of ${len} octets`);
    }
    // Several frames queued in one turn (one write) come back in order.
    for (let k = 0; k < 20; k++) ws.send(new Uint8Array([k, 0x54, k]));
    for (let k = 0; k < 20; k++) assert.deepEqual(await box.next(), new Uint8Array([k, 0x54, k]));
  } finally {
    ws.close(1000, "done");
  }
  for (let i = 0; i < 200 && !box.closed(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(box.closed()?.code, 1000, "the closing handshake completes");
}

Deno.test("the client talks to our hub's front end: text, binary 0..200000 octets, close", async () => {
  const fe = startFrontEnd({
    hostname: "127.0.0.1",
    port: 0,
    handler: (req) => {
      const { socket, response } = fe.upgradeWebSocket(req, { idleTimeout: 60 });
      socket.onmessage = (ev) => socket.send(ev.data);
      return response;
    },
    maxMessageBytes: 1 << 20,
  });
  try {
    await exchange(`ws://127.0.0.1:${fe.addr.port}/ws?x=1`);
  } finally {
    await fe.shutdown(500);
  }
});

Deno.test("the client talks to the runtime's own WebSocket server (an independent implementation)", async () => {
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    paths.push(new URL(req.url).pathname + new URL(req.url).search);
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    socket.onmessage = (ev) => socket.send(ev.data);
    return response;
  });
  try {
    await exchange(`ws://127.0.0.1:${server.addr.port}/a/b?c=d`);
    assert.deepEqual(paths, ["/a/b?c=d"], "path and query are sent as given");
  } finally {
    await server.shutdown();
  }
});

Deno.test("an answer other than 101 is a WebSocketUpgradeError naming the status line", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("no", { status: 404 }),
  );
  try {
    await assert.rejects(
      dialWebSocket(`ws://127.0.0.1:${server.addr.port}/`, 5000),
      (e: Error) =>
        e instanceof WebSocketUpgradeError && /404/.test(e.message) &&
        classifyHubError(e) === "http-status",
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("an answer that is not HTTP is classified tls-expected (a TLS server's alert)", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const answering = (async () => {
    const c = await l.accept();
    await c.read(new Uint8Array(4096));
    // A TLS 1.2 alert record (handshake failure), as a TLS-only port answers plain HTTP.
    await c.write(new Uint8Array([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28, 13, 10, 13, 10]));
    c.close();
  })();
  try {
    await assert.rejects(
      dialWebSocket(`ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/`, 5000),
      (e: Error) => e instanceof WebSocketUpgradeError && classifyHubError(e) === "tls-expected",
    );
  } finally {
    await answering;
    l.close();
  }
});

Deno.test("a server that never answers the upgrade is a WebSocketHandshakeTimeout", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of l) held.push(c);
  })();
  try {
    await assert.rejects(
      dialWebSocket(`ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/`, 300),
      (e: Error) => e instanceof WebSocketHandshakeTimeout && classifyHubError(e) === "timeout",
    );
  } finally {
    l.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
  }
});

Deno.test("a refused connection is the runtime's ConnectionRefused (SignalSocket then re-dials)", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  await assert.rejects(
    dialWebSocket(`ws://127.0.0.1:${port}/`, 5000),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("direct dialing: ws and wss URLs only, never with a proxy in the environment", () => {
  const saved = ["HTTP_PROXY", "https_proxy"].map((k) => [k, Deno.env.get(k)] as const);
  try {
    for (const [k] of saved) Deno.env.delete(k);
    assert.equal(directDialPossible("ws://hub:8080/"), true);
    assert.equal(directDialPossible("wss://hub/"), true);
    assert.equal(directDialPossible("http://hub/"), false);
    Deno.env.set("https_proxy", "http://proxy:3128");
    assert.equal(directDialPossible("wss://hub/"), false);
  } finally {
    for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
  }
});

Deno.test("client liveness (spec §1.5): pings a silent hub, closes when nothing comes back", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let fromClient = 0;
  let conn: Deno.Conn | undefined;
  const serving = (async () => {
    const c = conn = await l.accept();
    const buf = new Uint8Array(4096);
    const n = await c.read(buf);
    const head = new TextDecoder().decode(buf.subarray(0, n!));
    const key = head.match(/Sec-WebSocket-Key: (\S+)/i)![1];
    await c.write(
      new TextEncoder().encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
      ),
    );
    for (;;) { // never answers anything
      const m = await c.read(buf).catch(() => null);
      if (m === null) break;
      fromClient += m;
    }
  })();
  try {
    const ws = await dialWebSocket(`ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/`, {
      timeoutMs: 3000,
      liveness: { pingIntervalMs: 100, timeoutMs: 600 },
    });
    const closed = new Promise<HubCloseEvent>((r) => (ws.onclose = r));
    const ev = await Promise.race([
      closed,
      new Promise<null>((r) => setTimeout(() => r(null), 5000)),
    ]);
    assert.ok(ev, "closed after the liveness timeout");
    assert.ok(fromClient >= 2 * 6, `pings were sent (${fromClient} octets)`);
  } finally {
    conn?.close();
    l.close();
    await serving.catch(() => {});
  }
});
