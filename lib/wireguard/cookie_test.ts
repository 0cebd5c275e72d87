import assert from "node:assert/strict";
import { ipv4, makePair, settle, text } from "./_test_util.ts";
import { CookieGenerator } from "./cookie.ts";
import { REKEY_TIMEOUT } from "./constants.ts";
import { writeU32 } from "./messages.ts";
import { generateKeyPair } from "./keys.ts";

const AB = (s: string) => ipv4("10.77.1.1", "10.77.1.2", text(s));

Deno.test("under load the responder answers with a cookie; the retransmit carries mac2 and succeeds", async () => {
  const t = makePair({}, {}, { underLoad: () => true });
  try {
    t.wireB.record = true;
    t.a.sendPacket(AB("through the cookie"));
    await settle();
    assert.equal(t.b.stats.cookieRepliesSent, 1);
    assert.equal(t.b.stats.dropped["cookie-required"], 1);
    assert.deepEqual(t.wireB.sent.map((d) => [d[0], d.length]), [[3, 64]]);
    assert.equal(t.a.stats.cookieRepliesReceived, 1);
    assert.equal(t.gotB.length, 0);
    t.clock.advanceSync(REKEY_TIMEOUT);
    await settle();
    assert.equal(t.gotB.length, 1, "handshake completed with mac2");
    assert.equal(t.b.stats.cookieRepliesSent, 1);
  } finally {
    t.close();
  }
});

Deno.test("a flood of handshakes puts the device under load by itself, then it demands cookies", async () => {
  const t = makePair({}, {}, { underLoadThreshold: 20 });
  try {
    // Forged initiations with a valid mac1 (anyone who knows B's public key can make them).
    const gen = new CookieGenerator(t.bKeys.publicKey, t.clock);
    for (let i = 0; i < 30; i++) {
      const msg = new Uint8Array(148);
      msg[0] = 1;
      writeU32(msg, 4, i);
      crypto.getRandomValues(msg.subarray(8, 116));
      gen.addMacs(msg);
      t.wireB.inject(msg, "flooder");
    }
    assert.equal(t.b.stats.dropped["handshake-invalid"], 20, "the first 20 were processed");
    assert.equal(t.b.stats.cookieRepliesSent, 10, "then cookies were demanded");
    // A legitimate initiator now needs a cookie too, and gets through.
    t.a.sendPacket(AB("legit"));
    await settle();
    assert.equal(t.a.stats.cookieRepliesReceived, 1);
    t.clock.advanceSync(REKEY_TIMEOUT);
    await settle();
    assert.equal(t.gotB.length, 1);
    // Load ends UNDER_LOAD_AFTER_TIME after the flood.
    t.clock.advanceSync(2000);
    const before = t.b.stats.cookieRepliesSent;
    const msg = new Uint8Array(148);
    msg[0] = 1;
    gen.addMacs(msg);
    t.wireB.inject(msg, "flooder");
    assert.equal(t.b.stats.cookieRepliesSent, before);
  } finally {
    t.close();
  }
});

Deno.test("under load, handshakes with a valid cookie are still rate-limited per source", async () => {
  const t = makePair({}, {}, { underLoad: () => true });
  try {
    t.wireA.record = true;
    t.a.sendPacket(AB("x"));
    await settle();
    t.clock.advanceSync(REKEY_TIMEOUT);
    await settle();
    assert.equal(t.gotB.length, 1);
    const withMac2 = t.wireA.sent.filter((d) => d[0] === 1).at(-1)!;
    for (let i = 0; i < 10; i++) t.wireB.inject(withMac2, "a");
    const d = t.b.stats.dropped;
    assert.equal(d["cookie-required"], 1, "mac2 was valid for every copy");
    assert.equal((d["rate-limited"] ?? 0) + (d["stale-timestamp"] ?? 0), 10);
    assert.ok((d["rate-limited"] ?? 0) >= 5, `rate limited: ${JSON.stringify(d)}`);
  } finally {
    t.close();
  }
});

Deno.test("cookie replies that do not authenticate, or name no index, are dropped", async () => {
  const t = makePair({}, {}, { underLoad: () => true });
  try {
    t.wireB.record = true;
    t.a.sendPacket(AB("x"));
    await settle();
    const reply = t.wireB.sent.find((d) => d[0] === 3)!;
    const bad = reply.slice();
    bad[40] ^= 1;
    t.wireA.inject(bad, "b");
    assert.equal(t.a.stats.dropped["cookie-invalid"], 1);
    const unknown = reply.slice();
    unknown[4] ^= 0xff;
    t.wireA.inject(unknown, "b");
    assert.equal(t.a.stats.dropped["unknown-index"], 1);
    // A cookie from someone else's key does not authenticate either.
    const other = new CookieGenerator(generateKeyPair().publicKey, t.clock);
    assert.equal(other.consumeReply(reply), false);
  } finally {
    t.close();
  }
});
