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
import { Relay } from "../../lib/hub/relay.ts";
import type { HubSocket } from "../../lib/hub/socket.ts";
import type { HubWebSocket } from "../../lib/hub/websocket.ts";
import { acceptKey } from "../../lib/hub/websocket.ts";
import type { ConnectMessage } from "../../lib/protocol/mod.ts";
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
