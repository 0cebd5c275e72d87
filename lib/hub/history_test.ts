import assert from "node:assert/strict";
import { History, HISTORY_LIMIT, rfc3339 } from "./history.ts";

Deno.test("History keeps the newest 1000 events, newest first, and reloads them", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/h.json`;
  try {
    const h = new History(path, 10_000);
    for (let i = 0; i < HISTORY_LIMIT + 25; i++) {
      h.record(`m${i}`, "agent-register", i % 2 ? `ports=[${i}]` : undefined);
    }
    const list = h.list();
    assert.equal(list.length, 1000);
    assert.equal(list[0].machineId, "m1024");
    assert.equal(list[999].machineId, "m25");
    assert.equal(list[0].detail, undefined, "empty detail omitted");
    assert.equal(list[1].detail, "ports=[1023]");
    await h.flush();
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const again = new History(path);
    await again.load();
    assert.deepEqual(again.list(), list);
    assert.deepEqual(again.list((e) => e.machineId === "m500").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("History ignores a corrupt file and bad entries", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.json`, "{nope");
    const a = new History(`${dir}/bad.json`);
    await a.load();
    assert.deepEqual(a.list(), []);
    await Deno.writeTextFile(
      `${dir}/mixed.json`,
      JSON.stringify({
        events: [
          { machineId: "ok", event: "agent-register", timestamp: "2026-01-01T00:00:00Z" },
          { machineId: 5, event: "x", timestamp: "t" },
          "junk",
        ],
      }),
    );
    const b = new History(`${dir}/mixed.json`);
    await b.load();
    assert.deepEqual(b.list().map((e) => e.machineId), ["ok"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("rfc3339 has second precision in UTC like Go's time.RFC3339", () => {
  assert.equal(rfc3339(new Date(Date.UTC(2026, 3, 21, 6, 37, 53, 999))), "2026-04-21T06:37:53Z");
});

Deno.test("History keeps an event's identity across a reload", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const h = new History(`${dir}/h.json`, 10_000);
    h.record("", "admin-change", "tokens add bob role=user", { identity: "owner" });
    h.record("barn", "client-denied", "Access denied");
    await h.flush();
    const again = new History(`${dir}/h.json`);
    await again.load();
    assert.deepEqual(again.list().map((e) => [e.event, e.identity]), [
      ["client-denied", undefined],
      ["admin-change", "owner"],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
