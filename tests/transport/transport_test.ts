/**
 * The three transports on loopback with real UDP sockets: PROBE/READY against the real
 * hub UDP relay, a WireGuard tunnel over the UDP relay and over the direct path, fallback
 * to the WebSocket when the hub's UDP goes silent and back up when it returns, and a hub
 * with Go's echo defect (spec §5.4).
 */
import assert from "node:assert/strict";
import { UdpRelay } from "../../lib/hub/udp_relay.ts";
import { UdpPathSocket, upgradeToUdpRelay } from "../../lib/transport/udp_relay.ts";
import { stunQuery } from "../../lib/transport/stun.ts";
import { echoThrough, makePair, stunResponder, until } from "./_harness.ts";

const sink = () => ({ sendFrame: (_f: Uint8Array) => {} });

Deno.test("UDP relay upgrade: PROBE gets READY from the real hub relay; a wrong token gets nothing", async () => {
  const relay = new UdpRelay();
  const port = relay.start("127.0.0.1", 0);
  try {
    const { agent } = relay.createPair(sink(), sink());
    const path = await upgradeToUdpRelay("agent", { port, token: agent.hex }, "ws://127.0.0.1:1");
    assert.ok(path, "READY received");
    assert.equal(path.hubString, `127.0.0.1:${port}`);
    assert.equal(relay.stats.probes, 1, "one PROBE, no retransmission");
    assert.equal(agent.addr?.port, path.sock.port, "the hub learned our socket's address");
    path.sock.close();
    const wrong = await upgradeToUdpRelay(
      "client",
      { port, token: "00112233445566ff" },
      "ws://127.0.0.1:1",
      undefined,
      300,
    );
    assert.equal(wrong, null, "unknown token: the hub stays silent");
    const bad = await upgradeToUdpRelay("client", { port, token: "zz" }, "ws://127.0.0.1:1");
    assert.equal(bad, null, "malformed token");
  } finally {
    relay.close();
  }
});

Deno.test("STUN query over the path's socket against a loopback responder", async () => {
  const stun = stunResponder();
  const sock = new UdpPathSocket();
  let handler: ((d: Uint8Array) => void) | null = null;
  sock.onDatagram = (d) => handler?.(d);
  try {
    const r = await stunQuery(
      { sendTo: (d, to) => sock.sendTo(d, to), onStun: (h) => (handler = h) },
      ["127.0.0.1:1", "nonsense", stun.server],
      300,
    );
    assert.deepEqual(r?.address, { hostname: "127.0.0.1", port: sock.port });
    assert.equal(r?.server, stun.server, "the silent first server was skipped after its timeout");
  } finally {
    sock.close();
    stun.close();
  }
});

Deno.test("a tunnel over the UDP relay: both binds upgrade, data flows on UDP", async () => {
  const p = makePair();
  try {
    await until(
      () => p.agent.bind.transport === "udp-relay" && p.client.bind.transport === "udp-relay",
      5000,
      "both sides on udp-relay",
    );
    const wsBefore = p.agent.ws.dataSent + p.client.ws.dataSent;
    const got = await echoThrough(p, 1 << 20);
    assert.equal(got, 1 << 20);
    assert.ok(p.relay.stats.toUdp > 500, `hub forwarded over UDP: ${p.relay.stats.toUdp}`);
    assert.equal(p.relay.stats.toWs, 0, "nothing had to go over a WebSocket");
    const wsAfter = p.agent.ws.dataSent + p.client.ws.dataSent;
    assert.ok(wsAfter - wsBefore < 5, `DATA frames on the WebSockets: ${wsAfter - wsBefore}`);
    assert.ok(p.client.log.some((l) => /^transport: udp-relay \(hub 127\.0\.0\.1:\d+\)$/.test(l)));
    assert.deepEqual(
      p.client.ws.texts.filter((t) => t.type === "transport").map((t) => t.transport),
      ["websocket", "udp-relay"],
      "our transport report at every change",
    );
    assert.equal(p.client.bind.peerTransport, "udp-relay");
  } finally {
    await p.close();
  }
});

Deno.test("maxTransport websocket: the offer is consumed and nothing leaves the WebSocket", async () => {
  const p = makePair({ maxTransport: "websocket" });
  try {
    const got = await echoThrough(p, 256 * 1024);
    assert.equal(got, 256 * 1024);
    assert.equal(p.relay.stats.rx, 0, "no datagram reached the hub's UDP relay");
    assert.equal(p.client.bind.transport, "websocket");
  } finally {
    await p.close();
  }
});

Deno.test("direct path on loopback: STUN, peer-endpoint, punching, data goes direct", async () => {
  const stun = stunResponder();
  const p = makePair({ stun: [stun.server] });
  try {
    await until(
      () => p.agent.bind.transport === "direct" && p.client.bind.transport === "direct",
      8000,
      "both sides direct",
    );
    const sent = p.client.ws.texts.find((t) => t.type === "peer-endpoint");
    assert.equal(sent?.message, p.client.bind.reflexiveAddress);
    const relayBefore = p.relay.stats.rx;
    const got = await echoThrough(p, 1 << 20);
    assert.equal(got, 1 << 20);
    assert.ok(p.client.bind.direct!.tx > 300 && p.agent.bind.direct!.tx > 300);
    assert.ok(p.relay.stats.rx - relayBefore < 20, "the hub saw (almost) nothing");
    assert.ok(
      p.agent.log.some((l) => /^transport: direct \(peer 127\.0\.0\.1:\d+\)$/.test(l)),
      p.agent.log.join("\n"),
    );
  } finally {
    await p.close();
    stun.close();
  }
});

Deno.test("fallback: the hub's UDP goes silent → websocket; it answers again → udp-relay", async () => {
  const p = makePair();
  const orig = p.relay.handle.bind(p.relay);
  let drop = false;
  p.relay.handle = (d, from) => drop ? undefined : orig(d, from);
  try {
    await until(() => p.client.bind.transport === "udp-relay", 5000, "client on udp-relay");
    await until(() => p.agent.bind.transport === "udp-relay", 5000, "agent on udp-relay");
    let phase = 0;
    const total = 6 << 20;
    const got = await echoThrough(p, total, async (sent) => {
      if (phase === 0 && sent >= 1 << 20) {
        phase = 1;
        drop = true;
        // Data keeps flowing (TCP retransmits) while the binds notice and fall back.
        await until(
          () => p.client.bind.transport === "websocket" && p.agent.bind.transport === "websocket",
          8000,
          "both sides back on the websocket",
        );
      } else if (phase === 1 && sent >= 3 << 20) {
        phase = 2;
        drop = false;
        await until(
          () => p.client.bind.transport === "udp-relay" && p.agent.bind.transport === "udp-relay",
          8000,
          "both sides up again on udp-relay",
        );
      }
    });
    assert.equal(got, total);
    assert.equal(phase, 2);
    assert.ok(
      p.client.log.some((l) => /^transport: websocket \(udp relay silent for \d+ s\)$/.test(l)),
      p.client.log.join("\n"),
    );
    assert.ok(p.client.log.some((l) => /udp relay answers again/.test(l)), p.client.log.join("\n"));
  } finally {
    await p.close();
  }
});

Deno.test("a hub with Go's echo defect (spec §5.4): no stall, both sides end on udp-relay", async () => {
  const p = makePair({ goHub: true, offer: false });
  try {
    // The client upgrades alone first: its UDP datagrams come back on its own WebSocket.
    const { agent, client } = (() => {
      const e = p.relay.createPair(p.client.ws, p.agent.ws); // Go: sinks crossed
      return { agent: e.agent, client: e.client };
    })();
    p.client.bind.signal({ type: "udp-offer", port: p.relayPort, token: client.hex });
    await until(() => p.client.bind.transport === "udp-relay", 5000, "client on udp-relay");
    const first = await echoThrough(p, 256 * 1024);
    assert.equal(first, 256 * 1024);
    assert.ok(p.client.bind.echoesResent > 0, "echoes were sent again over the WebSocket");
    assert.equal(p.client.bind.transport, "websocket", "echoed relay is not used");
    p.agent.bind.signal({ type: "udp-offer", port: p.relayPort, token: agent.hex });
    await until(() => p.agent.bind.transport === "udp-relay", 5000, "agent on udp-relay");
    const got = await echoThrough(p, 1 << 20);
    assert.equal(got, 1 << 20);
    await until(
      () => p.client.bind.transport === "udp-relay" && p.agent.bind.transport === "udp-relay",
      5000,
      "both on udp-relay once the agent probed",
    );
  } finally {
    await p.close();
  }
});

Deno.test("direct peer goes silent → udp-relay (health check); it answers again → direct", async () => {
  const stun = stunResponder();
  const p = makePair({ stun: [stun.server] });
  try {
    await until(
      () => p.agent.bind.transport === "direct" && p.client.bind.transport === "direct",
      8000,
      "both sides direct",
    );
    // Black-hole the direct path both ways: sends vanish (still counted), nothing is heard.
    const restore: (() => void)[] = [];
    for (const side of [p.agent, p.client]) {
      const d = side.bind.direct!;
      const { send, handle } = d;
      d.send = function () {
        this.tx++;
        return true;
      };
      d.handle = () => null;
      restore.push(() => {
        d.send = send;
        d.handle = handle;
      });
    }
    let phase = 0;
    const total = 4 << 20;
    const got = await echoThrough(p, total, async (sent) => {
      if (phase === 0 && sent >= 1 << 20) {
        phase = 1;
        await until(
          () => p.agent.bind.transport === "udp-relay" && p.client.bind.transport === "udp-relay",
          8000,
          "both sides back on the udp relay",
        );
        for (const r of restore) r();
        await until(
          () => p.agent.bind.transport === "direct" && p.client.bind.transport === "direct",
          8000,
          "both sides direct again (re-punch)",
        );
        phase = 2;
      }
    });
    assert.equal(got, total);
    assert.equal(phase, 2);
    assert.ok(
      p.client.log.some((l) =>
        /^transport: udp-relay \(hub 127\.0\.0\.1:\d+; direct peer silent for \d+ s\)$/.test(l)
      ),
      p.client.log.join("\n"),
    );
  } finally {
    await p.close();
    stun.close();
  }
});

Deno.test("UDP relay upgrade aborted while the hub's name resolves: no socket, no PROBE", async () => {
  const hub = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const port = (hub.addr as Deno.NetAddr).port;
  let probes = 0;
  const reading = (async () => {
    const buf = new Uint8Array(2048);
    for (;;) {
      try {
        await hub.receive(buf);
        probes++;
      } catch {
        return;
      }
    }
  })();
  try {
    const ac = new AbortController();
    const pending = upgradeToUdpRelay(
      "client",
      { host: "localhost", port, token: "00112233445566ff" },
      "ws://localhost:1",
      ac.signal,
      300,
    );
    ac.abort(); // while "localhost" resolves
    assert.equal(await pending, null);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(probes, 0, "no PROBE left after the abort");
  } finally {
    hub.close();
    await reading;
  }
});

Deno.test("no other socket can bind the session UDP socket's port (no SO_REUSEADDR)", () => {
  const sock = new UdpPathSocket();
  try {
    assert.throws(() =>
      Deno.listenDatagram({
        transport: "udp",
        hostname: "0.0.0.0",
        port: sock.port,
        reuseAddress: true,
      }).close()
    );
  } finally {
    sock.close();
  }
});
