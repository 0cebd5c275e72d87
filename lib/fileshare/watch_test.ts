/**
 * `subscribe` (spec §2.6): change events of a share over a real server, and subscriptions
 * outside the 4-connection limit (Q-FS-6).
 */
import assert from "node:assert/strict";
import { RawClient, startServer } from "./_test_util.ts";
import { encodeRequest } from "./protocol.ts";

/** Reads event lines until `want` is satisfied or `ms` pass. */
async function eventsUntil(
  c: RawClient,
  want: (events: Record<string, unknown>[]) => boolean,
  ms = 10_000,
): Promise<Record<string, unknown>[]> {
  const events: Record<string, unknown>[] = [];
  const deadline = Date.now() + ms;
  while (!want(events) && Date.now() < deadline) {
    const line = await Promise.race([
      c.reader.readLine(),
      new Promise<null>((r) => setTimeout(() => r(null), Math.max(1, deadline - Date.now()))),
    ]);
    if (line === null) break;
    events.push(JSON.parse(line));
  }
  return events;
}

Deno.test("subscribe: created, modified, deleted and renamed files as event lines; temp files and links left out", async () => {
  const h = await startServer([{ name: "s", writable: true }]);
  const c = await RawClient.connect(h.port);
  try {
    await c.send(encodeRequest({ op: "subscribe", share: "s", path: "" }));
    assert.deepEqual(await c.response(), { ok: true });
    const d = `${h.dir}/s`;
    await Deno.writeTextFile(`${d}/.tela-upload-0123456789abcdef`, "x");
    await Deno.symlink(`${h.dir}/outside`, `${d}/link`);
    await Deno.writeTextFile(`${d}/a.txt`, "hello");
    await Deno.mkdir(`${d}/sub`);
    const has = (evs: Record<string, unknown>[], type: string, path: string) =>
      evs.some((e) => e.type === type && e.path === path);
    let evs = await eventsUntil(c, (e) => has(e, "file_created", "sub"));
    const created = evs.find((e) => e.type === "file_created" && e.path === "a.txt");
    assert.ok(created, JSON.stringify(evs));
    assert.deepEqual(Object.keys(created), ["type", "path", "name", "isDir", "size", "modTime"]);
    assert.equal(created.name, "a.txt");
    assert.equal(created.isDir, false);
    assert.ok(has(evs, "file_created", "sub"));
    assert.ok(evs.every((e) => !String(e.path).startsWith(".tela-upload-")), JSON.stringify(evs));
    assert.ok(evs.every((e) => e.path !== "link"), JSON.stringify(evs));
    // A directory created after the subscription is watched too.
    await new Promise((r) => setTimeout(r, 200));
    await Deno.writeTextFile(`${d}/sub/b.txt`, "b");
    evs = await eventsUntil(c, (e) => has(e, "file_created", "sub/b.txt"));
    assert.ok(has(evs, "file_created", "sub/b.txt"), JSON.stringify(evs));
    await Deno.rename(`${d}/a.txt`, `${d}/c.txt`);
    await Deno.remove(`${d}/sub/b.txt`);
    evs = await eventsUntil(c, (e) => has(e, "file_deleted", "sub/b.txt"));
    assert.ok(has(evs, "file_renamed", "a.txt"), JSON.stringify(evs));
    assert.ok(has(evs, "file_created", "c.txt"), JSON.stringify(evs));
    assert.ok(has(evs, "file_deleted", "sub/b.txt"), JSON.stringify(evs));
    assert.ok(h.log.lines.some((l) => l.startsWith("[fileshare] subscribe: client watching ")));
  } finally {
    c.close();
    await h.close();
  }
});

Deno.test("subscribe: subscriptions leave the 4 connections for requests (Q-FS-6)", async () => {
  const h = await startServer([{ name: "a" }, { name: "b" }, { name: "c" }, { name: "d" }], {
    subscribeIntervalMs: 0,
  });
  const open: RawClient[] = [];
  try {
    for (const share of ["a", "b", "c", "d"]) {
      const c = await RawClient.connect(h.port);
      open.push(c);
      await c.send(encodeRequest({ op: "subscribe", share, path: "" }));
      assert.deepEqual(await c.response(), { ok: true });
    }
    const c = await RawClient.connect(h.port);
    open.push(c);
    assert.equal((await c.request({ op: "list-shares" })).shares?.length, 4);
  } finally {
    for (const c of open) c.close();
    await h.close();
  }
});
