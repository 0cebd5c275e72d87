/**
 * Regression tests for the security review of the file-share server (limits and
 * cleanup): each test fails on the code before its fix.
 */
import assert from "node:assert/strict";
import { names, RawClient, silentLog, startServer } from "./_test_util.ts";
import { chunkHeader, encodeRequest, MAX_CONNECTIONS, MAX_REQUEST_LINE } from "./protocol.ts";
import { MAX_SUBSCRIPTIONS, ShareServer, type ShareServerOptions } from "./server.ts";
import { type ShareFields, shareFromFields } from "./config.ts";
import { socketDuplex } from "../session/mod.ts";

/** One ShareServer (one machine) serving two listeners (two sessions). */
async function twoSessions(fields: Omit<ShareFields, "path">, options: ShareServerOptions = {}) {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "fixfiles-test-" }));
  const server = await ShareServer.create(
    [shareFromFields({ ...fields, path: dir })],
    silentLog(),
    options,
  );
  const listeners = [0, 1].map(() => Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  const served = listeners.map((l) =>
    server.serve({
      accept: async () => {
        const c = await l.accept();
        return { ...socketDuplex(c), abort: () => c.close() };
      },
      close: () => l.close(),
    })
  );
  return {
    dir,
    server,
    ports: listeners.map((l) => l.addr.port),
    async close() {
      server.close();
      for (const l of listeners) {
        try {
          l.close();
        } catch { /* closed */ }
      }
      await Promise.all(served);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Total bytes of the regular files directly in `dir`. */
async function bytesIn(dir: string): Promise<number> {
  let total = 0;
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) total += (await Deno.stat(`${dir}/${e.name}`)).size;
  }
  return total;
}

Deno.test("limits: parallel uploads cannot pass maxTotalSize, and the reservation never goes negative", async () => {
  const h = await startServer([
    { name: "s", writable: true, allowDelete: true, maxTotalSize: 1_000_000 },
  ]);
  const root = h.shares[0].path;
  // Some files, so that measuring the usage takes several awaits.
  for (let i = 0; i < 50; i++) await Deno.writeTextFile(`${root}/pad${i}.txt`, "p");
  const cs = await Promise.all([0, 1, 2, 3].map(() => RawClient.connect(h.port)));
  try {
    const rs = await Promise.all(
      cs.map((c, i) => c.write("s", `f${i}.txt`, new Uint8Array(600_000))),
    );
    assert.equal(rs.filter((r) => r.ok).length, 1, JSON.stringify(rs));
    for (const r of rs.filter((r) => !r.ok)) {
      assert.equal(r.error, "would exceed total size limit");
    }
    assert.ok((await bytesIn(root)) <= 1_000_000);
    for (let i = 0; i < 4; i++) {
      await cs[0].request({ op: "delete", share: "s", path: `f${i}.txt` });
    }
    // A negative reservation would let this through.
    const big = await cs[0].write("s", "big.txt", new Uint8Array(2_500_000));
    assert.deepEqual(big, { ok: false, error: "would exceed total size limit" });
  } finally {
    cs.forEach((c) => c.close());
    await h.close();
  }
});

Deno.test("limits: the connection and subscription limits hold per session, not per machine", async () => {
  const h = await twoSessions({ name: "s" }, { subscribeIntervalMs: 0 });
  const cs: RawClient[] = [];
  try {
    // Session A uses all its connections and subscriptions.
    for (let i = 0; i < MAX_SUBSCRIPTIONS; i++) {
      const c = await RawClient.connect(h.ports[0]);
      cs.push(c);
      assert.deepEqual(await c.request({ op: "subscribe", share: "s", path: "" }), { ok: true });
    }
    for (let i = 0; i < MAX_CONNECTIONS; i++) {
      const c = await RawClient.connect(h.ports[0]);
      cs.push(c);
      assert.equal((await c.request({ op: "list", share: "s", path: "" })).ok, true);
    }
    const extra = await RawClient.connect(h.ports[0]);
    cs.push(extra);
    assert.equal(await extra.response(), null, "a fifth connection on session A is closed");
    // Session B is not affected.
    const b = await RawClient.connect(h.ports[1]);
    cs.push(b);
    assert.equal((await b.request({ op: "list", share: "s", path: "" })).ok, true);
    const bs = await RawClient.connect(h.ports[1]);
    cs.push(bs);
    assert.deepEqual(await bs.request({ op: "subscribe", share: "s", path: "" }), { ok: true });
  } finally {
    cs.forEach((c) => c.close());
    await h.close();
  }
});

Deno.test("limits: a trickled upload ends at its time cap and frees its reservation", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "fixfiles-test-" }));
  const share = shareFromFields({ name: "s", path: dir, writable: true, maxTotalSize: 1000 });
  const server = await ShareServer.create([share], silentLog(), {
    uploadGraceMs: 300,
    minUploadBytesPerSecond: 1_000_000,
  });
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = server.serve({
    accept: async () => {
      const c = await l.accept();
      return { ...socketDuplex(c), abort: () => c.close() };
    },
    close: () => l.close(),
  });
  const c = await RawClient.connect(l.addr.port);
  const v = await RawClient.connect(l.addr.port);
  try {
    await c.send(encodeRequest({ op: "write", share: "s", path: "t.txt", size: 900 }));
    let answer: unknown = undefined;
    c.response().then((r) => answer = r, (e) => answer = e);
    // One byte every 100 ms: each chunk is within the stall deadline.
    for (let i = 0; i < 50 && answer === undefined; i++) {
      await c.send(chunkHeader(1)).catch(() => {});
      await c.send("A").catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(answer, { ok: false, error: "transfer too slow" });
    assert.deepEqual(await v.write("s", "v.txt", new Uint8Array(800)), { ok: true, size: 800 });
  } finally {
    c.close();
    v.close();
    server.close();
    l.close();
    await served;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("limits: the agent closes a connection whose request line passes 64 KiB", async () => {
  const h = await startServer([{ name: "s" }]);
  const c = await RawClient.connect(h.port);
  let t: ReturnType<typeof setTimeout> | undefined;
  try {
    assert.equal(MAX_REQUEST_LINE, 64 * 1024);
    // A request line just under the cap is read and answered.
    const ok = `{"op":"list","share":"s","path":"","x":"${"y".repeat(60 * 1024)}"}\n`;
    await c.send(ok);
    assert.equal((await c.response())?.ok, true);
    // 1 MiB with no newline: the connection ends at once, not at the 60 s request deadline.
    await c.send(`{"op":"list","share":"s","path":"${"z".repeat(1024 * 1024)}`).catch(() => {});
    const end = await Promise.race([
      c.response().catch(() => null),
      new Promise((r) => t = setTimeout(() => r("still open after 10 s"), 10_000)),
    ]);
    assert.equal(end, null);
  } finally {
    clearTimeout(t);
    c.close();
    await h.close();
  }
});

Deno.test("cleanup: a crash's .tela-upload-* leftovers are removed at start and never count against maxTotalSize", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "fixfiles-test-" }));
  const share = shareFromFields({ name: "s", path: dir, writable: true, maxTotalSize: 1_000_000 });
  await Deno.mkdir(`${dir}/sub`);
  const old = [`${dir}/.tela-upload-00aa`, `${dir}/sub/.tela-upload-11bb`];
  const fresh = `${dir}/.tela-upload-22cc`;
  for (const f of [...old, fresh]) await Deno.writeFile(f, new Uint8Array(600_000));
  const hourAgo = new Date(Date.now() - 3600_000);
  for (const f of old) await Deno.utime(f, hourAgo, hourAgo);
  const server = await ShareServer.create([share], silentLog());
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = server.serve({
    accept: async () => {
      const c = await l.accept();
      return { ...socketDuplex(c), abort: () => c.close() };
    },
    close: () => l.close(),
  });
  const c = await RawClient.connect(l.addr.port);
  try {
    for (const f of old) await assert.rejects(Deno.lstat(f), Deno.errors.NotFound);
    // A fresh one may be another process's live upload: kept, but not counted.
    assert.equal((await Deno.lstat(fresh)).size, 600_000);
    assert.deepEqual(await c.write("s", "ok.txt", new Uint8Array(800_000)), {
      ok: true,
      size: 800_000,
    });
  } finally {
    c.close();
    await server.close();
    l.close();
    await served;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cleanup: close() resolves after interrupted uploads removed their temporary files", async () => {
  const h = await startServer([{ name: "s", writable: true }]);
  const c = await RawClient.connect(h.port);
  try {
    await c.send(encodeRequest({ op: "write", share: "s", path: "big.txt", size: 1_000_000 }));
    await c.send(chunkHeader(16384));
    await c.send(new Uint8Array(16384));
    // Wait until the upload's temporary file exists.
    let tmp: string[] = [];
    for (let i = 0; i < 100 && tmp.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      tmp = (await names(h.shares[0].path)).filter((n) => n.startsWith(".tela-upload-"));
    }
    assert.equal(tmp.length, 1);
    await h.server.close();
    assert.deepEqual(await names(h.shares[0].path), []);
  } finally {
    c.close();
    await h.close();
  }
});

Deno.test("names: control characters are refused in names a request creates, on every path", async () => {
  const h = await startServer([{ name: "s", writable: true, allowDelete: true }]);
  await Deno.writeTextFile(`${h.shares[0].path}/a.txt`, "a");
  const c = await RawClient.connect(h.port);
  const err = "path validation failed: control character in name";
  try {
    for (const bad of ["x\x1b[2J.txt", "x\ny.txt", "x\x7f.txt", "x\x01"]) {
      assert.deepEqual(await c.write("s", bad, new TextEncoder().encode("hi")), {
        ok: false,
        error: err,
      });
      assert.deepEqual(await c.request({ op: "mkdir", share: "s", path: bad }), {
        ok: false,
        error: err,
      });
      assert.deepEqual(
        await c.request({ op: "rename", share: "s", path: "a.txt", newName: bad }),
        { ok: false, error: err },
      );
      assert.deepEqual(
        await c.request({ op: "move", share: "s", path: "a.txt", newPath: `d/${bad}` }),
        { ok: false, error: `destination: ${err}` },
      );
    }
    assert.deepEqual(await names(h.shares[0].path), ["a.txt"]);
  } finally {
    c.close();
    await h.close();
  }
});

Deno.test("limits: at most 4 subscriptions per session, one new one per second", async () => {
  const h = await twoSessions({ name: "s" });
  const cs: RawClient[] = [];
  const subscribe = async (port: number) => {
    const c = await RawClient.connect(port);
    cs.push(c);
    return await c.request({ op: "subscribe", share: "s", path: "" });
  };
  try {
    assert.equal(MAX_SUBSCRIPTIONS, 4);
    assert.deepEqual(await subscribe(h.ports[0]), { ok: true });
    // Right after: refused (each watcher walks the whole share when it starts).
    const again = await subscribe(h.ports[0]);
    assert.equal(again.ok, false);
    assert.match(again.error!, /^cannot create file watcher: at most one new subscription/);
    // Another session is not slowed by this one.
    assert.deepEqual(await subscribe(h.ports[1]), { ok: true });
    for (let i = 1; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 1_050));
      assert.deepEqual(await subscribe(h.ports[0]), { ok: true });
    }
    await new Promise((r) => setTimeout(r, 1_050));
    assert.deepEqual(await subscribe(h.ports[0]), {
      ok: false,
      error: "cannot create file watcher: 4 subscriptions already watch this session's shares",
    });
  } finally {
    cs.forEach((c) => c.close());
    await h.close();
  }
});
