/**
 * Argument and environment values the programs refuse before they dial anything (issue 9,
 * new-user walkthrough): each case runs the real program without network permission, so a
 * program that tried to connect would fail with a different status and message. Exit 2 is a
 * usage error (book, *TDL for the command line*), with `Error: …` on stderr and stdout empty.
 * The messages a new user met (machine not found, login without a terminal, help text) are
 * checked on the real programs too.
 */
import assert from "node:assert/strict";
import { type Ran, runProgram } from "./_run.ts";

/** Runs `cmd/<program>.ts` in a fresh HOME and a clean environment, stdin closed, without
 * network permission (`net`: loopback only). */
function run(
  program: "tela" | "telad",
  args: string[],
  env: Record<string, string> = {},
  setup?: (home: string) => Promise<void>,
  net = false,
): Promise<Ran> {
  return runProgram(program, args, { env, setup, clearEnv: true, net: net ? "loopback" : false });
}

/** Asserts a usage error: exit 2, nothing on stdout, `Error: <re>` on stderr. */
function assertUsage(r: Ran, re: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit 2 expected\n${r.stderr}`);
  assert.equal(r.stdout, "", `${what}: stdout stays empty`);
  assert.match(r.stderr, re, what);
}

Deno.test("tela: -hub with an http:// or other scheme is a usage error that gives the ws:// spelling", async () => {
  const cases: [string[], string, string][] = [
    [["connect", "-machine", "m"], "http://127.0.0.1:8080", "ws://127.0.0.1:8080"],
    [["machines"], "https://hub.example.com", "wss://hub.example.com"],
    [["services", "-machine", "m"], "http://127.0.0.1:8080", "ws://127.0.0.1:8080"],
    [["status"], "ftp://hub.example.com", "wss://hub.example.com"],
  ];
  for (const [args, hub, fix] of cases) {
    const r = await run("tela", [...args, "-hub", hub, "-token", "t"]);
    const esc = (s: string) => s.replace(/[.]/g, "\\.");
    assertUsage(
      r,
      new RegExp(
        `^Error: -hub must be a ws:// or wss:// URL or a short name from \\S*hubs\\.yaml; ` +
          `for ${esc(hub)} use ${esc(fix)}$`,
        "m",
      ),
      `tela ${args[0]} -hub ${hub}`,
    );
  }
});

Deno.test("tela: an unresolved -hub short name names hubs.yaml and suggests wss://<name>", async () => {
  const r = await run("tela", ["connect", "-hub", "127.0.0.1:8080", "-machine", "m"]);
  assertUsage(
    r,
    /^Error: -hub "127\.0\.0\.1:8080" is not a ws:\/\/ or wss:\/\/ URL, no remotes in \S+\/\.tela\/config\.yaml, and not a short name \(\S+\/\.tela\/hubs\.yaml does not exist\); use wss:\/\/127\.0\.0\.1:8080 \(ws:\/\/127\.0\.0\.1:8080 for a hub without TLS\), add a hub directory that lists it with "tela remote add <name> <directory-url>", or add "127\.0\.0\.1:8080: wss:\/\/<host>" under "hubs:" in \S+hubs\.yaml$/m,
    "tela connect -hub 127.0.0.1:8080",
  );
  const known = await run(
    "tela",
    ["machines", "-hub", "owls"],
    {},
    async (home) => {
      await Deno.mkdir(`${home}/.tela`);
      await Deno.writeTextFile(`${home}/.tela/hubs.yaml`, "hubs:\n  lab: ws://10.0.0.5:8080\n");
    },
  );
  assertUsage(
    known,
    /^Error: -hub "owls" is not a ws:\/\/ or wss:\/\/ URL, no remotes in \S+config\.yaml, and not a short name in \S+hubs\.yaml \(it defines: lab\); use wss:\/\/owls/m,
    "tela machines -hub owls with hubs.yaml",
  );
});

Deno.test("tela: a profile whose hub is http:// is a configuration error naming the profile", async () => {
  const r = await run("tela", ["connect", "-profile", "home"], {}, async (home) => {
    await Deno.mkdir(`${home}/.tela/profiles`, { recursive: true });
    await Deno.writeTextFile(
      `${home}/.tela/profiles/home.yaml`,
      "id: 6f0d3b1e-0000-4000-8000-000000000000\nconnections:\n" +
        "  - hub: http://127.0.0.1:8080\n    machine: m\n",
    );
  });
  assert.equal(r.code, 3, r.stderr);
  assert.match(
    r.stderr,
    /^Error: \S+home\.yaml: connection 1 hub must be a ws:\/\/ or wss:\/\/ URL .*; for http:\/\/127\.0\.0\.1:8080 use ws:\/\/127\.0\.0\.1:8080$/m,
  );
});

Deno.test("tela login/logout: a hub with a scheme other than ws, wss, http or https is a usage error", async () => {
  for (const verb of ["login", "logout"]) {
    const r = await run("tela", [verb, "ftp://hub.example.com"]);
    assertUsage(
      r,
      /^Error: the hub must be a ws:\/\/ or wss:\/\/ URL or a short name from \S+hubs\.yaml; for ftp:\/\/hub\.example\.com use wss:\/\/hub\.example\.com$/m,
      `tela ${verb} ftp://…`,
    );
  }
});

/** `Error:` lines of stderr (the help that follows a usage error is not counted). */
function errorLines(r: Ran): string[] {
  return r.stderr.split("\n").filter((l) => /^Error:|WARN/.test(l));
}

Deno.test("tela connect: -mtu and TELA_MTU out of range are usage errors before any dial", async () => {
  const base = ["connect", "-hub", "ws://127.0.0.1:9", "-machine", "m", "-token", "t"];
  assertUsage(
    await run("tela", [...base, "-mtu", "99999"]),
    /^Error: -mtu 99999 is not a valid tunnel MTU: it must be a whole number 576-65475 \(default 1100\)$/m,
    "-mtu 99999",
  );
  assertUsage(
    await run("tela", [...base, "-mtu=-5"]),
    /^Error: -mtu -5 is not a valid tunnel MTU/m,
    "-mtu -5",
  );
  for (const v of ["abc", "99999", "1.5"]) {
    assertUsage(
      await run("tela", base, { TELA_MTU: v }),
      new RegExp(
        `^Error: environment variable TELA_MTU="${
          v.replace(".", "\\.")
        }" is not a valid tunnel MTU: it must be a whole number 576-65475; fix it, or unset it for the default 1100$`,
        "m",
      ),
      `TELA_MTU=${v}`,
    );
  }
});

Deno.test("telad: a bad -ports part, -mtu, TELAD_MTU or TELAD_PORTS is one usage error before any dial", async () => {
  const base = ["-hub", "ws://127.0.0.1:9", "-machine", "m", "-token", "t"];
  const abc = await run("telad", [...base, "-ports", "22,abc"]);
  assertUsage(
    abc,
    /^Error: -ports: "abc" is not a port spec: each comma-separated part is port\[:name\[:description\]\] with a port 1-65535, e\.g\. 22:SSH,3389:RDP$/m,
    "-ports 22,abc",
  );
  assert.equal(errorLines(abc).length, 1, abc.stderr);
  const big = await run("telad", [...base, "-ports", "99999"]);
  assertUsage(big, /^Error: -ports: "99999" is not a port spec/m, "-ports 99999");
  assert.deepEqual(errorLines(big).length, 1, `one error, no WARN:\n${big.stderr}`);
  const envPorts = await run("telad", base, { TELAD_PORTS: "abc" });
  assertUsage(
    envPorts,
    /^Error: environment variable TELAD_PORTS: "abc" is not a port spec/m,
    "TELAD_PORTS=abc",
  );
  assertUsage(
    await run("telad", [...base, "-ports", "22"], { TELAD_MTU: "abc" }),
    /^Error: environment variable TELAD_MTU="abc" is not a valid tunnel MTU: it must be a whole number 576-65475/m,
    "TELAD_MTU=abc",
  );
  assertUsage(
    await run("telad", [...base, "-ports", "22", "-mtu", "99999"]),
    /^Error: -mtu 99999 is not a valid tunnel MTU/m,
    "telad -mtu 99999",
  );
});

Deno.test("tela services: a machine the hub does not have is named with the hub and the command that lists them", async () => {
  // A stand-in hub on loopback: /api/status with one machine.
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
    Response.json({
      machines: [{ id: "barn", agentConnected: true, sessionCount: 0, services: [] }],
      timestamp: "2026-12-02T08:00:00Z",
    }));
  try {
    const hub = `ws://127.0.0.1:${server.addr.port}`;
    const want = new RegExp(
      `^Error: machine "nosuch" is not registered on ${hub}; "tela machines -hub ${hub}" lists them$`,
      "m",
    );
    for (const json of [[], ["-json"]]) {
      const r = await run(
        "tela",
        ["services", "-hub", hub, "-machine", "nosuch", "-token", "t", ...json],
        {},
        undefined,
        true,
      );
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, want, `tela services ${json.join(" ")}`);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("tela login without a terminal says to pipe the token in, not to paste it at a prompt", async () => {
  const tela = await run("tela", ["login", "ws://127.0.0.1:9"]);
  assertUsage(
    tela,
    /^Error: token cannot be empty: standard input is not a terminal, so the token is read from it and none came; pipe it in \(printf '%s\\n' "\$TOKEN" \| tela login ws:\/\/127\.0\.0\.1:9\), or pass -token to each command instead$/m,
    "tela login </dev/null",
  );
  assert.doesNotMatch(tela.stderr, /prompt/);
});

Deno.test("tela profile show -h describes -json against YAML, not a table", async () => {
  const r = await run("tela", ["profile", "show", "-h"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /-json\s+Print JSON instead of the profile's YAML/);
  assert.doesNotMatch(r.stdout + r.stderr, /instead of a table/);
});
