import assert from "node:assert/strict";
import { AUDIT_LIMIT, History, HISTORY_LIMIT, rfc3339 } from "./history.ts";

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

Deno.test("admin changes have their own ring and file: 1000+ machine events evict none of them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const h = new History(`${dir}/telahubd.history.json`, 10_000);
    h.record("", "admin-change", "tokens add bob role=user", { identity: "owner" });
    for (let i = 0; i < HISTORY_LIMIT + 50; i++) {
      h.record("barn", "agent-denied", 'Access denied: token of identity "x" was revoked', {
        identity: "x",
      });
    }
    const all = h.list();
    assert.equal(all.length, HISTORY_LIMIT + 1);
    assert.equal(all[all.length - 1].event, "admin-change", "oldest, still there");
    await h.flush();
    const audit = JSON.parse(await Deno.readTextFile(`${dir}/telahubd.audit.json`));
    assert.deepEqual(audit.events.map((e: { detail: string }) => e.detail), [
      "tokens add bob role=user",
    ]);
    const machine = JSON.parse(await Deno.readTextFile(`${dir}/telahubd.history.json`));
    assert.equal(machine.events.length, HISTORY_LIMIT);
    assert.equal(machine.events.some((e: { event: string }) => e.event === "admin-change"), false);
    if (Deno.build.os !== "windows") {
      assert.equal((await Deno.stat(`${dir}/telahubd.audit.json`)).mode! & 0o777, 0o600);
    }
    const again = new History(`${dir}/telahubd.history.json`);
    await again.load();
    assert.deepEqual(again.list(), all);
    for (let i = 0; i < AUDIT_LIMIT + 5; i++) h.record("", "admin-change", `c${i}`);
    assert.equal(h.list((e) => e.event === "admin-change").length, AUDIT_LIMIT);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("History merges both rings newest first, same-second order kept across a reload", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const h = new History(`${dir}/telahubd.history.json`, 10_000);
    h.record("barn", "agent-register", undefined, t(1));
    h.record("", "admin-change", "a", t(2));
    h.record("barn", "client-connect", undefined, t(2));
    h.record("", "admin-change", "b", t(2));
    h.record("barn", "client-disconnect", undefined, t(3));
    const want = ["client-disconnect", "admin-change", "client-connect", "admin-change"].concat(
      "agent-register",
    );
    assert.deepEqual(h.list().map((e) => e.event), want);
    await h.flush();
    const again = new History(`${dir}/telahubd.history.json`);
    await again.load();
    assert.deepEqual(again.list().map((e) => e.event), want);
    assert.deepEqual(again.list().map((e) => e.detail ?? ""), ["", "b", "", "a", ""]);
    again.record("barn", "agent-disconnect", undefined, t(3));
    assert.equal(again.list()[0].event, "agent-disconnect", "new events follow loaded ones");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("admin changes in an old history file move to the audit file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/telahubd.history.json`,
      JSON.stringify({
        events: [
          { machineId: "barn", event: "client-connect", timestamp: "2026-01-01T00:00:03Z" },
          {
            machineId: "",
            event: "admin-change",
            timestamp: "2026-01-01T00:00:02Z",
            detail: "tokens add bob role=user",
            identity: "owner",
          },
          { machineId: "barn", event: "agent-register", timestamp: "2026-01-01T00:00:01Z" },
        ],
      }),
    );
    const h = new History(`${dir}/telahubd.history.json`, 10_000);
    await h.load();
    assert.deepEqual(h.list().map((e) => e.event), [
      "client-connect",
      "admin-change",
      "agent-register",
    ]);
    await h.flush();
    const audit = JSON.parse(await Deno.readTextFile(`${dir}/telahubd.audit.json`));
    assert.equal(audit.events[0].detail, "tokens add bob role=user");
    const machine = JSON.parse(await Deno.readTextFile(`${dir}/telahubd.history.json`));
    assert.deepEqual(machine.events.map((e: { event: string }) => e.event), [
      "client-connect",
      "agent-register",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
