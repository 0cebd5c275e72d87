import assert from "node:assert/strict";
import { addLogSink } from "../log/mod.ts";
import { Registry, type Session } from "./registry.ts";
import {
  LOG_WINDOW_MS,
  MAX_CHANGE_LINES,
  sessionTransportList,
  SessionTransports,
} from "./transports.ts";

function fixture() {
  const registry = new Registry();
  let now = Date.parse("2026-12-02T16:00:00Z");
  const book = new SessionTransports(registry, () => new Date(now));
  const machine = registry.upsert({
    type: "register",
    machineName: "barn\x1b[31m",
    agentId: "a",
  });
  const session = {
    id: "0123456789abcdef",
    idx: 3,
    machine,
    ended: false,
    transports: book.start(),
  } as unknown as Session;
  return { registry, book, session, tick: (ms: number) => (now += ms) };
}

Deno.test("session transports: reports win over inference, each change bumps the registry version", () => {
  const { registry, book, session, tick } = fixture();
  assert.deepEqual(sessionTransportList([session]), [{
    index: 3,
    client: "websocket",
    agent: null,
    since: "2026-12-02T16:00:00Z",
  }]);
  book.join(session);
  const v0 = registry.version;
  tick(2000);
  book.relayed(session, "agent", "udp-relay");
  assert.equal(session.transports.agent?.transport, "udp-relay");
  assert.equal(registry.version, v0 + 1);
  book.relayed(session, "agent", "udp-relay");
  assert.equal(registry.version, v0 + 1, "no change, no bump");
  tick(1000);
  book.report(session, "client", "direct");
  book.relayed(session, "client", "websocket");
  assert.equal(session.transports.client.transport, "direct", "a reporting side is believed");
  assert.deepEqual(sessionTransportList([session]), [{
    index: 3,
    client: "direct",
    agent: "udp-relay",
    since: "2026-12-02T16:00:03Z",
  }]);
  session.ended = true;
  book.report(session, "client", "websocket");
  assert.equal(session.transports.client.transport, "direct", "an ended session stays put");
});

Deno.test("session transports: one escaped line per change, at most 10 a minute per side", () => {
  const { book, session, tick } = fixture();
  const lines: string[] = [];
  const remove = addLogSink((l) => lines.push(l));
  try {
    for (let i = 0; i < 25; i++) {
      book.report(session, "client", i % 2 ? "websocket" : "direct");
      tick(100);
    }
    const mine = lines.filter((l) => l.includes("session 01234567"));
    assert.equal(mine.length, MAX_CHANGE_LINES);
    assert.ok(
      mine[0].endsWith(
        "session 01234567 barn\\x1b[31m #3: client transport websocket → direct (reported)",
      ),
      mine[0],
    );
    tick(LOG_WINDOW_MS);
    book.report(session, "client", "udp-relay");
    const last = lines.filter((l) => l.includes("session 01234567")).at(-1)!;
    assert.match(
      last,
      /client transport \S+ → udp-relay \(reported\) \(15 earlier changes not logged\)$/,
    );
  } finally {
    remove();
  }
});
