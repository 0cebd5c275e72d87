import assert from "node:assert/strict";
import { ipv4, makePair, settle, text } from "./_test_util.ts";
import { Device } from "./device.ts";
import { generateKeyPair, generatePresharedKey } from "./keys.ts";
import { memoryBindPair } from "./memory_bind.ts";
import { CookieGenerator } from "./cookie.ts";
import { VirtualClock } from "../clock/mod.ts";
import { writeU32 } from "./messages.ts";

const AB = (s: string) => ipv4("10.77.1.1", "10.77.1.2", text(s));
const BA = (s: string) => ipv4("10.77.1.2", "10.77.1.1", text(s));

Deno.test("two devices complete a handshake and carry IP packets both ways", async () => {
  const t = makePair();
  try {
    t.wireA.record = t.wireB.record = true;
    const pkt = AB("hello from A");
    t.a.sendPacket(pkt);
    await settle();
    assert.equal(t.gotB.length, 1);
    assert.deepEqual(t.gotB[0], pkt);
    assert.ok(t.peerB.hasSession);
    const back = BA("reply from B, a little longer than sixteen");
    t.b.sendPacket(back);
    await settle();
    assert.deepEqual(t.gotA, [back]);
    assert.equal(t.a.stats.handshakesCompleted, 1);
    assert.equal(t.b.stats.handshakesCompleted, 1);
    assert.equal(t.a.stats.droppedTotal, 0);
    assert.equal(t.b.stats.droppedTotal, 0);
    // Exact wire sizes: initiation 148, response 92, transport 16 + padded-to-16 + 16.
    assert.deepEqual(t.wireA.sent.map((d) => [d[0], d.length]), [[1, 148], [4, 16 + 32 + 16]]);
    assert.deepEqual(t.wireB.sent.map((d) => [d[0], d.length]), [[2, 92], [4, 16 + 64 + 16]]);
    assert.equal(t.peerA.stats.rxBytes, 148 + 64);
  } finally {
    t.close();
  }
});

Deno.test("a preshared key is mixed in: equal keys work, different keys never complete", async () => {
  const psk = generatePresharedKey();
  const t = makePair({}, { presharedKey: psk });
  try {
    t.a.sendPacket(AB("with psk"));
    await settle();
    assert.equal(t.gotB.length, 1);
  } finally {
    t.close();
  }
  const u = makePair();
  try {
    u.a.removePeer(u.peerB);
    u.a.addPeer({
      publicKey: u.bKeys.publicKey,
      allowedIPs: ["10.77.1.2/32"],
      endpoint: "b",
      presharedKey: psk,
    });
    u.a.sendPacket(AB("psk mismatch"));
    await settle();
    assert.equal(u.gotB.length, 0);
    assert.equal(u.a.stats.dropped["handshake-invalid"], 1, "A cannot open B's response");
    assert.equal(u.b.stats.handshakesCompleted, 0);
  } finally {
    u.close();
  }
});

Deno.test("replayed transport messages and handshake initiations are rejected", async () => {
  const t = makePair();
  try {
    t.wireA.record = true;
    t.a.sendPacket(AB("once"));
    await settle();
    assert.equal(t.gotB.length, 1);
    const [initiation, data] = t.wireA.sent;
    t.wireB.inject(data, "a");
    t.wireB.inject(data, "a");
    assert.equal(t.gotB.length, 1, "replayed data not delivered");
    assert.equal(t.b.stats.dropped.replay, 2);
    t.wireB.inject(initiation, "a");
    assert.equal(t.b.stats.dropped["stale-timestamp"], 1, "replayed initiation refused");
  } finally {
    t.close();
  }
});

Deno.test("tampered and truncated messages of every type are dropped and counted", async () => {
  const t = makePair();
  try {
    t.wireA.record = t.wireB.record = true;
    t.a.sendPacket(AB("payload"));
    await settle();
    t.b.sendPacket(BA("answer"));
    await settle();
    const [initiation, data] = t.wireA.sent;
    const [response] = t.wireB.sent;
    const before = t.b.stats.droppedTotal;
    // A flipped bit anywhere in a transport message: header index/counter or ciphertext.
    for (const i of [5, 9, 16, 30, data.length - 1]) {
      const bad = data.slice();
      bad[i] ^= 0x40;
      t.wireB.inject(bad, "a");
    }
    assert.equal(t.gotB.length, 1);
    const d = t.b.stats.dropped;
    assert.equal((d["decrypt-failed"] ?? 0) + (d["unknown-index"] ?? 0), 5);
    // Tampered handshakes fail mac1.
    const badInit = initiation.slice();
    badInit[50] ^= 1;
    t.wireB.inject(badInit, "a");
    const badResp = response.slice();
    badResp[20] ^= 1;
    t.wireA.inject(badResp, "b");
    assert.equal(t.b.stats.dropped["bad-mac1"], 1);
    assert.equal(t.a.stats.dropped["bad-mac1"], 1);
    // Truncated (and extended) messages of every type.
    for (const m of [initiation, response, data]) {
      for (const len of [0, 1, 3, 4, 15, 31, m.length - 1]) t.wireB.inject(m.subarray(0, len), "a");
    }
    const grown = new Uint8Array(initiation.length + 1);
    grown.set(initiation);
    t.wireB.inject(grown, "a");
    assert.equal(t.b.stats.droppedTotal - before, 5 + 1 + 3 * 7 + 1);
    assert.equal(t.gotB.length, 1);
  } finally {
    t.close();
  }
});

Deno.test("an initiation with valid mac1 but a forged body is refused as invalid", () => {
  const clock = new VirtualClock(1_000_000);
  const [wire] = memoryBindPair();
  const b = generateKeyPair();
  const dev = new Device({ privateKey: b.privateKey, bind: wire, onPacket: () => {}, clock });
  try {
    const msg = new Uint8Array(148);
    msg[0] = 1;
    writeU32(msg, 4, 1234);
    crypto.getRandomValues(msg.subarray(8, 116));
    new CookieGenerator(b.publicKey, clock).addMacs(msg);
    dev.receive(msg, "x");
    assert.equal(dev.stats.dropped["handshake-invalid"], 1);
  } finally {
    dev.close();
  }
});

Deno.test("wrong keys: an unknown peer, a wrong responder key and foreign transport keys are refused", async () => {
  const t = makePair();
  const stranger = generateKeyPair();
  const [wireC, wireB2] = memoryBindPair();
  const c = new Device({
    privateKey: stranger.privateKey,
    bind: wireC,
    onPacket: () => {},
    clock: t.clock,
  });
  try {
    // C knows B's public key, but B does not know C.
    wireB2.open((d, from) => t.b.receive(d, from));
    c.addPeer({ publicKey: t.bKeys.publicKey, allowedIPs: ["10.77.1.2/32"], endpoint: "b" });
    c.sendPacket(AB("from a stranger"));
    await settle();
    assert.equal(t.b.stats.dropped["unknown-peer"], 1);
    assert.equal(t.gotB.length, 0);
    // A configured with a wrong public key for B: mac1 is keyed to the wrong key.
    t.a.removePeer(t.peerB);
    t.a.addPeer({ publicKey: stranger.publicKey, allowedIPs: ["10.77.1.2/32"], endpoint: "b" });
    t.a.sendPacket(AB("wrong key"));
    await settle();
    assert.equal(t.b.stats.dropped["bad-mac1"], 1);
    assert.equal(t.b.stats.handshakesCompleted, 0);
  } finally {
    c.close();
    t.close();
  }
});

Deno.test("an initiation older than the last accepted timestamp is refused (stale TAI64N)", async () => {
  const clock = new VirtualClock(1_000_000);
  const [wa, wb] = memoryBindPair();
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  let wall = 1_800_000_000_000;
  const a = new Device({
    privateKey: ka.privateKey,
    bind: wa,
    onPacket: () => {},
    clock,
    wallClock: () => wall,
  });
  const b = new Device({ privateKey: kb.privateKey, bind: wb, onPacket: () => {}, clock });
  try {
    b.addPeer({ publicKey: ka.publicKey, allowedIPs: ["10.77.1.1/32"], endpoint: "a" });
    const pb = a.addPeer({ publicKey: kb.publicKey, allowedIPs: ["10.77.1.2/32"], endpoint: "b" });
    pb.initiateHandshake();
    await settle();
    assert.equal(a.stats.handshakesCompleted, 1);
    assert.equal(b.stats.handshakesCompleted, 1, "confirmed by A's keepalive");
    wall -= 60_000; // A's clock jumps back a minute
    clock.advanceSync(10_000);
    pb.initiateHandshake();
    await settle();
    assert.equal(b.stats.dropped["stale-timestamp"], 1);
    assert.equal(a.stats.handshakesCompleted, 1);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("packets from a source outside the peer's allowed IPs, or unroutable, are dropped", async () => {
  const t = makePair();
  try {
    t.a.sendPacket(ipv4("10.77.1.9", "10.77.1.2", text("spoofed source")));
    await settle();
    assert.equal(t.gotB.length, 0);
    assert.equal(t.b.stats.dropped["not-allowed-ip"], 1);
    t.a.sendPacket(ipv4("10.77.1.1", "192.0.2.1", text("nowhere")));
    assert.equal(t.a.stats.dropped["no-route"], 1);
    t.a.sendPacket(new Uint8Array([0x45, 0]));
    assert.equal(t.a.stats.dropped["bad-ip"], 1);
  } finally {
    t.close();
  }
});

Deno.test("packets sent before the handshake are staged and delivered in order once it completes", async () => {
  const t = makePair();
  try {
    for (let i = 0; i < 5; i++) t.a.sendPacket(AB(`staged ${i}`));
    assert.equal(t.peerB.stagedPackets, 5);
    await settle();
    assert.equal(t.peerB.stagedPackets, 0);
    assert.deepEqual(
      t.gotB.map((p) => new TextDecoder().decode(p.subarray(20))),
      [0, 1, 2, 3, 4].map((i) => `staged ${i}`),
    );
  } finally {
    t.close();
  }
});

Deno.test("the peer roams: replies go to the source of the last authenticated datagram", async () => {
  const t = makePair();
  try {
    t.a.sendPacket(AB("hi"));
    await settle();
    assert.equal(t.peerA.endpoint, "a");
    t.wireA.record = true;
    // Re-deliver a fresh datagram from A as if from a new address.
    t.wireA.filter = (d) => {
      t.wireB.inject(d.slice(), "a-moved");
      return null;
    };
    t.a.sendPacket(AB("from elsewhere"));
    assert.equal(t.peerA.endpoint, "a-moved");
    // A bind that does not name sources (a relay) leaves the endpoint alone.
    t.wireA.filter = (d) => {
      t.wireB.inject(d.slice(), undefined);
      return null;
    };
    t.a.sendPacket(AB("via relay"));
    assert.equal(t.peerA.endpoint, "a-moved");
    assert.equal(t.gotB.length, 3);
  } finally {
    t.close();
  }
});

Deno.test("both AEAD backends interoperate inside the tunnel", async () => {
  const { nobleAead, nodeAead } = await import("../crypto/mod.ts");
  const t = makePair();
  t.close();
  const clock = new VirtualClock(1_000_000);
  const [wa, wb] = memoryBindPair();
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const got: Uint8Array[] = [];
  const a = new Device({
    privateKey: ka.privateKey,
    bind: wa,
    onPacket: () => {},
    clock,
    aead: nobleAead,
  });
  const b = new Device({
    privateKey: kb.privateKey,
    bind: wb,
    onPacket: (p) => got.push(p.slice()),
    clock,
    aead: nodeAead,
  });
  try {
    b.addPeer({ publicKey: ka.publicKey, allowedIPs: ["10.77.1.1/32"], endpoint: "a" });
    a.addPeer({ publicKey: kb.publicKey, allowedIPs: ["10.77.1.2/32"], endpoint: "b" });
    const pkt = ipv4("10.77.1.1", "10.77.1.2", new Uint8Array(1000).fill(7));
    a.sendPacket(pkt);
    await settle();
    assert.deepEqual(got, [pkt]);
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("a bind whose open fails rejects `ready` without an unhandled rejection", async () => {
  const bind = {
    open: () => Promise.reject(new Error("relay refused")),
    send: () => {},
    close: () => {},
  };
  const dev = new Device({ privateKey: generateKeyPair().privateKey, bind, onPacket: () => {} });
  await assert.rejects(dev.ready, /relay refused/);
  dev.close();
});

Deno.test("an oversized packet is dropped as bad-ip, not thrown", () => {
  const t = makePair();
  try {
    const huge = new Uint8Array(70_000);
    huge[0] = 0x45;
    huge.set([10, 77, 1, 2], 16);
    t.a.sendPacket(huge);
    assert.equal(t.a.stats.dropped["bad-ip"], 1);
  } finally {
    t.close();
  }
});
