import assert from "node:assert/strict";
import { encodeRelayFrame } from "../protocol/mod.ts";
import { UDP_TOKEN_MAX_AGE_MS, UdpRelay } from "./udp_relay.ts";

const sink = () => {
  const got: Uint8Array[] = [];
  return { got, sendFrame: (f: Uint8Array) => got.push(f.slice()) };
};

Deno.test("UdpRelay forwards to the peer's WebSocket until the peer has probed", () => {
  const relay = new UdpRelay();
  const agent = sink();
  const client = sink();
  const { agent: a, client: c } = relay.createPair(agent, client);
  const from = { transport: "udp" as const, hostname: "127.0.0.1", port: 5555 };
  const d = new Uint8Array(8 + 10);
  d.set(c.bytes);
  d.set(encodeRelayFrame(new Uint8Array([1, 2, 3])), 8);
  assert.equal(relay.handle(d, from), undefined);
  assert.deepEqual([...agent.got[0]], [0x54, 7, 0, 0, 0, 0, 0, 1, 2, 3], "to the agent's WS");
  assert.equal(client.got.length, 0, "never back to the sender's own WS");
  assert.deepEqual(c.addr, from, "source address recorded");
  assert.equal(
    relay.lookup(new Uint8Array([...a.bytes.subarray(0, 7), a.bytes[7] ^ 1])),
    undefined,
  );
});

Deno.test("UdpRelay reaper deletes dead tokens after 5 minutes (fake clock)", () => {
  let now = 1_000_000;
  const relay = new UdpRelay({ clock: { now: () => now } });
  const p1 = relay.createPair(sink(), sink());
  relay.createPair(sink(), sink());
  assert.equal(relay.size, 4);
  p1.agent.live = false; // as if the session ended without deletePair
  p1.client.live = false;
  assert.equal(relay.reap(), 0, "too young");
  now += UDP_TOKEN_MAX_AGE_MS + 1;
  assert.equal(relay.reap(), 2, "dead and old");
  assert.equal(relay.size, 2, "live tokens stay");
  relay.deletePair(p1.agent, p1.client);
});

Deno.test("datagrams with unknown tokens from unauthenticated senders leave no state behind", async () => {
  const relay = new UdpRelay();
  const port = relay.start("127.0.0.1", 0);
  const { agent: a } = relay.createPair(sink(), sink());
  const sender = Deno.listenDatagram({ hostname: "127.0.0.1", port: 0, transport: "udp" });
  try {
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
    const d = new Uint8Array(8 + 16);
    const end = performance.now() + 10_000;
    for (let i = 0; i < 500 && performance.now() < end; i++) {
      crypto.getRandomValues(d); // a random token: never one the hub handed out
      await sender.send(d, to);
      // Same process: let the relay's receive loop keep up so the kernel drops nothing.
      while (relay.stats.rx < i + 1 && performance.now() < end) {
        await new Promise((r) => setTimeout(r, 0));
      }
    }
    assert.equal(relay.stats.rx, 500, "every datagram was handled");
    assert.equal(relay.stats.dropped, 500, "and dropped");
    assert.equal(relay.size, 2, "the token table holds only the session's two tokens");
    assert.equal(a.addr, undefined, "no address was learnt for a real token");
  } finally {
    sender.close();
    relay.close();
  }
});
