/**
 * What `tela admin agent update|channel` and `tela admin hub update|channel` send and print
 * (book, *Hub administration* and *Self-update and release channels*; spec hub-http-api.md
 * §5.10, §8.3): the real `tela` against a loopback server that answers as a hub with
 * self-update and an agent with release channels would (the spec's shapes), so the requests
 * and the book's channel block are checked before the update backend exists. The behaviour
 * against a real hub and telad is in admin_agent_test.ts.
 */
import assert from "node:assert/strict";
import { runProgram } from "./_run.ts";

const TOKEN = "e".repeat(64);

interface Recorded {
  method: string;
  path: string;
  body: string;
}

const STATUS = {
  channel: "beta",
  manifestUrl: "https://hub.example.net/channels/beta.json",
  currentVersion: "v0.9.0",
  latestVersion: "v0.9.1",
  updateAvailable: true,
};

function startFakeHub(opts: { selfUpdate: boolean }) {
  const requests: Recorded[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const body = await req.text();
    requests.push({ method: req.method, path, body });
    if (req.headers.get("authorization") !== `Bearer ${TOKEN}`) {
      return Response.json({ error: "authentication required" }, { status: 401 });
    }
    if (path.startsWith("/api/admin/agents/barn/")) {
      const action = path.slice("/api/admin/agents/barn/".length);
      const env = { type: "mgmt-response", requestId: "0123456789abcdef", ok: true };
      if (action === "update-status") return Response.json({ ...env, payload: STATUS });
      if (action === "update-channel") {
        const ch = JSON.parse(body).channel;
        return Response.json({
          ...env,
          payload: { channel: ch, manifestUrl: `https://hub.example.net/channels/${ch}.json` },
        });
      }
      if (action === "update") return Response.json({ ...env, message: "updating to v0.9.1" });
    }
    if (opts.selfUpdate && path === "/api/admin/update") {
      if (req.method === "GET") {
        return Response.json({ ...STATUS, sources: { local: "https://hub.example.net/channels" } });
      }
      if (req.method === "PATCH") {
        const ch = JSON.parse(body).channel;
        return Response.json({
          channel: ch,
          manifestUrl: `https://hub.example.net/channels/${ch}.json`,
          ok: true,
        });
      }
      if (req.method === "POST") {
        return Response.json({ message: "already running v0.9.1", ok: true });
      }
    }
    return new Response("404 page not found\n", { status: 404 });
  });
  return { url: `ws://127.0.0.1:${server.addr.port}`, requests, close: () => server.shutdown() };
}

const tela = (hub: string, args: string[]) =>
  runProgram("tela", ["admin", ...args, "-hub", hub, "-token", TOKEN], { net: "loopback" });

Deno.test("tela admin agent update|channel: requests of spec §8.3, the book's channel block", async () => {
  const hub = startFakeHub({ selfUpdate: true });
  try {
    const show = await tela(hub.url, ["agent", "channel", "-machine", "barn"]);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(
      show.stdout,
      "channel: beta\nmanifest: https://hub.example.net/channels/beta.json\n" +
        "current version: v0.9.0\nlatest version: v0.9.1 (update available)\n",
    );
    const js = await tela(hub.url, ["agent", "channel", "-machine", "barn", "-json"]);
    assert.deepEqual(JSON.parse(js.stdout), STATUS);
    const set = await tela(hub.url, ["agent", "channel", "-machine", "barn", "set", "Stable"]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(
      set.stdout,
      "channel: stable\nmanifest: https://hub.example.net/channels/stable.json\n",
    );
    const up = await tela(hub.url, ["agent", "update", "-machine", "barn", "-version", "v0.9.1"]);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout, "updating to v0.9.1\n");
    const bad = await tela(hub.url, ["agent", "channel", "-machine", "barn", "set", "no/way"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^Error: "no\/way" is not a channel name/);
    assert.deepEqual(hub.requests.map((r) => [r.method, r.path, r.body]), [
      ["POST", "/api/admin/agents/barn/update-status", ""],
      ["POST", "/api/admin/agents/barn/update-status", ""],
      ["POST", "/api/admin/agents/barn/update-channel", '{"channel":"stable"}'],
      ["POST", "/api/admin/agents/barn/update", '{"version":"v0.9.1"}'],
    ]);
  } finally {
    await hub.close();
  }
});

Deno.test("tela admin hub update|channel: /api/admin/update GET, PATCH, POST (spec §5.10)", async () => {
  const hub = startFakeHub({ selfUpdate: true });
  try {
    const show = await tela(hub.url, ["hub", "channel"]);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(
      show.stdout,
      "channel: beta\nmanifest: https://hub.example.net/channels/beta.json\n" +
        "current version: v0.9.0\nlatest version: v0.9.1 (update available)\n" +
        "sources:\n  local: https://hub.example.net/channels\n",
    );
    const set = await tela(hub.url, ["hub", "channel", "set", "beta"]);
    assert.equal(
      set.stdout,
      "channel: beta\nmanifest: https://hub.example.net/channels/beta.json\n",
    );
    const up = await tela(hub.url, ["hub", "update"]);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout, "already running v0.9.1\n");
    assert.deepEqual(hub.requests.map((r) => [r.method, r.path, r.body]), [
      ["GET", "/api/admin/update", ""],
      ["PATCH", "/api/admin/update", '{"channel":"beta"}'],
      ["POST", "/api/admin/update", "{}"],
    ]);
  } finally {
    await hub.close();
  }
});

Deno.test("tela admin hub update on a hub without self-update says so, exit 1", async () => {
  const hub = startFakeHub({ selfUpdate: false });
  try {
    const [up, ch] = await Promise.all([
      tela(hub.url, ["hub", "update"]),
      tela(hub.url, ["hub", "channel"]),
    ]);
    for (const r of [up, ch]) {
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /^Error: ws:\/\/127\.0\.0\.1:\d+ does not offer self-update \(\/api\/admin\/update answered 404\)/,
      );
    }
  } finally {
    await hub.close();
  }
});
