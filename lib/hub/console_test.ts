import assert from "node:assert/strict";
import { consoleHandler, injectHubValues, safeSegments, scriptStringLiteral } from "./console.ts";
import {
  describeAdminFailure,
  eventDetail,
  eventLabel,
  HubRequestError,
  machineState,
  pairCodeRequest,
  pairCommand,
  sortMachines,
  toUtcSeconds,
} from "../../web/console/console.js";

const BASE = "http://127.0.0.1:8080";
const VIEWER = "e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80912";

/** Calls the handler the way the hub does and awaits the response, or null. */
async function get(
  handler: ReturnType<typeof consoleHandler>,
  path: string,
  init: RequestInit = {},
): Promise<Response | null> {
  return await handler(new Request(BASE + path, init));
}

Deno.test("the root page is index.html with the viewer token, hub name and version injected", async () => {
  const h = consoleHandler({ hubName: "owlsnest", viewerToken: VIEWER, hubVersion: "v0.1.0" });
  for (const path of ["/", "/index.html"]) {
    const res = await get(h, path);
    assert.ok(res, path);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(
      res.headers.get("set-cookie"),
      `tela_viewer=${VIEWER}; Path=/; HttpOnly; SameSite=Lax`,
    );
    const html = await res.text();
    const script = `<script>window.TELA_HUB_VERSION="v0.1.0";window.TELA_HUB_NAME="owlsnest";` +
      `window.TELA_CONSOLE_TOKEN="${VIEWER}";</script>\n</head>`;
    assert.ok(html.includes(script), "injected script right before </head>");
    assert.equal(html.split("TELA_CONSOLE_TOKEN=").length, 2, "injected exactly once");
    assert.match(html, /<script type="module" src="console.js"><\/script>/);
  }
});

Deno.test("without a viewer token the page carries no token and sets no cookie", async () => {
  const h = consoleHandler({ hubName: "" });
  const res = await get(h, "/");
  assert.ok(res);
  assert.equal(res.headers.get("set-cookie"), null);
  const html = await res.text();
  assert.ok(!html.includes("TELA_CONSOLE_TOKEN="));
  assert.ok(html.includes(`window.TELA_HUB_VERSION="dev";window.TELA_HUB_NAME="";</script>`));
});

Deno.test("hub name and token cannot break out of the injected script", async () => {
  const hostile = `</script><script>alert(1)</script><!-- "quoted" & \u2028`;
  const h = consoleHandler({ hubName: hostile, viewerToken: `x";alert(2);"` });
  const res = await get(h, "/");
  assert.ok(res);
  const html = await res.text();
  assert.ok(!html.includes("<script>alert"), "no second script element");
  assert.ok(!html.includes('<!-- \\"quoted'), "no comment opened inside the script");
  assert.ok(!html.includes('alert(2);"";'), "token quote is escaped");
  // The literal still decodes to the original value.
  const m = /window\.TELA_HUB_NAME=("(?:[^"\\]|\\.)*");/.exec(html);
  assert.ok(m);
  assert.equal(JSON.parse(m[1]), hostile);
  // A token that is not cookie-safe is not put in a header.
  assert.equal(res.headers.get("set-cookie"), null);
  assert.equal(scriptStringLiteral("<>&"), '"\\u003c\\u003e\\u0026"');
});

Deno.test("injectHubValues leaves a page without </head> unchanged", () => {
  assert.equal(injectHubValues("<p>hi</p>", { hubVersion: "v", hubName: "n" }), "<p>hi</p>");
});

Deno.test("assets are served with their content type, an ETag and revalidation", async () => {
  const h = consoleHandler({ hubName: "owlsnest", viewerToken: VIEWER });
  const want: Record<string, string> = {
    "/console.css": "text/css; charset=utf-8",
    "/console.js": "text/javascript; charset=utf-8",
    "/theme.js": "text/javascript; charset=utf-8",
    "/favicon.svg": "image/svg+xml",
  };
  for (const [path, type] of Object.entries(want)) {
    const res = await get(h, path);
    assert.ok(res, path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get("content-type"), type, path);
    assert.equal(res.headers.get("cache-control"), "no-cache", path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
    assert.equal(res.headers.get("set-cookie"), null, "only the root page sets the cookie");
    const body = new Uint8Array(await res.arrayBuffer());
    const onDisk = await Deno.readFile(new URL(`../../web/console${path}`, import.meta.url));
    assert.deepEqual(body, onDisk, `${path} is served byte for byte`);
    assert.equal(res.headers.get("content-length"), String(onDisk.byteLength));

    const etag = res.headers.get("etag");
    assert.match(etag ?? "", /^"[0-9a-f]{24}"$/);
    const again = await get(h, path, { headers: { "if-none-match": etag! } });
    assert.ok(again);
    assert.equal(again.status, 304);
    assert.equal(await again.text(), "");
    const changed = await get(h, path, { headers: { "if-none-match": '"0000"' } });
    assert.equal(changed?.status, 200);
    await changed?.body?.cancel();
  }
});

Deno.test("HEAD answers with the headers and no body", async () => {
  const h = consoleHandler({ hubName: "owlsnest", viewerToken: VIEWER });
  const res = await get(h, "/console.css", { method: "HEAD" });
  assert.ok(res);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/css; charset=utf-8");
  assert.equal(res.body, null);
  const page = await get(h, "/", { method: "HEAD" });
  assert.equal(page?.status, 200);
  assert.equal(page?.body, null);
});

Deno.test("paths and methods that are not the console's return null", () => {
  const h = consoleHandler({ hubName: "owlsnest", viewerToken: VIEWER });
  const nulls: Array<[string, RequestInit]> = [
    ["/api/status", {}],
    ["/api/unknown", {}],
    ["/ws", {}],
    ["/missing.js", {}],
    ["/.well-known/tela", {}],
    ["/", { method: "POST" }],
    ["/", { method: "DELETE" }],
    ["/console.css", { method: "PUT", body: "x" }],
    ["/", { headers: { upgrade: "websocket", connection: "Upgrade" } }],
  ];
  for (const [path, init] of nulls) {
    assert.equal(h(new Request(BASE + path, init)), null, `${init.method ?? "GET"} ${path}`);
  }
});

Deno.test("path traversal cannot reach files outside the console folder", async () => {
  const top = await Deno.makeTempDir({ prefix: "tela-console-test-" });
  try {
    const www = `${top}/www`;
    await Deno.mkdir(`${www}/sub`, { recursive: true });
    await Deno.writeTextFile(`${www}/index.html`, "<html><head></head><body>www</body></html>");
    await Deno.writeTextFile(`${www}/sub/page.txt`, "inside");
    await Deno.writeTextFile(`${www}/.env`, "SECRET=hidden-dotfile");
    await Deno.writeTextFile(`${top}/secret.txt`, "SECRET=outside");
    await Deno.mkdir(`${top}/private`);
    await Deno.writeTextFile(`${top}/private/key.txt`, "SECRET=outside-dir");
    await Deno.symlink(`${top}/secret.txt`, `${www}/link.txt`);
    await Deno.symlink(`${top}/private`, `${www}/linkdir`);

    const h = consoleHandler({ hubName: "t", viewerToken: VIEWER, wwwDir: www });
    // Sanity: the folder itself is served.
    assert.equal(await (await get(h, "/sub/page.txt"))?.text(), "inside");

    const attacks = [
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E/secret.txt",
      "/..%2fsecret.txt",
      "/..%2Fsecret.txt",
      "/%2e%2e%2fsecret.txt",
      "/sub/..%2f..%2fsecret.txt",
      "/sub/%2e%2e/%2e%2e/secret.txt",
      "/..%5csecret.txt",
      "/sub%5c..%5c..%5csecret.txt",
      "/.%2e/secret.txt",
      "/%2fetc%2fpasswd",
      "//etc/passwd",
      `/${encodeURIComponent(`${top}/secret.txt`)}`,
      "/%00",
      "/index.html%00.txt",
      "/.env",
      "/%2eenv",
      "/link.txt",
      "/linkdir/key.txt",
      "/linkdir/",
      "/%ff%fe",
      "/%",
    ];
    for (const path of attacks) {
      const res = await get(h, path);
      if (res !== null) {
        const body = await res.text();
        assert.ok(!body.includes("SECRET"), `${path} leaked: ${body}`);
        assert.fail(`${path} should not be a console path (got ${res.status})`);
      }
    }
    // The decoder rejects the same shapes directly (no URL normalisation in between).
    for (const raw of ["/../x", "/a/../../x", "/a/./x", "/a//x", "/a\\..\\x", "/C:/x", "x"]) {
      assert.equal(safeSegments(raw), null, raw);
    }
    assert.deepEqual(safeSegments("/"), []);
    assert.deepEqual(safeSegments("/a/b.css"), ["a", "b.css"]);
  } finally {
    await Deno.remove(top, { recursive: true });
  }
});

Deno.test("wwwDir replaces the built-in console; only the root page gets the token", async () => {
  const www = await Deno.makeTempDir({ prefix: "tela-console-www-" });
  try {
    await Deno.mkdir(`${www}/portal`);
    await Deno.writeTextFile(`${www}/index.html`, "<html><head></head><body>custom</body></html>");
    await Deno.writeTextFile(
      `${www}/portal/index.html`,
      "<html><head></head><body>p</body></html>",
    );
    const h = consoleHandler({ hubName: "n", viewerToken: VIEWER, wwwDir: www, hubVersion: "v9" });

    const root = await get(h, "/");
    const html = await root!.text();
    assert.match(html, /custom/);
    assert.ok(html.includes(`window.TELA_CONSOLE_TOKEN="${VIEWER}"`));
    assert.equal(await get(h, "/console.js"), null, "built-in files are not mixed in");

    for (const path of ["/portal/", "/portal", "/portal/index.html"]) {
      const res = await get(h, path);
      assert.ok(res, path);
      const page = await res.text();
      assert.match(page, /<body>p<\/body>/);
      assert.ok(page.includes(`window.TELA_HUB_VERSION="v9"`), path);
      assert.ok(!page.includes("TELA_CONSOLE_TOKEN="), `${path} must not carry the token`);
      assert.equal(res.headers.get("set-cookie"), null);
    }
  } finally {
    await Deno.remove(www, { recursive: true });
  }
});

Deno.test("a wwwDir that is not a folder falls back to the built-in console", async () => {
  const h = consoleHandler({ hubName: "n", wwwDir: "/nonexistent/tela-www" });
  const res = await get(h, "/console.js");
  assert.equal(res?.status, 200);
  await res?.body?.cancel();
});

Deno.test("console status rules: offline, stale after 60 s, online", () => {
  const now = Date.parse("2026-04-21T07:00:00Z");
  assert.equal(
    machineState({ agentConnected: false, lastSeen: "2026-04-21T06:59:59Z" }, now),
    "offline",
  );
  assert.equal(
    machineState({ agentConnected: true, lastSeen: "2026-04-21T06:59:00Z" }, now),
    "online",
  );
  assert.equal(
    machineState({ agentConnected: true, lastSeen: "2026-04-21T06:58:59Z" }, now),
    "stale",
  );
  assert.equal(machineState({ agentConnected: true, lastSeen: null }, now), "online");
});

Deno.test("console lists machines in a stable order and labels events", () => {
  const sorted = sortMachines([
    { id: "web01", agentId: "b" },
    { id: "barn", agentId: "z" },
    { id: "barn", agentId: "a" },
  ]);
  assert.deepEqual(sorted.map((m) => `${m.id}/${m.agentId}`), ["barn/a", "barn/z", "web01/b"]);
  assert.equal(eventLabel("client-connect"), "Session opened");
  assert.equal(eventLabel("agent-register"), "Agent registered");
  assert.equal(eventLabel("something-new"), "something-new");
  assert.equal(eventDetail("services=SSH:22,RDP:3389"), "SSH:22,RDP:3389");
  assert.equal(eventDetail(undefined), "");
});

Deno.test("the Pairing card sends the spec's pair-code body: seconds, machineId or machines", () => {
  assert.deepEqual(pairCodeRequest({ type: "connect", expiresIn: 600, machines: ["*"] }), {
    type: "connect",
    expiresIn: 600,
    machines: ["*"],
  });
  assert.deepEqual(pairCodeRequest({ type: "connect", expiresIn: 3600, machines: ["barn", ""] }), {
    type: "connect",
    expiresIn: 3600,
    machines: ["barn"],
  });
  assert.deepEqual(pairCodeRequest({ type: "connect", expiresIn: 86400, machines: [] }), {
    type: "connect",
    expiresIn: 86400,
    machines: ["*"],
  });
  assert.deepEqual(
    pairCodeRequest({ type: "register", expiresIn: 604800, machineId: " barn ", machines: ["*"] }),
    { type: "register", expiresIn: 604800, machineId: "barn" },
  );
});

Deno.test("the Pairing card shows the redeem command and the expiry in UTC", () => {
  assert.equal(
    pairCommand("connect", "wss://hub.example.com", "A1B2-C3D4"),
    "tela pair -hub wss://hub.example.com -code A1B2-C3D4",
  );
  assert.equal(
    pairCommand("register", "ws://127.0.0.1:8080", "A1B2-C3D4", "barn"),
    "telad pair -hub ws://127.0.0.1:8080 -code A1B2-C3D4 -machine barn",
  );
  assert.equal(toUtcSeconds("2026-04-21T15:10:00+08:00"), "2026-04-21T07:10:00Z");
  assert.equal(toUtcSeconds("not a time"), "not a time");
  assert.match(
    describeAdminFailure(new HubRequestError(403, "forbidden")),
    /did not accept the administrator token \(HTTP 403: forbidden\)/,
  );
  assert.equal(
    describeAdminFailure(new HubRequestError(400, "machineId required for register codes")),
    "Hub answered HTTP 400: machineId required for register codes",
  );
});
