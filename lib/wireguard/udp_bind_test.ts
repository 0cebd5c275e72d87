import assert from "node:assert/strict";
import { Device } from "./device.ts";
import { generateKeyPair } from "./keys.ts";
import { UdpBind, UdpBindError, udpEndpoint } from "./udp_bind.ts";
import { ipv4, text } from "./_test_util.ts";

async function waitUntil(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("two devices over real UDP sockets on 127.0.0.1 exchange packets both ways", async () => {
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const gotA: Uint8Array[] = [];
  const gotB: Uint8Array[] = [];
  const bindA = new UdpBind({ hostname: "127.0.0.1" });
  const bindB = new UdpBind({ hostname: "127.0.0.1" });
  const a = new Device({
    privateKey: ka.privateKey,
    bind: bindA,
    onPacket: (p) => gotA.push(p.slice()),
  });
  const b = new Device({
    privateKey: kb.privateKey,
    bind: bindB,
    onPacket: (p) => gotB.push(p.slice()),
  });
  try {
    await a.ready;
    await b.ready;
    assert.notEqual(bindA.localAddr.port, 0);
    // B learns A's endpoint from A's handshake (roaming); only A is told where B is.
    b.addPeer({ publicKey: ka.publicKey, allowedIPs: ["10.77.1.1/32"] });
    a.addPeer({
      publicKey: kb.publicKey,
      allowedIPs: ["10.77.1.2/32"],
      endpoint: udpEndpoint("127.0.0.1", bindB.localAddr.port),
    });
    const big = new Uint8Array(1080).map((_, i) => i & 0xff);
    for (let i = 0; i < 50; i++) a.sendPacket(ipv4("10.77.1.1", "10.77.1.2", big));
    await waitUntil("50 packets at B", () => gotB.length >= 50);
    assert.deepEqual(gotB[49].subarray(20), big);
    b.sendPacket(ipv4("10.77.1.2", "10.77.1.1", text("back over udp")));
    await waitUntil("reply at A", () => gotA.length === 1);
    assert.equal(new TextDecoder().decode(gotA[0].subarray(20)), "back over udp");
    assert.equal(
      b.peers[0].endpoint && (b.peers[0].endpoint as Deno.NetAddr).port,
      bindA.localAddr.port,
    );
    assert.equal(a.stats.droppedTotal + b.stats.droppedTotal, 0);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("a UDP bind on a port already in use fails with a message naming the address", () => {
  const holder = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (holder.addr as Deno.NetAddr).port;
    const bind = new UdpBind({ hostname: "127.0.0.1", port });
    assert.throws(
      () => new Device({ privateKey: generateKeyPair().privateKey, bind, onPacket: () => {} }),
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`),
    );
  } finally {
    holder.close();
  }
});

Deno.test("a UDP bind used out of order or on a taken port throws UdpBindError", () => {
  const holder = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (holder.addr as Deno.NetAddr).port;
    assert.throws(() => new UdpBind().localAddr, UdpBindError);
    const bind = new UdpBind({ hostname: "127.0.0.1", port });
    assert.throws(() => bind.open(() => {}), UdpBindError);
  } finally {
    holder.close();
  }
});
