/**
 * Signals before the tunnel is up (lib/client/connection.ts): of a flood of `udp-offer`
 * and `peer-endpoint` messages before `wg-pubkey` only the first offer and the last
 * endpoint reach the bind, the offer is logged once per session, and a hub that never
 * sends `wg-pubkey` gets the attempt reset after the setup timeout.
 */
import assert from "node:assert/strict";
import { MachineConnection } from "../../lib/client/mod.ts";
import type { AnySignal } from "../../lib/session/signal.ts";
import type { BindFactory, TunnelEngine } from "../../lib/session/mod.ts";
import { WsRelayBind } from "../../lib/transport/mod.ts";

/** A hub stand-in: answers `connect` with `ready`, the given messages, then maybe more. */
function fakeHub(onConnect: (send: (m: unknown) => void) => void) {
  const sockets: WebSocket[] = [];
  const srv = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    sockets.push(socket);
    socket.onmessage = (e) => {
      if (typeof e.data !== "string" || !e.data.includes('"connect"')) return;
      onConnect((m) => socket.send(JSON.stringify(m)));
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${srv.addr.port}/`,
    async close() {
      for (const s of sockets) s.close();
      await srv.shutdown();
    },
  };
}

const engine: TunnelEngine = (o) => {
  o.bind.open(() => {});
  return {
    dial: () => Promise.reject(new Error("no tunnel here")),
    listen: () => ({ accept: () => new Promise(() => {}), close() {} }),
    close() {},
  };
};

function capture() {
  const lines: string[] = [];
  return {
    lines,
    log: {
      debug: () => {},
      info: (m: string) => lines.push(m),
      warn: (m: string) => lines.push(`WARN ${m}`),
      error: (m: string) => lines.push(`ERROR ${m}`),
    },
  };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("early udp-offer/peer-endpoint flood: first offer and last endpoint kept, offer logged once", async () => {
  const key = "ab".repeat(32);
  const hub = fakeHub((send) => {
    send({ type: "ready", sessionIdx: 1 });
    for (let i = 0; i < 3; i++) {
      send({ type: "udp-offer", port: 41000 + i, token: "00112233445566ff" });
    }
    for (let i = 0; i < 2000; i++) {
      send({ type: "peer-endpoint", message: `192.0.2.1:${1000 + i}` });
    }
    send({ type: "wg-pubkey", wgPubKey: key });
    send({ type: "udp-offer", port: 42000, token: "00112233445566ff" });
  });
  const seen: AnySignal[] = [];
  const bind: BindFactory = (sock) => {
    const b = new WsRelayBind(sock) as WsRelayBind & { signal(m: AnySignal): boolean };
    b.signal = (m) => {
      seen.push(m);
      return true;
    };
    return b;
  };
  const { lines, log } = capture();
  const c = new MachineConnection({ hubUrl: hub.url, machine: "m", bind, engine, log });
  const running = c.run().catch(() => {});
  try {
    await until(() => seen.length >= 3, 5000, "the bind's signals");
    assert.deepEqual(
      seen.map((m) => JSON.stringify(m)),
      [
        JSON.stringify({ type: "udp-offer", port: 41000, token: "00112233445566ff" }),
        JSON.stringify({ type: "peer-endpoint", message: "192.0.2.1:2999" }),
        JSON.stringify({ type: "udp-offer", port: 42000, token: "00112233445566ff" }),
      ],
    );
    assert.equal(
      lines.filter((l) => l.startsWith("received UDP relay offer")).length,
      1,
      lines.join("\n"),
    );
  } finally {
    c.stop();
    await running;
    await hub.close();
  }
});

Deno.test("no wg-pubkey after ready: the attempt is reset after the setup timeout", async () => {
  const hub = fakeHub((send) => send({ type: "ready", sessionIdx: 1 }));
  const { lines, log } = capture();
  const c = new MachineConnection({
    hubUrl: hub.url,
    machine: "m",
    bind: (sock) => new WsRelayBind(sock),
    engine,
    log,
    sessionSetupTimeoutMs: 300,
  });
  const running = c.run().catch(() => {});
  try {
    await until(
      () => lines.some((l) => /^WARN no wg-pubkey from the hub within 0\.3 s/.test(l)),
      5000,
      "the setup timeout",
    );
  } finally {
    c.stop();
    await running;
    await hub.close();
  }
});
