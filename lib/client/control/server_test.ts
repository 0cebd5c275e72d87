/**
 * The local control API (spec §13) in front of a real share server on loopback, and the
 * {@link ControlApiBackend} (the ShareBackend `tela mount` uses) over it: auth, routes, the
 * streamed file proxy with the Q-CT-1/Q-CT-2 fixes, and every backend operation.
 */
import assert from "node:assert/strict";
import { socketDuplex } from "../../session/mod.ts";
import { type Harness, sha256, startServer } from "../../fileshare/_test_util.ts";
import { controlProof, ControlServer, NONCE_HEADER, PROOF_HEADER } from "./server.ts";
import { ControlClient } from "../../fileshare/control_client.ts";
import { createHmac } from "node:crypto";
import { ControlApiBackend } from "../../fileshare/control_backend.ts";
import { ShareError } from "../../fileshare/backend.ts";
import { logger } from "../../log/mod.ts";

async function withControl(
  fn: (c: { server: ControlServer; share: Harness; file: string; home: string }) => Promise<void>,
) {
  const home = await Deno.makeTempDir({ prefix: "control-test-" });
  const oldHome = Deno.env.get("HOME");
  Deno.env.set("HOME", home);
  const share = await startServer([
    { name: "docs", writable: true, allowDelete: true },
    { name: "ro" },
  ]);
  let dials = 0;
  const server = await ControlServer.start({
    log: logger("test"),
    profile: "p",
    dialTimeoutsMs: [1000],
    tunnels: {
      machines: () => ["barn"],
      dial: async (machine, port) => {
        if (machine !== "barn") throw new Error("no tunnel");
        assert.equal(port, 17377);
        dials++;
        const c = await Deno.connect({ hostname: "127.0.0.1", port: share.port });
        return { ...socketDuplex(c), abort: () => c.close() };
      },
    },
  });
  try {
    await fn({ server, share, file: server.controlFile, home });
    assert.ok(dials > 0);
  } finally {
    await server.close();
    await share.close();
    if (oldHome) Deno.env.set("HOME", oldHome);
    await Deno.remove(home, { recursive: true });
  }
}

Deno.test("control API: discovery file, bearer auth, routes and methods (spec §13.1-13.3)", async () => {
  await withControl(async ({ server, file, home }) => {
    assert.equal(file, `${home}/.tela/run/control.json`);
    const text = await Deno.readTextFile(file);
    const info = JSON.parse(text);
    assert.equal(
      text,
      JSON.stringify({ pid: Deno.pid, port: server.port, token: server.token }, null, 2),
    );
    assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    const base = `http://127.0.0.1:${info.port}`;
    const auth = { Authorization: `Bearer ${info.token}` };
    const get = async (path: string, init: RequestInit = {}) => {
      const r = await fetch(base + path, init);
      return { status: r.status, text: await r.text(), type: r.headers.get("content-type") };
    };
    assert.deepEqual(await get("/nope"), {
      status: 404,
      text: "404 page not found\n",
      type: "text/plain; charset=utf-8",
    });
    assert.equal((await get("/")).status, 401);
    assert.equal(
      (await get("/", { headers: { Authorization: "Bearer" } })).text,
      "authorization required\n",
    );
    assert.equal(
      (await get("/", { headers: { Authorization: `Bearer ${info.token}x` } })).text,
      "invalid token\n",
    );
    const root = JSON.parse((await get("/", { headers: auth })).text);
    assert.deepEqual(Object.keys(root), [
      "_links",
      "connections",
      "profile",
      "services",
      "uptime",
      "version",
    ]);
    assert.equal(root.profile, "p");
    assert.match(root.uptime, /^\d+s$/);
    assert.equal((await get("/", { method: "PUT", headers: auth })).status, 405);
    assert.equal(
      (await get("/tunnels", { headers: auth })).text,
      '[\n  {\n    "machine": "barn"\n  }\n]\n',
    );
    assert.deepEqual(JSON.parse((await get("/files-probe/barn", { headers: auth })).text), {
      status: "available",
    });
    const none = await get("/files-probe/elsewhere", { headers: auth });
    assert.equal(none.status, 503);
    assert.deepEqual(JSON.parse(none.text), { error: "no file share" });
    const noTunnel = await get("/files/elsewhere", { method: "POST", headers: auth, body: "{}\n" });
    assert.equal(noTunnel.status, 503);
    assert.match(JSON.parse(noTunnel.text).error, /no active tunnel for machine "elsewhere"/);
    assert.equal((await get("/files/barn", { headers: auth })).status, 405);
    const redirect = await fetch(`${base}/files`, { redirect: "manual", headers: auth });
    await redirect.body?.cancel();
    assert.equal(redirect.status, 301);
  });
});

Deno.test("control API proxy: zero-byte reads end with CHUNK 0 (Q-CT-1), write answers end the body at once (Q-CT-2)", async () => {
  await withControl(async ({ share, file }) => {
    await Deno.writeFile(`${share.dir}/docs/empty.txt`, new Uint8Array(0));
    const info = JSON.parse(await Deno.readTextFile(file));
    const post = (body: string) =>
      fetch(`http://127.0.0.1:${info.port}/files/barn`, {
        method: "POST",
        headers: { Authorization: `Bearer ${info.token}` },
        body,
      });
    const r = await post('{"op":"read","share":"docs","path":"empty.txt"}\n');
    const text = await r.text();
    assert.match(
      text,
      /^\{"ok":true,"modTime":"[^"]+","checksum":"sha256:e3b0[0-9a-f]+"\}\nCHUNK 0\n$/,
    );
    const t0 = performance.now();
    const w = await post(
      '{"op":"write","share":"docs","path":"a.txt","size":5}\nCHUNK 5\nhelloCHUNK 0\n',
    );
    assert.equal(await w.text(), '{"ok":true,"size":5}\n');
    assert.ok(performance.now() - t0 < 10_000, "not held until the agent's idle timeout");
    assert.equal(await Deno.readTextFile(`${share.dir}/docs/a.txt`), "hello");
  });
});

Deno.test("ShareBackend over the control API: every operation, refusals as ShareError kinds", async () => {
  await withControl(async ({ file }) => {
    const b = new ControlApiBackend(file);
    assert.deepEqual(await b.machines(), ["barn"]);
    assert.deepEqual(await b.shares("barn"), [
      { name: "docs", writable: true, allowDelete: true },
      { name: "ro", writable: false, allowDelete: false },
    ]);
    const data = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    await b.write(
      "barn",
      "docs",
      "d/x.bin",
      data.length,
      new Blob([data]).stream(),
      `sha256:${sha256(data)}`,
    );
    const rd = await b.read("barn", "docs", "d/x.bin", { offset: 10 });
    assert.equal(rd.size, data.length);
    assert.equal(rd.offset, 0);
    assert.equal(rd.checksum, `sha256:${sha256(data)}`);
    assert.equal(sha256(new Uint8Array(await new Response(rd.body).arrayBuffer())), sha256(data));
    // Without a checksum the agent stores what arrived; the size still has to match.
    await b.write("barn", "docs", "y.txt", 2, new Blob(["hi"]).stream());
    await b.mkdir("barn", "docs", "sub");
    await b.rename("barn", "docs", "y.txt", "z.txt");
    await b.move("barn", "docs", "z.txt", "sub");
    assert.deepEqual((await b.list("barn", "docs", "")).map((e) => e.name), ["d", "sub"]);
    assert.deepEqual((await b.list("barn", "docs", "sub")).map((e) => [e.name, e.size]), [[
      "z.txt",
      2,
    ]]);
    await b.delete("barn", "docs", "sub/z.txt");
    const kind = async (p: Promise<unknown>, code: string, msg: RegExp) => {
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof ShareError, String(e));
        assert.equal(e.code, code, e.message);
        assert.match(e.message, msg);
        return true;
      });
    };
    await kind(b.read("barn", "docs", "nope"), "not-found", /^file not found$/);
    await kind(b.list("barn", "docs", "nope"), "not-found", /cannot read directory/);
    await kind(b.mkdir("barn", "docs", "sub"), "exists", /directory already exists/);
    await kind(b.mkdir("barn", "ro", "x"), "forbidden", /read-only/);
    await kind(
      b.write("barn", "ro", "x.txt", 1, new Blob(["x"]).stream()),
      "forbidden",
      /read-only/,
    );
    await kind(
      b.write("barn", "docs", "x.exe", 1, new Blob(["x"]).stream()),
      "forbidden",
      /extension/,
    );
    await kind(b.read("barn", "docs", "../outside/secret.txt"), "forbidden", /traversal/);
    await kind(b.read("barn", "docs", "d"), "invalid", /cannot read a directory/);
    await kind(b.shares("elsewhere"), "unavailable", /no active tunnel/);
    // A body shorter than declared: the agent refuses, nothing is stored.
    await kind(
      b.write("barn", "docs", "short.bin", 10, new Blob(["abc"]).stream()),
      "invalid",
      /size mismatch: expected 10, got 3/,
    );
    await kind(
      b.write("barn", "docs", "bad.bin", 3, new Blob(["abc"]).stream(), `sha256:${"0".repeat(64)}`),
      "invalid",
      /checksum mismatch/,
    );
    assert.deepEqual((await b.list("barn", "docs", "")).map((e) => e.name), ["d", "sub"]);
    // A big upload refused up front is answered without sending all its bytes first.
    const big = new Uint8Array(64 * 1024 * 1024);
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (pulled >= big.length) return c.close();
        const n = Math.min(1 << 20, big.length - pulled);
        pulled += n;
        c.enqueue(big.subarray(0, n));
      },
    }, { highWaterMark: 0 });
    await kind(b.write("barn", "ro", "big.bin", big.length, body), "forbidden", /read-only/);
    assert.ok(pulled < big.length, `stopped early (${pulled} bytes read)`);
  });
});

Deno.test("ShareBackend without a running tela connect: unavailable, with what to do", async () => {
  const b = new ControlApiBackend("/nonexistent/control.json");
  await assert.rejects(b.machines(), (e: unknown) => {
    assert.ok(e instanceof ShareError);
    assert.equal(e.code, "unavailable");
    assert.match(e.message, /^no running tela instance found \(no control file\)/);
    return true;
  });
});

Deno.test("control API: a stale control.json cannot make the client talk to an impostor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "control-test-" });
  const seen: string[] = [];
  // Another local user's program on the port a crashed tela connect had.
  const impostor = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname} ${await req.text()}`);
    return new Response('{"ok":true,"size":15}\n', { status: 200 });
  });
  try {
    const file = `${dir}/control.json`;
    const data = new TextEncoder().encode("salary: 123456\n");
    // A live pid (ours): only the token proof can tell.
    await Deno.writeTextFile(
      file,
      JSON.stringify({ pid: Deno.pid, port: impostor.addr.port, token: "stale" }),
    );
    const cl = await ControlClient.discover(file);
    await assert.rejects(
      cl.write("barn", "docs", "payroll.txt", data.length, ReadableStream.from([data])),
      (e: Error) => e instanceof ShareError && /did not prove it holds the token/.test(e.message),
    );
    await assert.rejects(cl.request("barn", { op: "list-shares" }), /did not prove/);
    assert.ok(seen.every((s) => !s.includes("salary")), JSON.stringify(seen));
    assert.ok(seen.every((s) => !s.startsWith("POST")), JSON.stringify(seen));
    if (Deno.build.os === "linux") {
      // A pid that is gone: refused before any connection.
      const child = new Deno.Command("true").spawn();
      await child.status;
      await Deno.writeTextFile(
        file,
        JSON.stringify({ pid: child.pid, port: impostor.addr.port, token: "stale" }),
      );
      const n = seen.length;
      await assert.rejects(ControlClient.discover(file), /stale control file .*not running/);
      assert.equal(seen.length, n);
    }
  } finally {
    await impostor.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("control API: proves it holds the token for a nonce; Go's clients (no nonce) as before", async () => {
  await withControl(async ({ server }) => {
    const auth = { Authorization: `Bearer ${server.token}` };
    const nonce = "00112233445566778899aabbccddeeff";
    const res = await fetch(`http://127.0.0.1:${server.port}/`, {
      headers: { ...auth, [NONCE_HEADER]: nonce },
    });
    await res.body?.cancel();
    assert.equal(res.headers.get(PROOF_HEADER), controlProof(server.token, nonce));
    assert.equal(
      controlProof(server.token, nonce),
      createHmac("sha256", server.token).update(nonce).digest("hex"),
    );
    const go = await fetch(`http://127.0.0.1:${server.port}/`, { headers: auth });
    await go.body?.cancel();
    assert.equal(go.status, 200);
    assert.equal(go.headers.get(PROOF_HEADER), null);
    // No proof for a caller without the token.
    const bad = await fetch(`http://127.0.0.1:${server.port}/`, {
      headers: { Authorization: "Bearer x", [NONCE_HEADER]: nonce },
    });
    await bad.body?.cancel();
    assert.equal(bad.status, 401);
    assert.equal(bad.headers.get(PROOF_HEADER), null);
    // The ControlClient checks it on every request.
    const cl = await ControlClient.discover(server.controlFile);
    assert.deepEqual(await cl.tunnels(), ["barn"]);
    assert.equal((await cl.request("barn", { op: "list-shares" })).ok, true);
  });
});
