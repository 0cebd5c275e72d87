/**
 * The bytes `tela admin`, `tela pair` and `telad pair` put on the wire (spec hub-http-api.md
 * §5 and its "CLI mapping" lines, §4.4, agent-and-client.md §8.5, §9.8): the real programs
 * talk to a recording HTTP server on 127.0.0.1 that answers with the spec's shapes, and the
 * test compares method, raw path, `Authorization` and body with what Go `tela admin` v0.14
 * sends. The behaviour against a real hub is in admin_test.ts.
 */
import assert from "node:assert/strict";
import { runProgram } from "./_run.ts";

interface Recorded {
  method: string;
  /** Path and query exactly as sent (percent-escapes kept). */
  path: string;
  auth: string | null;
  body: string;
}

const TOKEN = "f".repeat(64);

/** A loopback HTTP server that records every request and answers as a hub would. */
function startRecorder() {
  const requests: Recorded[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const raw = req.url.slice(req.url.indexOf("/", "http://".length));
      const r: Recorded = {
        method: req.method,
        path: raw,
        auth: req.headers.get("authorization"),
        body: await req.text(),
      };
      requests.push(r);
      const path = new URL(req.url).pathname;
      if (path === "/.well-known/tela") {
        return Response.json({
          capabilities: ["per-service-access-control"],
          protocolVersion: "1.1",
        });
      }
      if (path === "/api/pair") {
        return Response.json({ token: TOKEN, identity: "barn-agent", type: "register" });
      }
      if (path === "/api/admin/logs") return Response.json({ lines: ["one", "two"] });
      if (path === "/api/admin/pair-code") {
        return Response.json({
          code: "ABCD-1234",
          type: JSON.parse(r.body).type,
          expiresAt: "2026-04-15T18:30:00+08:00",
        });
      }
      return Response.json({ id: "x", status: "ok", token: TOKEN }, {
        status: req.method === "POST" ? 201 : 200,
      });
    },
  );
  return {
    url: `ws://127.0.0.1:${server.addr.port}`,
    requests,
    /** The requests made with `Bearer <token>`. */
    by(token: string) {
      return requests.filter((r) => r.auth === `Bearer ${token}`).map(({ method, path, body }) => ({
        method,
        path,
        body,
      }));
    },
    close: () => server.shutdown(),
  };
}

Deno.test("tela admin sends Go tela admin v0.14's requests: paths escaped, bodies as the spec lists", async () => {
  const rec = startRecorder();
  try {
    const cases: [string[], { method: string; path: string; body: string }[]][] = [
      [["access", "grant", "bob", "*", "connect,manage"], [
        {
          method: "PUT",
          path: "/api/admin/access/bob/machines/%2A",
          body: '{"permissions":["connect","manage"]}',
        },
      ]],
      [["access", "grant", "bob", "barn", "connect", "-services", "SSH,port-8080"], [
        { method: "GET", path: "/.well-known/tela", body: "" },
        {
          method: "PUT",
          path: "/api/admin/access/bob/machines/barn",
          body: '{"permissions":["connect"],"services":["SSH","port-8080"]}',
        },
      ]],
      [["access", "revoke", "a b", "x/y"], [
        { method: "DELETE", path: "/api/admin/access/a%20b/machines/x%2Fy", body: "" },
      ]],
      [["access", "rename", "alice", "paul-laptop"], [
        { method: "PATCH", path: "/api/admin/access/alice", body: '{"id":"paul-laptop"}' },
      ]],
      [["access", "remove", "alice"], [{
        method: "DELETE",
        path: "/api/admin/access/alice",
        body: "",
      }]],
      [["tokens", "remove", "bob"], [{
        method: "DELETE",
        path: "/api/admin/access/bob",
        body: "",
      }]],
      [["tokens", "add", "bob", "-role", "admin", "-expires", "2027-01-01T00:00:00Z"], [
        {
          method: "POST",
          path: "/api/admin/tokens",
          body: '{"id":"bob","role":"admin","expiresAt":"2027-01-01T00:00:00Z"}',
        },
      ]],
      [["tokens", "add", "carol", "-role", "user"], [
        { method: "POST", path: "/api/admin/tokens", body: '{"id":"carol"}' },
      ]],
      [["tokens", "revoke", "bob"], [{
        method: "POST",
        path: "/api/admin/tokens/bob/revoke",
        body: "",
      }]],
      [["rotate", "bob"], [{ method: "POST", path: "/api/admin/rotate/bob", body: "" }]],
      [["pair-code", "barn", "-expires", "1h", "-machines", "barn, nas"], [
        // Are the named machines known? (a typo gets a note)
        { method: "GET", path: "/api/status", body: "" },
        {
          method: "POST",
          path: "/api/admin/pair-code",
          body: '{"machineId":"barn","type":"connect","machines":["barn","nas"],"expiresIn":3600}',
        },
      ]],
      [["pair-code", "barn", "-type", "register", "-role", "viewer"], [
        // Is barn online? (a register code then says it displaces the agent)
        { method: "GET", path: "/api/status", body: "" },
        {
          method: "POST",
          path: "/api/admin/pair-code",
          body:
            '{"machineId":"barn","type":"register","machines":["barn"],"expiresIn":600,"role":"viewer"}',
        },
      ]],
      [
        [
          "portals",
          "add",
          "awansaya",
          "-portal-url",
          "https://awansaya.net",
          "-portal-token",
          "pt",
        ],
        [
          {
            method: "POST",
            path: "/api/admin/portals",
            body:
              `{"name":"awansaya","portalUrl":"https://awansaya.net","hubUrl":"${rec.url}","portalToken":"pt"}`,
          },
        ],
      ],
      [["portals", "remove", "awansaya"], [{
        method: "DELETE",
        path: "/api/admin/portals/awansaya",
        body: "",
      }]],
      [["hub", "logs", "-n", "7"], [{ method: "GET", path: "/api/admin/logs?lines=7", body: "" }]],
      [["hub", "restart"], [{ method: "POST", path: "/api/admin/restart", body: "" }]],
      // 16-: the book's "grants connect access to machine barn" is the default.
      [["pair-code", "barn"], [
        // Are the named machines known? (a typo gets a note)
        { method: "GET", path: "/api/status", body: "" },
        {
          method: "POST",
          path: "/api/admin/pair-code",
          body: '{"machineId":"barn","type":"connect","machines":["barn"],"expiresIn":600}',
        },
      ]],
      [["pair-code", "barn", "-machines", "*"], [
        {
          method: "POST",
          path: "/api/admin/pair-code",
          body: '{"machineId":"barn","type":"connect","machines":["*"],"expiresIn":600}',
        },
      ]],
      [["access", "set", "alice", "-role", "owner"], [
        { method: "PATCH", path: "/api/admin/access/alice", body: '{"role":"owner"}' },
      ]],
      [["access", "set", "bob", "-role", "user"], [
        { method: "PATCH", path: "/api/admin/access/bob", body: '{"role":""}' },
      ]],
      // Readers of public endpoints check the token is an admin one first.
      [["agent", "list"], [
        { method: "GET", path: "/api/admin/tokens", body: "" },
        { method: "GET", path: "/api/status", body: "" },
      ]],
      [["hub", "status"], [
        { method: "GET", path: "/api/admin/tokens", body: "" },
        { method: "GET", path: "/api/status", body: "" },
      ]],
      [["history"], [
        { method: "GET", path: "/api/admin/tokens", body: "" },
        { method: "GET", path: "/api/history", body: "" },
      ]],
    ];
    const runs = await Promise.all(
      cases.map(([args], i) =>
        runProgram("tela", ["admin", ...args, "-hub", rec.url, "-token", `t${i}`], {
          net: "loopback",
        })
      ),
    );
    runs.forEach((r, i) => {
      assert.equal(r.code, 0, `${cases[i][0].join(" ")}: ${r.stderr}`);
      assert.deepEqual(rec.by(`t${i}`), cases[i][1], cases[i][0].join(" "));
    });
    // Data on stdout, the hint on stderr: the token once, nothing else.
    const add = runs[6];
    assert.equal(add.stdout, `${TOKEN}\n`);
    assert.equal(add.stderr, "Save this token: it is shown once\n");
    assert.equal(runs[9].stdout, `${TOKEN}\n`, "rotate prints the new token");
    assert.equal(runs[14].stdout, "one\ntwo\n", "hub logs prints the lines");
    for (const i of [0, 2, 3, 4, 5, 8, 12, 13, 15, 18, 19]) {
      assert.equal(runs[i].stdout + runs[i].stderr, "", `${cases[i][0].join(" ")} is silent`);
    }
    // pair-code: the book's block on stdout, what the code grants on stderr.
    assert.match(runs[16].stdout, /^Generated pairing code: ABCD-1234\n/);
    // (The recorder lists no machines, so a typo note follows: admin_rights_test covers it.)
    assert.ok(
      runs[16].stderr.startsWith(
        "The code grants connect on barn (role user), single use, until 2026-04-15T10:30:00Z.\n",
      ),
      runs[16].stderr,
    );
    assert.match(
      runs[17].stderr,
      /^The code grants connect on every machine \('\*'\) \(role user\)/,
    );
    assert.match(runs[11].stderr, /^The code lets one agent register barn, single use, until /);
  } finally {
    await rec.close();
  }
});

Deno.test("tela pair and telad pair POST /api/pair with the code, the machine and the code type they expect, no token", async () => {
  const rec = startRecorder();
  const sys = await Deno.makeTempDir({ prefix: "tela-sys-" });
  try {
    const [tela, telad] = await Promise.all([
      runProgram("tela", ["pair", "-hub", rec.url, "-code", "abcd-1234"], { net: "loopback" }),
      runProgram("telad", ["pair", "-hub", rec.url, "-code", "00FF-A1B2", "-machine", "barn"], {
        net: "loopback",
        env: { TELA_SYSTEM_DIR: sys },
      }),
    ]);
    assert.equal(tela.code, 0, tela.stderr);
    assert.equal(telad.code, 0, telad.stderr);
    const sent = rec.requests.map(({ method, path, auth, body }) => ({ method, path, auth, body }))
      .sort((a, b) => a.body.localeCompare(b.body));
    assert.deepEqual(sent, [
      {
        method: "POST",
        path: "/api/pair",
        auth: null,
        body: '{"code":"00FF-A1B2","machineId":"barn","type":"register"}',
      },
      {
        method: "POST",
        path: "/api/pair",
        auth: null,
        body: '{"code":"ABCD-1234","type":"connect"}',
      },
    ]);
  } finally {
    await rec.close();
    await Deno.remove(sys, { recursive: true });
  }
});

Deno.test("usage errors come before any request: bad code, bad perms, bad role, no hub (exit 2)", async () => {
  const runs = await Promise.all([
    runProgram("tela", ["pair", "-hub", "ws://127.0.0.1:9", "-code", "ZZZZ"], { net: false }),
    runProgram("tela", ["pair", "-hub", "ws://127.0.0.1:9"], { net: false }),
    runProgram("telad", ["pair", "-hub", "ws://127.0.0.1:9", "-code", "AB-CD"], { net: false }),
    runProgram("tela", ["admin", "access", "grant", "a", "b", "conect", "-hub", "ws://h"], {
      net: false,
    }),
    runProgram("tela", ["admin", "tokens", "add", "a", "-role", "viewer", "-hub", "ws://h"], {
      net: false,
    }),
    runProgram("tela", ["admin", "tokens", "add", "a", "-expires", "soon", "-hub", "ws://h"], {
      net: false,
    }),
    runProgram("tela", ["admin", "pair-code", "barn", "-expires", "8d", "-hub", "ws://h"], {
      net: false,
    }),
    runProgram("tela", ["admin", "pair-code", "barn", "-type", "agent", "-hub", "ws://h"], {
      net: false,
    }),
    runProgram("tela", ["admin", "access"], { net: false }),
    runProgram("tela", ["admin", "history", "-n", "0", "-hub", "ws://h"], { net: false }),
    runProgram("tela", ["admin", "portals", "add", "p", "-hub", "ws://h"], { net: false }),
    runProgram("tela", ["admin", "pair-code", "barn", "-expires", "5m", "-hub", "ws://h"], {
      net: false,
    }),
    runProgram("tela", ["admin", "pair-code", "barn", "-expires", "1s", "-hub", "ws://h"], {
      net: false,
    }),
    runProgram("tela", ["admin", "tokens", "add", "a", "-role", "-hub", "ws://h"], { net: false }),
    runProgram("tela", ["admin", "access", "-jsn", "-hub", "ws://h"], { net: false }),
    runProgram("tela", ["admin", "access", "set", "a", "-hub", "ws://h"], { net: false }),
    runProgram("tela", ["admin", "access", "set", "a", "-role", "ownr", "-hub", "ws://h"], {
      net: false,
    }),
  ]);
  const want = [
    /^Error: -code: a pairing code looks like ABCD-1234 \(4 letters or digits, a dash, 4 more\); got "ZZZZ";/,
    /^Error: -code is required, e\.g\. tela pair -hub/,
    /^Error: -code: a pairing code looks like ABCD-1234 .*; got "AB-CD";/,
    /^Error: "conect" is not a permission \(did you mean connect\?\): <perms> is a comma-separated list of connect, register, manage/,
    /^Error: -role viewer cannot be assigned: it is reserved for the hub's console token/,
    /^Error: -expires "soon" is not a token lifetime/,
    /^Error: -expires "8d" is not a pairing code lifetime/,
    /^Error: -type "agent" is not a code type: use connect or register/,
    /^Error: -hub is required \(or set TELA_HUB\)/,
    /^Error: -n 0 is not a count/,
    /^Error: -portal-url is required/,
    /^Error: -expires "5m" is not a pairing code lifetime: give a duration from 10m to 7d/,
    /^Error: -expires "1s" is not a pairing code lifetime: give a duration from 10m to 7d/,
    /^Error: flag needs an argument: -role\n/,
    /^Error: flag provided but not defined: -jsn Did you mean: -json\?\n/,
    /^Error: -role is required: owner, admin or user\n/,
    /^Error: -role "ownr" is not a role \(did you mean owner\?\): use owner, admin or user\n/,
  ];
  runs.forEach((r, i) => {
    assert.equal(r.code, 2, `${i}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, want[i]);
    assert.match(r.stderr, /\n\n(tela|telad) \S.* — /, "the command's help follows");
  });
});

Deno.test("a code of the other kind: tela pair and telad pair name the command that redeems it", async () => {
  // What our hub answers when the request's type differs from the code's (the code is kept).
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = JSON.parse(await req.text());
    const kind = body.type === "connect" ? "register" : "connect";
    const tool = kind === "register" ? "telad pair" : "tela pair";
    return Response.json({ error: `this is a ${kind} code: redeem it with ${tool}` }, {
      status: 400,
    });
  });
  const url = `ws://127.0.0.1:${server.addr.port}`;
  const sys = await Deno.makeTempDir({ prefix: "tela-sys-" });
  try {
    const [tela, telad] = await Promise.all([
      runProgram("tela", ["pair", "-hub", url, "-code", "ABCD-1234"], { net: "loopback" }),
      runProgram("telad", ["pair", "-hub", url, "-code", "ABCD-1234", "-machine", "barn"], {
        net: "loopback",
        env: { TELA_SYSTEM_DIR: sys },
      }),
    ]);
    assert.equal(tela.code, 1, tela.stderr);
    assert.equal(
      tela.stderr,
      `Error: ${url} refused pairing code ABCD-1234: this is a register code: redeem it with ` +
        `telad pair (HTTP 400); it is an agent (register) code: redeem it on the agent's machine ` +
        `with "telad pair -hub ${url} -code ABCD-1234 -machine <machine>" (the code still works)\n`,
    );
    assert.equal(telad.code, 1, telad.stderr);
    assert.equal(
      telad.stderr,
      `Error: ${url} refused pairing code ABCD-1234: this is a connect code: redeem it with ` +
        `tela pair (HTTP 400); it is a user (connect) code, not an agent one: redeem it with ` +
        `"tela pair -hub ${url} -code ABCD-1234" (the code still works), or ask for a ` +
        `register code ("tela admin pair-code <machine> -type register")\n`,
    );
  } finally {
    await server.shutdown();
    await Deno.remove(sys, { recursive: true });
  }
});

Deno.test("403 'only an owner can ...' says the token is an admin's, naming its identity", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname === "/api/status") return Response.json({ machines: [] });
    return Response.json({ error: "only an owner can remove an owner" }, { status: 403 });
  });
  const url = `ws://127.0.0.1:${server.addr.port}`;
  try {
    const r = await runProgram("tela", ["admin", "access", "remove", "boss", "-hub", url], {
      net: "loopback",
      env: { TELA_TOKEN: TOKEN },
      setup: async (home) => {
        await Deno.mkdir(`${home}/.tela`, { recursive: true });
        await Deno.writeTextFile(
          `${home}/.tela/credentials.yaml`,
          `hubs:\n  ${url}:\n    token: "${TOKEN}"\n    identity: helper\n`,
        );
      },
    });
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `Error: ${url} refused the request: only an owner can remove an owner (HTTP 403); the ` +
        `token from TELA_TOKEN belongs to identity "helper", an admin: ask an owner, or use an ` +
        `owner's token\n`,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("-services against a hub that does not advertise per-service-access-control: exit 1, nothing sent", async () => {
  // A v0.14 hub: its discovery document has no `capabilities` (spec hub-http-api.md §4.3).
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname}`);
    return Response.json({ protocolVersion: "1.1", supportedVersions: ["1.1"] });
  });
  const url = `ws://127.0.0.1:${server.addr.port}`;
  try {
    const r = await runProgram("tela", [
      "admin",
      "access",
      "grant",
      "bob",
      "barn",
      "connect",
      "-services",
      "SSH",
      "-hub",
      url,
      "-token",
      TOKEN,
    ], { net: "loopback" });
    assert.equal(r.code, 1, r.stderr); // the hub lacks it: not a usage error (2)
    assert.match(r.stderr, /does not support -services .*per-service-access-control/);
    assert.deepEqual(seen, ["GET /.well-known/tela"], "no grant was sent");
  } finally {
    await server.shutdown();
  }
});
