/**
 * A STUN server that never answers: one INFO line says the session stays on the relay (a
 * new user otherwise sees nothing about why the direct path never came).
 */
import assert from "node:assert/strict";
import { makePair, until } from "./_harness.ts";

Deno.test("STUN gets no answer: one info line, the session stays on the UDP relay", async () => {
  // A bound UDP socket that reads nothing and answers nothing: requests to it go unanswered.
  const silent = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const server = `127.0.0.1:${(silent.addr as Deno.NetAddr).port}`;
  const p = makePair({ stun: [server] });
  try {
    const want = `stun: no answer from ${server}; staying on the relay (no direct path)`;
    await until(() => p.client.log.includes(want), 15_000, "the no-answer line");
    assert.equal(p.client.log.filter((l) => l.startsWith("stun: no answer")).length, 1);
    assert.equal(p.client.bind.transport, "udp-relay");
  } finally {
    await p.close();
    silent.close();
  }
});
