/**
 * Hub bridges against hostile or silent remote hubs (spec session-and-relay.md §3.7): a
 * remote hub that completes the WebSocket upgrade and then never reads nor answers must not
 * keep this hub's sockets (the Close times out and the TCP connection is dropped), one
 * `bridges:` entry carries at most a bounded number of sessions, and the remote hub cannot
 * push oversized frames or unbounded text through to the client.
 */
import assert from "node:assert/strict";
import { Bridges } from "../../lib/hub/bridge.ts";
import type { History } from "../../lib/hub/history.ts";
import { MAX_FRAME_BYTES, Relay } from "../../lib/hub/relay.ts";
import type { HubSocket } from "../../lib/hub/socket.ts";
import type { HubWebSocket } from "../../lib/hub/websocket.ts";
import { acceptKey } from "../../lib/hub/websocket.ts";
import { type ConnectMessage, encodeRelayFrame } from "../../lib/protocol/mod.ts";
import { fakeKey, waitFor } from "./scripted_peers.ts";

const history = { record() {} } as unknown as History;

/** A fake client socket of hub A: records what it is sent and how it is closed. */
function fakeClient(id: number, bufferedAmount = () => 0) {
  const sent: (string | number)[] = [];
  const closes: { code?: number; reason?: string }[] = [];
  let state = 1;
  const ws = {
    binaryType: "arraybuffer",
    get readyState() {
      return state;
    },
    get bufferedAmount() {
      return bufferedAmount();
    },
    onmessage: null,
    onclose: null,
    onerror: null,
    send(d: string | Uint8Array | ArrayBuffer) {
      sent.push(typeof d === "string" ? d : (d as Uint8Array).byteLength);
    },
    close(code?: number, reason?: string) {
      closes.push({ code, reason });
      state = 3;
    },
  } as unknown as HubWebSocket;
  const s: HubSocket = {
    id,
    ws,
    remote: `client-${id}`,
    role: "client",
    closed: false,
    sendFrame() {},
  };
  return { s, sent, closes };
}

function connect(i: number): ConnectMessage {
  return { type: "connect", machineId: "m", wgPubKey: fakeKey(i) } as ConnectMessage;
}

/**
 * A "remote hub" on loopback that answers the WebSocket upgrade and then neither reads nor
 * writes (unless `after` is given: it then gets the connection to script).
 */
function fakeRemote(after?: (c: Deno.Conn) => Promise<void>) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const work: Promise<void>[] = [];
  const loop = (async () => {
    for await (const c of listener) {
      accepted.push(c);
      work.push(
        (async () => {
          const buf = new Uint8Array(4096);
          const n = await c.read(buf);
          const req = new TextDecoder().decode(buf.subarray(0, n ?? 0));
          const key = /Sec-WebSocket-Key: (.*)\r\n/i.exec(req)![1].trim();
          await c.write(
            new TextEncoder().encode(
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
            ),
          );
          if (after) await after(c);
        })().catch(() => {}),
      );
    }
  })();
  return {
    url: `ws://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    accepted,
    /** True when the hub's side of `c` is closed (a read gives EOF or fails). */
    async hubClosed(c: Deno.Conn): Promise<boolean> {
      const buf = new Uint8Array(65536);
      for (;;) {
        try {
          if ((await c.read(buf)) === null) return true;
        } catch {
          return true;
        }
      }
    },
    async close() {
      listener.close();
      await loop.catch(() => {});
      for (const c of accepted) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.all(work);
    },
  };
}

Deno.test("bridge: a silent remote hub does not keep this hub's sockets (close timeout)", async () => {
  const remote = fakeRemote();
  const bridges = new Bridges(
    [{ hubId: "stall", url: remote.url, token: "SECRET", maxHops: 8, machines: ["m"] }],
    {
      hubId: "a",
      relay: new Relay(),
      history,
      udpPort: 0,
      dialTimeoutMs: 2000,
      setupTimeoutMs: 300,
      closeTimeoutMs: 500,
    },
  );
  try {
    const N = 5;
    const clients = Array.from({ length: N }, (_, i) => fakeClient(i));
    for (const [i, c] of clients.entries()) bridges.open(c.s, connect(i), bridges.route("m")!);
    await waitFor(() => remote.accepted.length === N, "all bridge dials accepted");
    await waitFor(() => bridges.sessionCount === 0, "setups failed after 300 ms");
    for (const c of clients) {
      assert.ok(c.sent.some((t) => String(t).includes("Bridge session setup failed")));
    }
    // Each read below ends only when hub A drops its side: the Close got no answer in 500 ms.
    const closed = await Promise.race([
      Promise.all(remote.accepted.map((c) => remote.hubClosed(c))),
      new Promise<"open">((r) => {
        const t = setTimeout(() => r("open"), 10_000);
        Deno.unrefTimer(t);
      }),
    ]);
    assert.notEqual(closed, "open", "hub A's bridge sockets are still open 10 s later");
  } finally {
    bridges.closeAll();
    await remote.close();
  }
});

Deno.test("bridge: one bridges: entry carries at most maxSessionsPerRoute sessions", async () => {
  const remote = fakeRemote();
  const bridges = new Bridges(
    [{ hubId: "stall", url: remote.url, token: "SECRET", maxHops: 8, machines: ["m"] }],
    {
      hubId: "a",
      relay: new Relay(),
      history,
      udpPort: 0,
      setupTimeoutMs: 60_000,
      closeTimeoutMs: 200,
      maxSessionsPerRoute: 3,
    },
  );
  try {
    const clients = Array.from({ length: 4 }, (_, i) => fakeClient(i));
    for (const [i, c] of clients.entries()) bridges.open(c.s, connect(i), bridges.route("m")!);
    assert.equal(bridges.sessionCount, 3);
    assert.deepEqual(clients[3].sent, [
      '{"message":"Too many sessions for this machine (max 254)","type":"error"}',
    ]);
    assert.equal(clients[3].closes[0].code, 1008);
    await waitFor(() => remote.accepted.length === 3, "three dials");
    // One ends: a new session fits again.
    clients[0].s.bridged!.end("client");
    const late = fakeClient(9);
    bridges.open(late.s, connect(9), bridges.route("m")!);
    assert.equal(bridges.sessionCount, 3);
    assert.deepEqual(late.sent, []);
    await waitFor(() => remote.accepted.length === 4, "the late dial");
  } finally {
    bridges.closeAll();
    await remote.close();
  }
});

/**
 * A "remote hub" (Deno.serve) that answers the bridge's `connect` with `ready` and then
 * sends what `script` sends on its socket.
 */
function scriptedRemote(script: (ws: WebSocket) => void) {
  const closed = Promise.withResolvers<number>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = () => {
      socket.send(JSON.stringify({ type: "ready", sessionIdx: 1 }));
      script(socket);
    };
    socket.onclose = (ev) => closed.resolve(ev.code);
    return response;
  });
  /** The close code hub A's bridge socket ended with; fails when it stays open 5 s. */
  const bridgeClosed = () => {
    let t: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      closed.promise,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error("the bridge socket is still open 5 s later")), 5000);
      }),
    ]).finally(() => clearTimeout(t));
  };
  return { url: `ws://127.0.0.1:${server.addr.port}`, bridgeClosed, server };
}

function bridgesTo(url: string) {
  return new Bridges(
    [{ hubId: "b", url, token: "t", maxHops: 8, machines: ["m"] }],
    { hubId: "a", relay: new Relay(), history, udpPort: 0, closeTimeoutMs: 500 },
  );
}

Deno.test("bridge: a frame over MAX_FRAME_BYTES from the remote hub ends the session (1009)", async () => {
  const big = new Uint8Array(MAX_FRAME_BYTES + 1);
  big[0] = 0x54; // relay frame version
  big[1] = 8;
  const remote = scriptedRemote((ws) => {
    ws.send(encodeRelayFrame(new Uint8Array(100)));
    ws.send(big);
    ws.send(encodeRelayFrame(new Uint8Array(200)));
  });
  const bridges = bridgesTo(remote.url);
  const c = fakeClient(1);
  try {
    bridges.open(c.s, connect(1), bridges.route("m")!);
    assert.equal(await remote.bridgeClosed(), 1009, "the bridge WebSocket is closed with 1009");
    await waitFor(() => bridges.sessionCount === 0, "bridged session ended");
    const binaries = c.sent.filter((x) => typeof x === "number");
    assert.deepEqual(binaries, [107], "only the frame before the oversized one reached the client");
    assert.deepEqual(c.closes.at(-1), { code: 1001, reason: "bridge session ended" });
  } finally {
    bridges.closeAll();
    await remote.server.shutdown();
  }
});

Deno.test("bridge: text for a client that does not read ends the session", async () => {
  const remote = scriptedRemote((ws) => {
    ws.send(JSON.stringify({ type: "wg-pubkey", wgPubKey: fakeKey(2) }));
  });
  const bridges = bridgesTo(remote.url);
  const c = fakeClient(1, () => 5 * 1024 * 1024); // over the relay's 4 MiB
  try {
    bridges.open(c.s, connect(1), bridges.route("m")!);
    await remote.bridgeClosed();
    await waitFor(() => bridges.sessionCount === 0, "bridged session ended");
    assert.ok(!c.sent.some((x) => String(x).includes("wg-pubkey")), "text not queued");
    assert.deepEqual(c.closes.at(-1), { code: 1001, reason: "bridge session ended" });
  } finally {
    bridges.closeAll();
    await remote.server.shutdown();
  }
});
