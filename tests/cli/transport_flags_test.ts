/**
 * `-stun` and `-transport` of `tela connect` and `telad`, their variables and their keys in a
 * profile and telad.yaml (issue 11): the real programs refuse a bad value before they dial
 * anything (no network permission), a flag or variable with exit 2 (usage), a file key with
 * exit 3 (configuration), each naming the value, the cause and the fix.
 */
import assert from "node:assert/strict";
import { type Ran, runProgram } from "./_run.ts";

function run(
  program: "tela" | "telad",
  args: string[],
  env: Record<string, string> = {},
  setup?: (home: string) => Promise<void>,
): Promise<Ran> {
  return runProgram(program, args, { env, setup, clearEnv: true, net: false });
}

function assertRefused(r: Ran, code: 2 | 3, re: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${code} expected\n${r.stderr}`);
  assert.equal(r.stdout, "", `${what}: stdout stays empty`);
  assert.match(r.stderr, re, what);
}

const CONNECT = ["connect", "-hub", "ws://127.0.0.1:9", "-machine", "m", "-token", "t"];
const TELAD = ["-hub", "ws://127.0.0.1:9", "-machine", "m", "-ports", "22", "-token", "t"];

Deno.test("tela connect: a bad -transport or -stun, or their variables, is a usage error naming value, cause and fix", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ["-transport", "fast"],
      {},
      /^Error: -transport "fast" is not a transport: use auto \(direct, then UDP relay, then WebSocket\), udp \(.*\) or websocket \(.*\)$/m,
    ],
    [
      ["-stun", "stun.example.com"],
      {},
      /^Error: -stun "stun\.example\.com" is not a STUN server: the port is missing; give host:port, e\.g\. stun\.l\.google\.com:19302 .*or none for no direct path$/m,
    ],
    [["-stun", "none,127.0.0.1:3478"], {}, /^Error: -stun "none,127\.0\.0\.1:3478" mixes none/m],
    [
      [],
      { TELA_TRANSPORT: "quic" },
      /^Error: environment variable TELA_TRANSPORT: "quic" is not a transport: .*; or unset it$/m,
    ],
    [
      [],
      { TELA_STUN_SERVERS: "[::1]:3478" },
      /^Error: environment variable TELA_STUN_SERVERS: "\[::1\]:3478" is an IPv6 STUN server/m,
    ],
  ];
  for (const [args, env, re] of cases) {
    assertRefused(await run("tela", [...CONNECT, ...args], env), 2, re, `${args} ${env}`);
  }
});

Deno.test("tela connect -profile: bad stun: or transport: keys are configuration errors naming file and key; a flag is checked first", async () => {
  const setup = (extra: string) => async (home: string) => {
    await Deno.mkdir(`${home}/.tela/profiles`, { recursive: true });
    await Deno.writeTextFile(
      `${home}/.tela/profiles/p.yaml`,
      `connections:\n  - hub: ws://127.0.0.1:9\n    machine: m\n${extra}`,
    );
  };
  assertRefused(
    await run("tela", ["connect", "-profile", "p"], {}, setup("transport: quic\n")),
    3,
    /^Error: \S+\/\.tela\/profiles\/p\.yaml: 'transport': "quic" is not a transport: use auto/m,
    "profile transport: quic",
  );
  assertRefused(
    await run("tela", ["connect", "-profile", "p"], {}, setup("stun: [stun.example.com]\n")),
    3,
    /^Error: \S+p\.yaml: 'stun': "stun\.example\.com" is not a STUN server: the port is missing/m,
    "profile stun without port",
  );
  assertRefused(
    await run("tela", ["connect", "-profile", "p", "-transport", "x"], {}, setup("")),
    2,
    /^Error: -transport "x" is not a transport/m,
    "-profile with a bad -transport",
  );
});

Deno.test("telad: a bad -transport, -stun, TELAD_* variable or telad.yaml key is refused before any dial", async () => {
  assertRefused(
    await run("telad", [...TELAD, "-transport", "udp-only"]),
    2,
    /^Error: -transport "udp-only" is not a transport: use auto/m,
    "telad -transport udp-only",
  );
  assertRefused(
    await run("telad", [...TELAD, "-stun", "h:0"]),
    2,
    /^Error: -stun "h:0" is not a STUN server: the port must be 1-65535/m,
    "telad -stun h:0",
  );
  assertRefused(
    await run("telad", TELAD, { TELAD_STUN_SERVERS: "a.example:1,none" }),
    2,
    /^Error: environment variable TELAD_STUN_SERVERS: "a\.example:1,none" mixes none with servers/m,
    "TELAD_STUN_SERVERS",
  );
  assertRefused(
    await run("telad", TELAD, { TELAD_TRANSPORT: "fast" }),
    2,
    /^Error: environment variable TELAD_TRANSPORT: "fast" is not a transport/m,
    "TELAD_TRANSPORT",
  );
  const yaml = (extra: string) => async (home: string) => {
    await Deno.writeTextFile(
      `${home}/telad.yaml`,
      `hub: ws://127.0.0.1:9\nmachines:\n  - name: m\n    ports: [22]\n${extra}`,
    );
  };
  assertRefused(
    await run("telad", ["-config", "telad.yaml"], {}, yaml("stun: [127.0.0.1]\n")),
    3,
    /^Error: \S*telad\.yaml:5: 'stun': "127\.0\.0\.1" is not a STUN server: the port is missing/m,
    "telad.yaml stun",
  );
  assertRefused(
    await run("telad", ["-config", "telad.yaml"], {}, yaml("transport: [udp]\n")),
    3,
    /^Error: \S*telad\.yaml:5: 'transport': \["udp"\] is not a transport: use auto, udp or websocket/m,
    "telad.yaml transport",
  );
});
