import assert from "node:assert/strict";
import { ipv4, makePair, settle, text } from "./_test_util.ts";

/** xorshift32: a seeded generator so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

Deno.test("random and malformed datagrams of every type and length are dropped, counted, never thrown", async () => {
  const t = makePair();
  try {
    t.a.sendPacket(ipv4("10.77.1.1", "10.77.1.2", text("session up")));
    await settle();
    assert.equal(t.gotB.length, 1);
    const next = rng(0x5eed);
    const lengths = [...Array(200).keys(), 1024, 1500, 2000, 65535];
    let sent = 0;
    const before = t.b.stats.droppedTotal;
    for (const type of [0, 1, 2, 3, 4, 5, 255, 0x01000001, -1]) {
      for (const len of lengths) {
        const d = new Uint8Array(len);
        for (let i = 0; i < len; i++) d[i] = next() & 0xff;
        if (type >= 0 && len >= 4) {
          d[0] = type & 0xff;
          d[1] = (type >>> 8) & 0xff;
          d[2] = (type >>> 16) & 0xff;
          d[3] = (type >>> 24) & 0xff;
        }
        t.b.receive(d, "a"); // must not throw
        sent++;
      }
    }
    // Transport messages that name the live session's index, with random ciphertext.
    const idx = t.peerA.keypairs.current!.localIndex;
    for (let len = 0; len < 300; len++) {
      const d = new Uint8Array(len);
      for (let i = 0; i < len; i++) d[i] = next() & 0xff;
      if (len >= 8) {
        d.set([4, 0, 0, 0, idx & 0xff, (idx >>> 8) & 0xff, (idx >>> 16) & 0xff, idx >>> 24]);
      }
      t.b.receive(d, "a");
      sent++;
    }
    await settle();
    assert.equal(t.b.stats.droppedTotal - before, sent, JSON.stringify(t.b.stats.dropped));
    assert.equal(t.b.stats.dropped.internal ?? 0, 0, "no exception reached the device's catch-all");
    assert.equal(t.gotB.length, 1, "nothing was delivered");
    // The session still works.
    t.a.sendPacket(ipv4("10.77.1.1", "10.77.1.2", text("still up")));
    await settle();
    assert.equal(t.gotB.length, 2);
  } finally {
    t.close();
  }
});

Deno.test("a throwing onPacket callback is contained by the device", async () => {
  const t = makePair({
    onPacket: () => {
      throw new Error("consumer bug");
    },
  });
  try {
    t.a.sendPacket(ipv4("10.77.1.1", "10.77.1.2", text("boom")));
    await settle();
    assert.equal(t.b.stats.dropped.internal, 1);
  } finally {
    t.close();
  }
});
