import assert from "node:assert/strict";
import { withHome } from "../../tests/with_home.ts";
import { freeTcpPort } from "../../tests/free_port.ts";
import { directoryUrlToWs, HubResolveError, resolveHubUrl, resolveLoginHub } from "./hubs.ts";
import {
  clientConfigPath,
  deleteRemote,
  listRemotes,
  loadClientConfig,
  maskToken,
  normalizeRemoteUrl,
  putRemote,
  remoteNameProblem,
} from "./remotes.ts";

/** A directory on loopback listing `hubs` to callers with `token` (none: open). */
function directory(hubs: { name: string; url: string }[], token?: string, dir = "/api/hubs") {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    seen.push(`${req.method} ${path} ${req.headers.get("authorization") ?? "-"}`);
    if (path === "/.well-known/tela") return Response.json({ hub_directory: dir });
    if (path !== dir) return new Response("404 page not found\n", { status: 404 });
    if (token && req.headers.get("authorization") !== `Bearer ${token}`) {
      return Response.json({ error: "unauthorized" }, { status: 401 });
    }
    return Response.json({ hubs });
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, close: () => server.shutdown() };
}

Deno.test("config.yaml: remotes written atomically (0600, sorted), legacy portal: migrated", async () => {
  await withHome(async (home) => {
    const path = clientConfigPath();
    assert.equal(path, `${home}/.tela/config.yaml`);
    assert.deepEqual(await listRemotes(), []);
    assert.equal(
      await putRemote("zeta", { url: "https://z.example", token: "t0k3n-secret" }),
      false,
    );
    assert.equal(await putRemote("alpha", { url: "http://a:1", hub_directory: "/dir" }), false);
    assert.equal(await putRemote("alpha", { url: "http://a:2" }), true);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(`${home}/.tela`)).mode! & 0o777, 0o700);
    assert.deepEqual((await listRemotes()).map((r) => [r.name, r.remote.url]), [
      ["alpha", "http://a:2"],
      ["zeta", "https://z.example"],
    ]);
    assert.equal(await deleteRemote("alpha"), true);
    assert.equal(await deleteRemote("alpha"), false);

    await Deno.writeTextFile(
      path,
      "portal:\n  url: https://old.example/\n  token: abc\nother: kept\n",
    );
    const cfg = await loadClientConfig();
    assert.deepEqual(cfg.remotes, { portal: { url: "https://old.example", token: "abc" } });
    const text = await Deno.readTextFile(path);
    assert.doesNotMatch(text, /^portal:/m, "the legacy key is rewritten");
    assert.match(text, /^other: kept$/m);
    assert.match(text, /^remotes:\n {2}portal:\n {4}url: https:\/\/old\.example\n/m);

    await Deno.writeTextFile(path, "remotes:\n  bad: {token: x}\n");
    await assert.rejects(loadClientConfig(), /remotes\.bad has no url; run "tela remote add bad/);
  });
});

Deno.test("remote URLs and names are checked; tokens are masked", () => {
  assert.equal(normalizeRemoteUrl("directory.example.com/"), "https://directory.example.com");
  assert.equal(normalizeRemoteUrl("HTTP://h:8/"), "HTTP://h:8");
  assert.throws(() => normalizeRemoteUrl("wss://hub.example"), /use https:\/\/hub\.example/);
  assert.throws(() => normalizeRemoteUrl("ftp://x"), /must be an http:\/\/ or https:\/\/ URL/);
  assert.equal(remoteNameProblem("work-1.a_b"), undefined);
  assert.match(remoteNameProblem("a b") ?? "", /not usable/);
  assert.match(remoteNameProblem("") ?? "", /not usable/);
  assert.equal(maskToken(undefined), "(none)");
  assert.equal(maskToken("0123456789abcdef"), "****cdef");
  assert.equal(maskToken("short"), "****");
  assert.equal(directoryUrlToWs("https://h.example/x"), "wss://h.example/x");
  assert.equal(directoryUrlToWs("http://h:8"), "ws://h:8");
  assert.equal(directoryUrlToWs("wss://h"), "wss://h");
  assert.equal(directoryUrlToWs("ftp://h"), undefined);
});

Deno.test("resolution order: remotes in name order (case-insensitive), then hubs.yaml, else both named", async () => {
  await withHome(async (home) => {
    const a = directory([{ name: "Shared", url: "https://from-a.example" }], "tok-a");
    const b = directory(
      [{ name: "shared", url: "https://from-b.example" }, { name: "onlyb", url: "http://b:9" }],
      undefined,
      "/v1/hubs",
    );
    try {
      await putRemote("b", { url: b.url, hub_directory: "/v1/hubs" });
      await putRemote("a", { url: a.url, token: "tok-a" });
      await Deno.writeTextFile(
        `${home}/.tela/hubs.yaml`,
        "hubs:\n  shared: ws://from-yaml\n  local: ws://127.0.0.1:8080\n",
      );
      // "a" is asked first and matches "Shared" case-insensitively; https:// → wss://.
      assert.equal(await resolveHubUrl("shared"), "wss://from-a.example");
      assert.deepEqual(a.seen, ["GET /api/hubs Bearer tok-a"]);
      assert.equal(b.seen.length, 0, "the first match wins");
      assert.equal(await resolveHubUrl("ONLYB"), "ws://b:9");
      assert.deepEqual(b.seen, ["GET /v1/hubs -"]);
      assert.equal(await resolveHubUrl("local"), "ws://127.0.0.1:8080");
      assert.equal(await resolveHubUrl("wss://as.is"), "wss://as.is");
      assert.equal(await resolveLoginHub("onlyb"), "ws://b:9");
      assert.equal(await resolveLoginHub("host.example"), "wss://host.example");
      const e = await resolveHubUrl("gamma").catch((x) => x);
      assert.ok(e instanceof HubResolveError);
      assert.match(e.message, /not listed by the remotes in \S+config\.yaml \(a, b\)/);
      assert.match(e.message, /not a short name in \S+hubs\.yaml \(it defines: local, shared\)/);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

Deno.test("an unreachable or refusing remote is skipped: hubs.yaml still answers, the error says why", async () => {
  await withHome(async (home) => {
    const locked = directory([{ name: "x", url: "https://x" }], "right");
    try {
      await putRemote("dead", { url: `http://127.0.0.1:${freeTcpPort()}` });
      await putRemote("locked", { url: locked.url, token: "wrong" });
      await Deno.writeTextFile(`${home}/.tela/hubs.yaml`, "hubs:\n  lab: ws://10.0.0.5:8080\n");
      assert.equal(await resolveHubUrl("lab"), "ws://10.0.0.5:8080");
      const e = await resolveHubUrl("x").catch((x) => x);
      assert.ok(e instanceof HubResolveError);
      assert.match(
        e.message,
        /could not reach remote "dead" at http:\/\/127\.0\.0\.1:\d+\/api\/hubs/,
      );
      assert.match(
        e.message,
        /remote "locked" returned 401 unauthorized; try 'tela remote add locked http:\/\/127\.0\.0\.1:\d+' with a valid token/,
      );
    } finally {
      await locked.close();
    }
  });
});

Deno.test("a hub is its own one-hub directory: its /api/hubs resolves its name (book, Appendix A)", async () => {
  const { startHubInProcess } = await import("../../tests/hub/scripted_peers.ts");
  const owner = "4eb0".repeat(16);
  const hub = await startHubInProcess({ env: { TELA_OWNER_TOKEN: owner, TELAHUBD_NAME: "solo" } });
  try {
    await withHome(async () => {
      await putRemote("self", { url: hub.http, token: owner });
      assert.equal(await resolveHubUrl("SOLO"), hub.url);
      await putRemote("self", { url: hub.http, token: "not-a-token" });
      const e = await resolveHubUrl("solo").catch((x) => x);
      assert.match(e.message, /remote "self" returned 401 unauthorized/);
    });
  } finally {
    await hub.close();
  }
});
