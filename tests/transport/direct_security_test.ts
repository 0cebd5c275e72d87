/**
 * Who may move a session onto the direct path (spec session-and-relay.md §6.2, §7.2 rules
 * 3-4): a TPUNCH source is only a candidate; the direct path sends to an address only
 * after a WireGuard datagram from it authenticated; with the direct path disabled
 * (`-stun none`) neither TPUNCH nor `peer-endpoint` moves the session.
 */
import assert from "node:assert/strict";
import { parsePeerEndpoint } from "../../lib/transport/mod.ts";
import { echoThrough, makePair, stunResponder, until } from "./_harness.ts";

const TPUNCH = Uint8Array.of(0x54, 0x50, 0x55, 0x4e, 0x43, 0x48);

/** A UDP socket on loopback that counts what it receives (an attacker or a victim). */
function stranger() {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const st = { rx: 0, largest: 0 };
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    for (;;) {
      try {
        const [d] = await conn.receive(buf);
        st.rx++;
        st.largest = Math.max(st.largest, d.length);
      } catch {
        return;
      }
    }
  })();
  return {
    conn,
    st,
    port: (conn.addr as Deno.NetAddr).port,
    async close() {
      conn.close();
      await reading;
    },
  };
}

Deno.test("stun none: TPUNCH and peer-endpoint are ignored, the session stays on udp-relay", async () => {
  const p = makePair({ stun: [] });
  const s = stranger();
  try {
    await until(
      () => p.agent.bind.transport === "udp-relay" && p.client.bind.transport === "udp-relay",
      5000,
      "udp-relay",
    );
    const to = {
      transport: "udp" as const,
      hostname: "127.0.0.1",
      port: p.agent.bind.udpRelay!.sock.port,
    };
    await s.conn.send(TPUNCH, to);
    p.agent.bind.signal({ type: "peer-endpoint", message: `127.0.0.1:${s.port}` } as never);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(p.agent.bind.transport, "udp-relay");
    assert.equal(await echoThrough(p, 256 << 10), 256 << 10);
    assert.equal(p.agent.bind.transport, "udp-relay");
    assert.equal(s.st.rx, 0, "nothing (no TPUNCH reply, no data) went to the stranger");
    assert.ok(!p.agent.log.some((l) => l.startsWith("transport: direct")), p.agent.log.join("\n"));
  } finally {
    await s.close();
    await p.close();
  }
});

Deno.test("a stranger's TPUNCH spray does not take over the direct path", async () => {
  const stun = stunResponder();
  const p = makePair({ stun: [stun.server] });
  const s = stranger();
  let spray: ReturnType<typeof setInterval> | undefined;
  try {
    await until(
      () => p.agent.bind.transport === "direct" && p.client.bind.transport === "direct",
      8000,
      "both sides direct",
    );
    const clientPort = p.client.bind.udpRelay!.sock.port;
    const agentPort = p.agent.bind.udpRelay!.sock.port;
    assert.equal(p.agent.bind.direct!.peerString, `127.0.0.1:${clientPort}`);
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: agentPort };
    await s.conn.send(TPUNCH, to);
    spray = setInterval(() => s.conn.send(TPUNCH, to).catch(() => {}), 100);
    await new Promise((r) => setTimeout(r, 300));
    const peers = new Set<string>();
    const sample = setInterval(() => peers.add(p.agent.bind.direct!.peerString), 20);
    await new Promise((r) => setTimeout(r, 1500));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const got = await Promise.race([
      echoThrough(p, 1 << 20),
      new Promise<string>((r) => timer = setTimeout(() => r("stalled for 20 s"), 20_000)),
    ]).finally(() => {
      clearTimeout(timer);
      clearInterval(sample);
    });
    assert.equal(got, 1 << 20);
    assert.deepEqual([...peers], [`127.0.0.1:${clientPort}`]);
    assert.equal(p.agent.bind.transport, "direct");
    assert.equal(p.agent.bind.direct!.peerString, `127.0.0.1:${clientPort}`);
    // The stranger got TPUNCH replies and a few small encrypted copies, never our data.
    assert.ok(s.st.largest <= 8 + 148, `largest datagram to the stranger: ${s.st.largest}`);
    assert.ok(s.st.rx < 40, `datagrams to the stranger: ${s.st.rx}`);
  } finally {
    clearInterval(spray);
    await s.close();
    await p.close();
    stun.close();
  }
});

Deno.test("peer-endpoint: unspecified, multicast and broadcast addresses are rejected", () => {
  for (
    const bad of [
      "0.0.0.0:9",
      "0.1.2.3:9",
      "224.0.0.1:9",
      "239.255.255.250:1900",
      "255.255.255.255:9",
      "240.0.0.1:9",
    ]
  ) {
    assert.equal(parsePeerEndpoint(bad), null, bad);
  }
  assert.deepEqual(parsePeerEndpoint("127.0.0.1:9"), {
    transport: "udp",
    hostname: "127.0.0.1",
    port: 9,
  });
  assert.deepEqual(parsePeerEndpoint("198.51.100.7:40000")?.port, 40000);
});

Deno.test("a peer-endpoint flood restarts punching at most once per punch duration", async () => {
  // A STUN server that never answers: no side sends peer-endpoint, the direct tier stays open.
  const deadStun = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const p = makePair({ stun: [`127.0.0.1:${(deadStun.addr as Deno.NetAddr).port}`] });
  const s = stranger();
  try {
    await until(() => p.agent.bind.transport === "udp-relay", 5000, "udp-relay");
    for (let i = 0; i < 10; i++) {
      p.agent.bind.signal({ type: "peer-endpoint", message: `127.0.0.1:${s.port}` } as never);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(p.agent.bind.punchAttempts, 1);
    assert.equal(p.agent.bind.transport, "udp-relay");
  } finally {
    await s.close();
    await p.close();
    deadStun.close();
  }
});
