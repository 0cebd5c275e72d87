import assert from "node:assert/strict";
import { ipv4, makePair, settle, text } from "./_test_util.ts";

Deno.test("two devices complete a handshake and carry IP packets both ways", async () => {
  const t = makePair();
  try {
    const pkt = ipv4("10.77.1.1", "10.77.1.2", text("hello from A"));
    t.a.sendPacket(pkt);
    await settle();
    assert.equal(t.gotB.length, 1);
    assert.deepEqual(t.gotB[0], pkt);
    assert.ok(t.peerB.hasSession);
    const back = ipv4("10.77.1.2", "10.77.1.1", text("reply from B, a little longer than sixteen"));
    t.b.sendPacket(back);
    await settle();
    assert.deepEqual(t.gotA, [back]);
    assert.equal(t.a.stats.handshakesCompleted, 1);
    assert.equal(t.b.stats.handshakesCompleted, 1);
    assert.equal(t.a.stats.droppedTotal, 0);
    assert.equal(t.b.stats.droppedTotal, 0);
  } finally {
    t.close();
  }
});
