/**
 * Who may move a session onto the direct path (spec session-and-relay.md §6.2, §7.2 rules
 * 3-4, with the reviewer's findings): a stranger's TPUNCH or a `peer-endpoint` must not
 * when the direct path is disabled (`-stun none`).
 */
import assert from "node:assert/strict";
import { echoThrough, makePair, until } from "./_harness.ts";

const TPUNCH = Uint8Array.of(0x54, 0x50, 0x55, 0x4e, 0x43, 0x48);

/** A UDP socket on loopback that counts what it receives (an attacker or a victim). */
function stranger() {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const st = { rx: 0 };
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    for (;;) {
      try {
        await conn.receive(buf);
        st.rx++;
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
