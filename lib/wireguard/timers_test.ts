import assert from "node:assert/strict";
import { advanceSettled, ipv4, makePair, settle, text } from "./_test_util.ts";
import {
  KEEPALIVE_TIMEOUT,
  MAX_TIMER_HANDSHAKES,
  REJECT_AFTER_TIME,
  REKEY_AFTER_TIME,
  REKEY_TIMEOUT,
} from "./constants.ts";

const AB = (s: string) => ipv4("10.77.1.1", "10.77.1.2", text(s));
const BA = (s: string) => ipv4("10.77.1.2", "10.77.1.1", text(s));
const types = (sent: Uint8Array[]) => sent.map((d) => d[0]);

Deno.test("rekey by time: the initiator starts a new handshake once its keypair is REKEY_AFTER_TIME old", async () => {
  const t = makePair();
  try {
    t.a.sendPacket(AB("first"));
    await settle();
    const first = t.peerB.keypairs.current!;
    t.clock.advanceSync(REKEY_AFTER_TIME - 1000);
    t.wireA.record = t.wireB.record = true;
    t.a.sendPacket(AB("still young"));
    await settle();
    assert.deepEqual(types(t.wireA.sent), [4], "no rekey before REKEY_AFTER_TIME");
    // The responder never rekeys by time on send.
    t.clock.advanceSync(2000);
    t.b.sendPacket(BA("responder is old too"));
    await settle();
    assert.ok(!types(t.wireB.sent).includes(1), "responder does not initiate");
    t.a.sendPacket(AB("now old"));
    await settle();
    assert.deepEqual(
      types(t.wireA.sent).slice(1),
      [4, 1, 4],
      "data, then initiation, then keepalive",
    );
    assert.equal(t.a.stats.handshakesCompleted, 2);
    assert.equal(t.b.stats.handshakesCompleted, 2);
    assert.notEqual(t.peerB.keypairs.current, first);
    assert.equal(t.peerB.keypairs.previous, first, "old keypair kept as previous");
    t.a.sendPacket(AB("on new keys"));
    await settle();
    assert.equal(t.gotB.length, 4);
    assert.equal(t.gotA.length, 1);
  } finally {
    t.close();
  }
});

Deno.test("after REJECT_AFTER_TIME a keypair neither sends nor receives", async () => {
  const t = makePair();
  try {
    t.wireA.record = true;
    t.a.sendPacket(AB("first"));
    await settle();
    const captured = t.wireA.sent.at(-1)!.slice();
    t.wireA.filter = () => null; // the wire goes dead
    t.clock.advanceSync(REJECT_AFTER_TIME + 1);
    t.wireA.sent.length = 0;
    t.a.sendPacket(AB("too late"));
    assert.deepEqual(types(t.wireA.sent), [1], "a new initiation instead of data");
    assert.equal(t.peerB.stagedPackets, 1);
    // A datagram made with the expired keypair is refused on receipt.
    const before = t.gotB.length;
    t.wireB.inject(captured, "a");
    assert.equal(t.gotB.length, before);
    assert.ok((t.b.stats.dropped["expired-keypair"] ?? 0) + (t.b.stats.dropped.replay ?? 0) >= 1);
  } finally {
    t.close();
  }
});

Deno.test("rekey by message count: REKEY_AFTER_MESSAGES triggers a handshake, REJECT_AFTER_MESSAGES stops sending", async () => {
  const t = makePair({ limits: { rekeyAfterMessages: 10, rejectAfterMessages: 15 } });
  try {
    t.a.sendPacket(AB("hello")); // staged, then sent with nonce 0 after the handshake
    await settle();
    t.clock.advanceSync(REKEY_TIMEOUT); // initiations are at most one per REKEY_TIMEOUT
    t.wireA.record = true;
    for (let i = 0; i < 12; i++) t.a.sendPacket(AB(`m${i}`));
    await settle();
    assert.ok(types(t.wireA.sent).includes(1), "initiation after 10 messages");
    assert.equal(t.a.stats.handshakesCompleted, 2);
    assert.equal(t.gotB.length, 13);

    // Now block handshakes and exhaust the new keypair: sending stops at 15 messages.
    t.wireA.filter = (d) => (d[0] === 4 ? d : null);
    t.clock.advanceSync(REKEY_TIMEOUT + 1);
    const kp = t.peerB.keypairs.current!;
    const delivered = t.gotB.length;
    for (let i = 0; i < 30; i++) t.a.sendPacket(AB(`x${i}`));
    await settle();
    assert.equal(kp.sendNonce, 15, "no counter beyond REJECT_AFTER_MESSAGES - 1 was used");
    assert.ok(t.gotB.length - delivered < 15);
    assert.ok(t.peerB.stagedPackets > 0, "the rest is staged waiting for a handshake");
  } finally {
    t.close();
  }
});

Deno.test("keepalive: KEEPALIVE_TIMEOUT after receiving data with nothing to send, an empty packet goes back", async () => {
  const t = makePair();
  try {
    t.a.sendPacket(AB("needs an ack"));
    await settle();
    t.wireB.record = true;
    t.wireB.sent.length = 0;
    t.clock.advanceSync(KEEPALIVE_TIMEOUT - 1);
    await settle();
    assert.equal(t.wireB.sent.length, 0, "nothing before the timeout");
    t.clock.advanceSync(1);
    await settle();
    assert.deepEqual(t.wireB.sent.map((d) => [d[0], d.length]), [[4, 32]], "one keepalive");
    t.clock.advanceSync(5 * KEEPALIVE_TIMEOUT);
    await settle();
    assert.equal(t.wireB.sent.length, 1, "no keepalive without new data");
    // If B answers with data in time, no keepalive is sent.
    t.a.sendPacket(AB("again"));
    await settle();
    t.clock.advanceSync(KEEPALIVE_TIMEOUT / 2);
    t.b.sendPacket(BA("answer"));
    await settle();
    t.clock.advanceSync(KEEPALIVE_TIMEOUT);
    await settle();
    assert.deepEqual(t.wireB.sent.map((d) => d.length), [32, 16 + 32 + 16]);
  } finally {
    t.close();
  }
});

Deno.test("persistent keepalive: an idle peer sends an empty packet every interval", async () => {
  const t = makePair({}, { keepaliveB: 25 });
  try {
    await settle(); // B's first keepalive starts the handshake at once
    assert.equal(t.b.stats.handshakesCompleted, 1);
    t.wireB.record = true;
    for (let i = 0; i < 4; i++) {
      t.clock.advanceSync(25_000);
      await settle();
    }
    const keepalives = t.wireB.sent.filter((d) => d[0] === 4 && d.length === 32);
    assert.equal(keepalives.length, 4);
    assert.equal(t.peerA.persistentKeepaliveSeconds, 25);
  } finally {
    t.close();
  }
});

Deno.test("a lost initiation is retransmitted after REKEY_TIMEOUT; the attempt gives up after REKEY_ATTEMPT_TIME", async () => {
  const t = makePair();
  try {
    t.wireA.record = true;
    let dropFirst = true;
    t.wireA.filter = (d) => {
      if (dropFirst && d[0] === 1) {
        dropFirst = false;
        return null;
      }
      return d;
    };
    t.a.sendPacket(AB("eventually"));
    await settle();
    assert.equal(t.gotB.length, 0);
    t.clock.advanceSync(REKEY_TIMEOUT - 1);
    await settle();
    assert.equal(types(t.wireA.sent).filter((x) => x === 1).length, 1);
    t.clock.advanceSync(1);
    await settle();
    assert.equal(t.gotB.length, 1, "delivered after the retransmit");
  } finally {
    t.close();
  }
  const u = makePair();
  try {
    u.wireA.record = true;
    u.wireA.filter = () => null;
    u.a.sendPacket(AB("never"));
    for (let i = 0; i < 40; i++) u.clock.advanceSync(REKEY_TIMEOUT);
    await settle();
    const initiations = types(u.wireA.sent).filter((x) => x === 1).length;
    // wireguard-go: the first initiation plus MAX_TIMER_HANDSHAKES + 1 retries.
    assert.equal(initiations, MAX_TIMER_HANDSHAKES + 2);
    assert.equal(u.peerB.stagedPackets, 0, "staged packets dropped on give-up");
    assert.equal(u.a.stats.dropped["staged-expired"], 1);
  } finally {
    u.close();
  }
});

Deno.test("data sent without any reply for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT starts a new handshake", async () => {
  const t = makePair();
  try {
    t.a.sendPacket(AB("hi"));
    await settle();
    t.wireB.filter = () => null; // B's replies are lost
    t.wireA.record = true;
    t.a.sendPacket(AB("anyone?"));
    t.clock.advanceSync(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT - 1);
    assert.ok(!types(t.wireA.sent).includes(1));
    t.clock.advanceSync(1);
    assert.ok(types(t.wireA.sent).includes(1), "new handshake initiated");
  } finally {
    t.close();
  }
});

Deno.test("crossing initiations from both ends complete at once, without a retransmit", async () => {
  // wireguard-go would overwrite its pending initiation and stall until REKEY_TIMEOUT;
  // we keep ours while answering theirs, so both responses are accepted.
  const t = makePair();
  try {
    t.wireA.record = t.wireB.record = true;
    t.peerB.initiateHandshake();
    t.peerA.initiateHandshake();
    await settle();
    t.a.sendPacket(AB("a->b"));
    t.b.sendPacket(BA("b->a"));
    await settle();
    assert.equal(t.gotB.length, 1);
    assert.equal(t.gotA.length, 1);
    assert.equal(types(t.wireA.sent).filter((x) => x === 1).length, 1, "no retransmit");
    assert.equal(types(t.wireB.sent).filter((x) => x === 1).length, 1, "no retransmit");
    assert.equal(t.a.stats.droppedTotal + t.b.stats.droppedTotal, 0);
    assert.ok(t.a.indexTable.size <= 3 && t.b.indexTable.size <= 3);
    // Later traffic and a rekey still work.
    await advanceSettled(t.clock, REKEY_AFTER_TIME + 1, 2500);
    t.a.sendPacket(AB("later"));
    await settle();
    assert.equal(t.gotB.length, 2);
  } finally {
    t.close();
  }
});

Deno.test("many rekeys do not leak session indices", async () => {
  const t = makePair();
  try {
    for (let i = 0; i < 8; i++) {
      t.a.sendPacket(AB(`round ${i}`));
      await settle();
      t.b.sendPacket(BA(`back ${i}`));
      await settle();
      await advanceSettled(t.clock, REKEY_AFTER_TIME + 1, 2500);
    }
    assert.equal(t.gotB.length, 8);
    assert.equal(t.gotA.length, 8);
    assert.equal(t.a.stats.handshakesCompleted, 8);
    assert.ok(t.a.indexTable.size <= 4, `A holds ${t.a.indexTable.size} indices`);
    assert.ok(t.b.indexTable.size <= 4, `B holds ${t.b.indexTable.size} indices`);
  } finally {
    t.close();
  }
});
