/**
 * The WebDAV server of `tela mount` over a directory backend, on a real loopback socket: what
 * litmus does not cover (the tree above the shares, the agent's refusals as status codes with
 * their text, empty files, ranges, moves across shares, per-machine concurrency).
 */
import assert from "node:assert/strict";
import { serveWebDav } from "../../lib/fileshare/webdav/server.ts";
import { limitPerMachine } from "../../lib/fileshare/webdav/limit.ts";
import { sanitizeMachineName } from "../../lib/fileshare/webdav/tree.ts";
import { parseIfHeader } from "../../lib/fileshare/webdav/locks.ts";
import { ShareError, shareErrorCode } from "../../lib/fileshare/backend.ts";
import { DirBackend } from "./_dir_backend.ts";

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

async function withServer(
  fn: (base: string, dir: string, backend: DirBackend) => Promise<void>,
  machines = ["barn"],
) {
  const dir = await Deno.makeTempDir({ prefix: "webdav-unit-" });
  const map: ConstructorParameters<typeof DirBackend>[0] = {};
  for (const m of machines) {
    for (const s of ["docs", "other", "ro", "nodel"]) await Deno.mkdir(`${dir}/${m}-${s}`);
    map[m] = [
      { name: "docs", root: `${dir}/${m}-docs`, writable: true, allowDelete: true },
      { name: "other", root: `${dir}/${m}-other`, writable: true, allowDelete: true },
      { name: "ro", root: `${dir}/${m}-ro`, writable: false, allowDelete: false },
      { name: "nodel", root: `${dir}/${m}-nodel`, writable: true, allowDelete: false },
    ];
  }
  const backend = new DirBackend(map);
  const ac = new AbortController();
  const server = serveWebDav({ backend, port: 0, signal: ac.signal, options: { log: quiet } });
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`, dir, backend);
  } finally {
    ac.abort();
    await server.finished;
    await Deno.remove(dir, { recursive: true });
  }
}

async function dav(base: string, method: string, path: string, init: RequestInit = {}) {
  const r = await fetch(base + path, { method, ...init });
  return { status: r.status, text: await r.text(), headers: r.headers };
}

Deno.test("WebDAV tree: machines at the root, shares below, nothing created above a share", async () => {
  await withServer(async (base) => {
    const root = await dav(base, "PROPFIND", "/", { headers: { depth: "1" } });
    assert.equal(root.status, 207);
    assert.match(root.text, /<D:href>\/<\/D:href>/);
    assert.match(root.text, /<D:href>\/barn\/<\/D:href>/);
    const m = await dav(base, "PROPFIND", "/barn/", { headers: { depth: "1" } });
    for (const s of ["docs", "other", "ro", "nodel"]) {
      assert.match(m.text, new RegExp(`/barn/${s}/<`));
    }
    assert.equal((await dav(base, "PROPFIND", "/nope/", { headers: { depth: "0" } })).status, 404);
    assert.equal((await dav(base, "MKCOL", "/barn/newshare/")).status, 403);
    assert.equal((await dav(base, "MKCOL", "/barn/docs/")).status, 405);
    assert.equal((await dav(base, "PUT", "/barn/x.txt", { body: "x" })).status, 403);
    assert.equal((await dav(base, "DELETE", "/barn/docs/")).status, 403);
    const inf = await dav(base, "PROPFIND", "/barn/docs/", { headers: { depth: "infinity" } });
    assert.equal(inf.status, 403);
    assert.match(inf.text, /<D:propfind-finite-depth\/>/);
    const noDepth = await dav(base, "PROPFIND", "/barn/docs/");
    assert.equal(noDepth.status, 403, "a missing Depth is infinity (RFC 4918 §9.1)");
    const opt = await fetch(`${base}/barn/docs/`, { method: "OPTIONS" });
    await opt.body?.cancel();
    assert.equal(opt.headers.get("dav"), "1, 2");
  });
});

Deno.test("WebDAV: the agent's refusals become status codes with the agent's text", async () => {
  await withServer(async (base, dir) => {
    await Deno.writeTextFile(`${dir}/barn-ro/a.txt`, "hello");
    await Deno.writeTextFile(`${dir}/barn-nodel/keep.txt`, "keep");
    const ro = await dav(base, "PUT", "/barn/ro/b.txt", { body: "x" });
    assert.deepEqual([ro.status, ro.text], [403, "file sharing is read-only\n"]);
    const del = await dav(base, "DELETE", "/barn/nodel/keep.txt");
    assert.deepEqual([del.status, del.text], [403, "delete not allowed\n"]);
    const mk = await dav(base, "MKCOL", "/barn/ro/d/");
    assert.deepEqual([mk.status, mk.text], [403, "file sharing is read-only\n"]);
    assert.equal((await dav(base, "GET", "/barn/ro/a.txt")).text, "hello");
    assert.equal((await dav(base, "PUT", "/barn/docs/no/parent.txt", { body: "x" })).status, 409);
  });
});

Deno.test("WebDAV: empty files live in the server (the protocol cannot store them)", async () => {
  await withServer(async (base, dir) => {
    assert.equal((await dav(base, "PUT", "/barn/docs/empty.txt", { body: "" })).status, 201);
    const pf = await dav(base, "PROPFIND", "/barn/docs/", { headers: { depth: "1" } });
    assert.match(pf.text, /\/barn\/docs\/empty\.txt<\/D:href>.*?<D:getcontentlength>0</s);
    const g = await dav(base, "GET", "/barn/docs/empty.txt");
    assert.deepEqual([g.status, g.text], [200, ""]);
    await assert.rejects(Deno.stat(`${dir}/barn-docs/empty.txt`), Deno.errors.NotFound);
    // Written with bytes, it is a real file; emptied again, the real one is deleted.
    assert.equal((await dav(base, "PUT", "/barn/docs/empty.txt", { body: "now" })).status, 204);
    assert.equal(await Deno.readTextFile(`${dir}/barn-docs/empty.txt`), "now");
    assert.equal((await dav(base, "PUT", "/barn/docs/empty.txt", { body: "" })).status, 204);
    await assert.rejects(Deno.stat(`${dir}/barn-docs/empty.txt`), Deno.errors.NotFound);
    assert.equal((await dav(base, "DELETE", "/barn/docs/empty.txt")).status, 204);
    assert.equal((await dav(base, "GET", "/barn/docs/empty.txt")).status, 404);
    // Emptying a file where delete is not allowed is refused with the reason.
    await Deno.writeTextFile(`${dir}/barn-nodel/f.txt`, "data");
    const r = await dav(base, "PUT", "/barn/nodel/f.txt", { body: "" });
    assert.equal(r.status, 403);
    assert.match(r.text, /stores no empty files.*delete not allowed/);
  });
});

Deno.test("WebDAV GET: single ranges, suffix ranges, 416, conditional 304", async () => {
  await withServer(async (base, dir) => {
    const data = new Uint8Array(100_000).map((_, i) => i % 251);
    await Deno.writeFile(`${dir}/barn-docs/r.bin`, data);
    const part = async (range: string) => {
      const r = await fetch(`${base}/barn/docs/r.bin`, { headers: { range } });
      return { status: r.status, body: new Uint8Array(await r.arrayBuffer()), h: r.headers };
    };
    const a = await part("bytes=1000-1999");
    assert.equal(a.status, 206);
    assert.deepEqual(a.body, data.slice(1000, 2000));
    assert.equal(a.h.get("content-range"), "bytes 1000-1999/100000");
    const b = await part("bytes=-10");
    assert.deepEqual(b.body, data.slice(-10));
    const c = await part("bytes=99990-");
    assert.deepEqual(c.body, data.slice(99990));
    assert.equal((await part("bytes=200000-")).status, 416);
    const full = await fetch(`${base}/barn/docs/r.bin`);
    const etag = full.headers.get("etag")!;
    assert.deepEqual(new Uint8Array(await full.arrayBuffer()), data);
    const nm = await fetch(`${base}/barn/docs/r.bin`, { headers: { "if-none-match": etag } });
    await nm.body?.cancel();
    assert.equal(nm.status, 304);
  });
});

Deno.test("WebDAV MOVE and COPY across shares and machines go through read and write", async () => {
  await withServer(async (base, dir) => {
    await Deno.writeTextFile(`${dir}/barn-docs/a.txt`, "across");
    await Deno.mkdir(`${dir}/barn-docs/d/e`, { recursive: true });
    await Deno.writeTextFile(`${dir}/barn-docs/d/e/f.txt`, "deep");
    const copy = await dav(base, "COPY", "/barn/docs/a.txt", {
      headers: { destination: `${base}/shed/docs/a.txt` },
    });
    assert.equal(copy.status, 201);
    assert.equal(await Deno.readTextFile(`${dir}/shed-docs/a.txt`), "across");
    const move = await dav(base, "MOVE", "/barn/docs/d/", {
      headers: { destination: `${base}/barn/other/d2/` },
    });
    assert.equal(move.status, 201);
    assert.equal(await Deno.readTextFile(`${dir}/barn-other/d2/e/f.txt`), "deep");
    await assert.rejects(Deno.stat(`${dir}/barn-docs/d`), Deno.errors.NotFound);
    const over = await dav(base, "MOVE", "/barn/docs/a.txt", {
      headers: { destination: `${base}/shed/docs/a.txt`, overwrite: "F" },
    });
    assert.equal(over.status, 412);
    const other = await dav(base, "COPY", "/barn/docs/a.txt", {
      headers: { destination: "http://elsewhere.example/barn/docs/b.txt" },
    });
    assert.equal(other.status, 502);
  }, ["barn", "shed"]);
});

Deno.test("sanitizeMachineName: valid names kept, others made into directory names (spec §4.2)", () => {
  assert.equal(sanitizeMachineName("web01"), "web01");
  assert.equal(sanitizeMachineName('a/b\\c:d*e?f"g<h>i|j'), "a_b_c_d_e_f_g_h_i_j");
  assert.equal(sanitizeMachineName("tail. . "), "tail");
  assert.equal(sanitizeMachineName(""), "_");
  assert.equal(sanitizeMachineName("x\u0001y"), "x_y");
});

Deno.test("parseIfHeader: tagged and untagged lists, Not, entity tags (RFC 4918 §10.4)", () => {
  assert.deepEqual(parseIfHeader('(<urn:a> ["e1"]) (Not <DAV:no-lock>)'), [
    {
      resource: undefined,
      conditions: [{ not: false, token: "urn:a" }, { not: false, etag: '"e1"' }],
    },
    { resource: undefined, conditions: [{ not: true, token: "DAV:no-lock" }] },
  ]);
  assert.deepEqual(parseIfHeader("<http://h/x> (<urn:b>)"), [
    { resource: "http://h/x", conditions: [{ not: false, token: "urn:b" }] },
  ]);
  assert.throws(() => parseIfHeader("(<urn:a>"), /missing ">"|unexpected/);
  assert.throws(() => parseIfHeader("()"), /empty list/);
});

Deno.test("shareErrorCode: the agent's error strings (spec §2.8) by kind", () => {
  const cases: [string, string][] = [
    ["file not found", "not-found"],
    ["unknown share: x", "not-found"],
    ["destination already exists", "exists"],
    ["file sharing is read-only", "forbidden"],
    ["destination: path traversal not allowed", "forbidden"],
    ["file too large (max 10 bytes)", "too-large"],
    ["size mismatch: expected 3, got 2", "invalid"],
    ["mkdir failed: mkdir /srv/a/b: no such file or directory", "not-found"],
    ["cannot connect to file share on barn: timeout", "unavailable"],
  ];
  for (const [msg, code] of cases) assert.equal(shareErrorCode(msg), code, msg);
  assert.equal(new ShareError("delete not allowed").code, "forbidden");
});

Deno.test("limitPerMachine: at most N calls per machine at once; a read holds its slot until read", async () => {
  let active = 0, peak = 0;
  const gate = Promise.withResolvers<void>();
  const slow = async <T>(v: T) => {
    active++;
    peak = Math.max(peak, active);
    await gate.promise;
    active--;
    return v;
  };
  const inner = {
    machines: () => Promise.resolve(["m"]),
    shares: () => slow([]),
    list: () => slow([]),
    read: () =>
      Promise.resolve({
        size: 1,
        body: new ReadableStream<Uint8Array>({
          start(c) {
            c.enqueue(new Uint8Array([1]));
            c.close();
          },
        }),
      }),
    write: () => slow(undefined),
    delete: () => slow(undefined),
    mkdir: () => slow(undefined),
    rename: () => slow(undefined),
    move: () => slow(undefined),
  };
  const b = limitPerMachine(inner, 2);
  const r = await b.read("m", "s", "f");
  const calls = [b.list("m", "s", ""), b.mkdir("m", "s", "a"), b.delete("m", "s", "b")];
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(active, 1, "the unread read holds one of the two slots");
  await r.body.cancel();
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(active, 2);
  gate.resolve();
  await Promise.all(calls);
  assert.equal(peak, 2);
});

Deno.test("WebDAV: a Host that is not a loopback name is refused (DNS rebinding)", async () => {
  await withServer(async (base) => {
    const port = new URL(base).port;
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    await conn.write(
      new TextEncoder().encode(
        `GET /barn/docs/ HTTP/1.1\r\nHost: evil.example:${port}\r\nConnection: close\r\n\r\n`,
      ),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    assert.match(text, /^HTTP\/1\.1 403/);
    assert.match(text, /is not a loopback name/);
    const ok = await dav(base.replace("127.0.0.1", "localhost"), "PROPFIND", "/", {
      headers: { depth: "0" },
    });
    assert.equal(ok.status, 207);
  });
});

Deno.test("WebDAV: a file made by another client shows up before the listing cache expires", async () => {
  let now = 1_000_000;
  const dir = await Deno.makeTempDir({ prefix: "webdav-unit-" });
  const backend = new DirBackend({
    barn: [{ name: "docs", root: dir, writable: true, allowDelete: true }],
  });
  const ac = new AbortController();
  const server = serveWebDav({
    backend,
    port: 0,
    signal: ac.signal,
    options: { log: quiet, tree: { now: () => now } },
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    assert.equal(
      (await dav(base, "PROPFIND", "/barn/docs/", { headers: { depth: "1" } })).status,
      207,
    );
    await Deno.writeTextFile(`${dir}/late.txt`, "made elsewhere");
    now += 1_000; // within 2 s the cached listing answers
    assert.equal((await dav(base, "GET", "/barn/docs/late.txt")).status, 404);
    now += 2_000; // older: a miss asks the agent again
    assert.equal((await dav(base, "GET", "/barn/docs/late.txt")).text, "made elsewhere");
  } finally {
    ac.abort();
    await server.finished;
    await Deno.remove(dir, { recursive: true });
  }
});
