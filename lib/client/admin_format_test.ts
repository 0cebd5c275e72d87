import assert from "node:assert/strict";
import { UsageError } from "../cli/mod.ts";
import { pathEscape } from "./admin_api.ts";
import {
  accessMachinesCell,
  formatAccess,
  formatAgents,
  formatHistory,
  formatHubStatus,
  formatPairCode,
  formatTable,
  formatTokens,
  isoUtc,
  pairCodeGrant,
  pairExpiresIn,
  parseDuration,
  parsePermissions,
  roleName,
  tokenExpiresAt,
} from "./admin_format.ts";
import { decodeHubStatus } from "./hubapi.ts";

Deno.test("tela admin access prints the book's Appendix C table", () => {
  const out = formatAccess([
    {
      id: "owner",
      role: "owner",
      tokenPreview: "abc123...",
      machines: [{ machineId: "*", permissions: ["register", "connect", "manage"] }],
    },
    {
      id: "alice",
      role: "user",
      machines: [
        { machineId: "barn", permissions: ["manage"] },
        { machineId: "*", permissions: ["connect"] },
      ],
    },
    {
      id: "barn-agent",
      role: "user",
      machines: [{ machineId: "barn", permissions: ["register"] }],
    },
  ]);
  assert.equal(
    out,
    [
      "IDENTITY    ROLE   MACHINES",
      "owner       owner  * (all permissions)",
      "alice       user   *: connect | barn: manage",
      "barn-agent  user   barn: register",
    ].join("\n"),
  );
});

Deno.test("an access cell lists services of a filtered grant, '-' for none, and marks dead tokens", () => {
  assert.equal(
    accessMachinesCell({
      id: "a",
      role: "user",
      machines: [{ machineId: "ws-01", permissions: ["connect", "manage"], services: ["SSH"] }],
    }),
    "ws-01: connect,manage (services SSH)",
  );
  assert.equal(accessMachinesCell({ id: "a", role: "viewer", machines: [] }), "-");
  assert.equal(accessMachinesCell({ id: "a", role: "admin", machines: [] }), "* (all permissions)");
  const now = Date.parse("2026-05-01T00:00:00Z");
  const t = formatAccess([
    { id: "r", role: "user", machines: [], revokedAt: "2026-04-01T00:00:00Z" },
    { id: "e", role: "user", machines: [], expiresAt: "2026-04-30T00:00:00Z" },
  ], now);
  assert.match(t, /\nr {9}user \(revoked\) {2}-\ne {9}user \(expired\) {2}-$/);
});

Deno.test("tables pad with two spaces and right-align count columns", () => {
  assert.equal(
    formatTable([["A", "N"], ["long", "5"], ["x", "12"]], [1]),
    "A      N\nlong   5\nx     12",
  );
});

Deno.test("tokens list shows the preview, UTC times, expiry and state", () => {
  const now = Date.parse("2026-05-01T00:00:00Z");
  const out = formatTokens([
    {
      id: "owner",
      role: "owner",
      tokenPreview: "a1b2c3d4...",
      issuedAt: "2026-04-21T08:00:00+02:00",
    },
    {
      id: "bob",
      role: "user",
      tokenPreview: "e5f6a7b8...",
      expiresAt: "2026-04-30T00:00:00Z",
    },
  ], now);
  assert.equal(
    out,
    [
      "IDENTITY  ROLE   TOKEN        ISSUED                EXPIRES               STATUS",
      "owner     owner  a1b2c3d4...  2026-04-21T06:00:00Z  never                 active",
      "bob       user   e5f6a7b8...  -                     2026-04-30T00:00:00Z  expired",
    ].join("\n"),
  );
});

Deno.test("pair-code prints the book's block with the expiry in UTC", () => {
  assert.equal(
    formatPairCode(
      { code: "ABCD-1234", type: "connect", expiresAt: "2026-04-15T18:30:00+08:00" },
      "wss://hub.example.com",
      "barn",
    ),
    [
      "Generated pairing code: ABCD-1234",
      "Expires: 2026-04-15T10:30:00Z",
      "",
      "Client pairing command:",
      "  tela pair -hub wss://hub.example.com -code ABCD-1234",
    ].join("\n"),
  );
  assert.equal(
    formatPairCode(
      { code: "00FF-A1B2", type: "register", expiresAt: "2026-04-15T10:30:00Z" },
      "ws://127.0.0.1:8080",
      "barn",
    ).split("\n").slice(3).join("\n"),
    "Agent pairing command:\n  telad pair -hub ws://127.0.0.1:8080 -code 00FF-A1B2 -machine barn",
  );
});

Deno.test("agent list and hub status read /api/status", () => {
  const doc = {
    hub: {
      arch: "amd64",
      goVersion: "deno 2.9.6",
      hostname: "hubhost",
      os: "linux",
      uptime: 3725,
      version: "v0.14.0",
    },
    hubId: "550e8400",
    hubName: "owlsnest",
    machines: [
      {
        id: "nas",
        agentConnected: false,
        sessionCount: 0,
        services: [],
      },
      {
        id: "barn",
        agentVersion: "v0.14.0",
        agentConnected: true,
        sessionCount: 12,
        services: [{ port: 22, name: "SSH" }, { port: 3389, name: "RDP" }],
      },
    ],
    timestamp: "2026-04-21T07:00:00Z",
  };
  assert.equal(
    formatAgents(decodeHubStatus(doc)),
    [
      "MACHINE  STATUS   VERSION  SERVICES          SESSIONS",
      "barn     online   v0.14.0  SSH:22, RDP:3389        12",
      "nas      offline  -        -                        0",
    ].join("\n"),
  );
  assert.equal(
    formatHubStatus(
      doc,
      decodeHubStatus(doc),
      "wss://owlsnest",
      Date.parse("2026-04-21T07:00:00Z"),
    ),
    [
      "Hub:       wss://owlsnest",
      "Name:      owlsnest",
      "ID:        550e8400",
      "Version:   v0.14.0",
      "Host:      hubhost (linux/amd64, deno 2.9.6)",
      "Uptime:    1h2m5s (since 2026-04-21T05:57:55Z)",
      "Machines:  2 registered, 1 online",
      "Services:  2 total",
      "Sessions:  12 active",
    ].join("\n"),
  );
});

Deno.test("history prints TIME EVENT MACHINE IDENTITY DETAIL with '-' for empty cells", () => {
  assert.equal(
    formatHistory([
      {
        machineId: "",
        event: "admin-change",
        timestamp: "2026-04-21T07:00:00Z",
        identity: "owner",
        detail: "tokens add tech-bob role=user",
      },
      { machineId: "barn", event: "agent-register", timestamp: "2026-04-21T06:00:00Z" },
    ]),
    [
      "TIME                  EVENT           MACHINE  IDENTITY  DETAIL",
      "2026-04-21T07:00:00Z  admin-change    -        owner     tokens add tech-bob role=user",
      "2026-04-21T06:00:00Z  agent-register  barn     -         -",
    ].join("\n"),
  );
});

Deno.test("durations: Go syntax plus days for pair-code, 10 minutes to 7 days (book)", () => {
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("7d"), 604800);
  assert.equal(parseDuration("1.5h"), 5400);
  assert.equal(parseDuration("10"), undefined);
  assert.equal(parseDuration("10x"), undefined);
  assert.equal(pairExpiresIn("10m"), 600);
  assert.equal(pairExpiresIn("7d"), 604800);
  assert.throws(() => pairExpiresIn("8d"), UsageError);
  assert.throws(() => pairExpiresIn("0s"), UsageError);
  assert.throws(() => pairExpiresIn("soon"), /-expires "soon" is not a pairing code lifetime/);
  for (const short of ["1s", "5m", "9m59s", "7d1s"]) {
    assert.throws(
      () => pairExpiresIn(short),
      (e) => e instanceof UsageError && /from 10m to 7d/.test(e.message),
      short,
    );
  }
  assert.equal(pairExpiresIn("1h"), 3600);
});

Deno.test("pair-code says on stderr what the code grants: machines, role, single use, expiry", () => {
  const connect = { code: "ABCD-1234", type: "connect", expiresAt: "2026-04-15T18:30:00+08:00" };
  assert.equal(
    pairCodeGrant(connect, "barn", ["barn"], "user"),
    "The code grants connect on barn (role user), single use, until 2026-04-15T10:30:00Z.",
  );
  assert.equal(
    pairCodeGrant(connect, "barn", ["barn", "nas"], "viewer"),
    "The code grants connect on barn, nas (role viewer), single use, until 2026-04-15T10:30:00Z.",
  );
  assert.equal(
    pairCodeGrant(connect, "barn", ["*"], "user"),
    "The code grants connect on every machine ('*') (role user), single use, until " +
      "2026-04-15T10:30:00Z.",
  );
  assert.equal(
    pairCodeGrant({ ...connect, type: "register" }, "barn", ["barn"], "user"),
    "The code lets one agent register barn, single use, until 2026-04-15T10:30:00Z.",
  );
});

Deno.test("an empty or missing role is shown as user (tokens, access)", () => {
  assert.equal(roleName(""), "user");
  assert.equal(roleName(undefined), "user");
  assert.equal(roleName("admin"), "admin");
  assert.match(formatTokens([{ id: "bob", role: "" }]), /\nbob {2,}user {2}/);
  assert.match(formatAccess([{ id: "bob", role: "", machines: [] }]), /\nbob {2,}user {2,}-$/);
});

Deno.test("token -expires: 30d, 4w, 1y or an RFC 3339 time in the future, as UTC", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(tokenExpiresAt("30d", now), "2026-01-31T00:00:00Z");
  assert.equal(tokenExpiresAt("4w", now), "2026-01-29T00:00:00Z");
  assert.equal(tokenExpiresAt("1y", now), "2027-01-01T00:00:00Z");
  assert.equal(tokenExpiresAt("2027-01-01T02:00:00+02:00", now), "2027-01-01T00:00:00Z");
  assert.throws(() => tokenExpiresAt("2025-01-01T00:00:00Z", now), /not in the future/);
  assert.throws(() => tokenExpiresAt("2027-01-01", now), UsageError);
  assert.throws(() => tokenExpiresAt("forever", now), UsageError);
});

Deno.test("grant permissions: connect, register, manage only", () => {
  assert.deepEqual(parsePermissions("connect,register"), ["connect", "register"]);
  assert.deepEqual(parsePermissions(" Connect , connect "), ["connect"]);
  assert.throws(
    () => parsePermissions("conect"),
    /^UsageError: "conect" is not a permission \(did you mean connect\?\): <perms> is/,
  );
  assert.throws(() => parsePermissions("read"), /^UsageError: "read" is not a permission: /);
  assert.throws(() => parsePermissions(","), /no permission given/);
});

Deno.test("ids and machines are path-escaped as Go's url.PathEscape", () => {
  assert.equal(pathEscape("*"), "%2A");
  assert.equal(pathEscape("a b/c"), "a%20b%2Fc");
  assert.equal(pathEscape("tech-bob_1.x~"), "tech-bob_1.x~");
  assert.equal(pathEscape("a@b:c=d&e+f$"), "a@b:c=d&e+f$");
  assert.equal(pathEscape("é"), "%C3%A9");
  assert.equal(isoUtc(""), "-");
});
