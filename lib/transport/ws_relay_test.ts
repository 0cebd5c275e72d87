import assert from "node:assert/strict";
import { SignalSocket } from "../session/mod.ts";
import { WsRelayBind } from "./mod.ts";

/** A WebSocket server on 127.0.0.1 whose server-side socket the test drives. */
async function wsPair() {
  let serverWs!: WebSocket;
  let server!: Deno.HttpServer<Deno.NetAddr>;
  const opened = new Promise<void>((r) => {
    server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      serverWs = socket;
      socket.binaryType = "arraybuffer";
      socket.onopen = () => r();
      return response;
    });
  });
  const sock = await SignalSocket.dial(`ws://127.0.0.1:${server.addr.port}`);
  await opened;
  return { sock, serverWs, server };
}

Deno.test("relay bind: DATA frames in and out, CONTROL keepalive answered, junk dropped", async () => {
  const { sock, serverWs, server } = await wsPair();
  const fromClient: Uint8Array[] = [];
  serverWs.onmessage = (ev) => fromClient.push(new Uint8Array(ev.data as ArrayBuffer));
  const bind = new WsRelayBind(sock);
  const received: number[][] = [];
  bind.open((d) => received.push([...d]));

  // Out: header(0x54, hop 0, DATA, own session id) + datagram.
  bind.send(new Uint8Array([1, 2, 3]), "ws");
  // In: hop 7 from the hub, DATA → the datagram; CONTROL 0x01 → answered 0x02.
  serverWs.send(new Uint8Array([0x54, 7, 0, 9, 9, 9, 9, 4, 0, 0, 0]));
  serverWs.send(new Uint8Array([0x54, 7, 1, 9, 9, 9, 9, 0x01]));
  serverWs.send(new Uint8Array([0x55, 7, 0, 9, 9, 9, 9, 4])); // bad magic
  serverWs.send(new Uint8Array([0x54, 7])); // too short
  bind.outstandingSince = 123;
  serverWs.send(new Uint8Array([0x54, 7, 1, 9, 9, 9, 9, 0x02]));
  const deadline = Date.now() + 5000;
  while ((fromClient.length < 2 || bind.outstandingSince !== 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const sid = bind.sessionId;
  const sidBytes = [sid >>> 24, (sid >>> 16) & 255, (sid >>> 8) & 255, sid & 255];
  assert.deepEqual([...fromClient[0]], [0x54, 0, 0, ...sidBytes, 1, 2, 3]);
  assert.deepEqual([...fromClient[1]], [0x54, 0, 1, ...sidBytes, 0x02]);
  assert.deepEqual(received, [[4, 0, 0, 0]]);
  assert.equal(bind.droppedMalformed, 2);
  assert.equal(bind.outstandingSince, 0, "a 0x02 response clears the outstanding request");
  sock.close();
  await sock.closed;
  await server.shutdown();
});

Deno.test("relay bind: with headroom the header goes in front of the datagram; reused buffers arrive intact", async () => {
  const { sock, serverWs, server } = await wsPair();
  const fromClient: Uint8Array[] = [];
  serverWs.onmessage = (ev) => fromClient.push(new Uint8Array(ev.data as ArrayBuffer));
  const bind = new WsRelayBind(sock);
  bind.open(() => {});
  // One store reused for every send, like WireGuard's transport buffer: the datagram
  // sits 16 octets in, and is overwritten right after each send. Deno's WebSocket must
  // have copied it at send() for this to arrive intact.
  const store = new Uint8Array(16 + 100);
  const N = 200;
  for (let i = 0; i < N; i++) {
    store.fill(0xee);
    const datagram = store.subarray(16, 16 + 5 + (i % 50));
    datagram.fill(i & 255);
    bind.send(datagram, "ws", 16);
    store.fill(0xdd);
  }
  // A datagram without headroom still works (copied into a frame).
  bind.send(new Uint8Array([9, 8, 7]), "ws", 0);
  const deadline = Date.now() + 5000;
  while (fromClient.length < N + 1 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const sid = bind.sessionId;
  const header = [0x54, 0, 0, sid >>> 24, (sid >>> 16) & 255, (sid >>> 8) & 255, sid & 255];
  assert.equal(fromClient.length, N + 1);
  for (let i = 0; i < N; i++) {
    const want = [...header, ...new Array(5 + (i % 50)).fill(i & 255)];
    assert.deepEqual([...fromClient[i]], want, `frame ${i}`);
  }
  assert.deepEqual([...fromClient[N]], [...header, 9, 8, 7]);
  sock.close();
  await sock.closed;
  await server.shutdown();
});
