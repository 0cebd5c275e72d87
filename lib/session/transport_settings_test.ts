import assert from "node:assert/strict";
import {
  describeTransportSettings,
  parseStunServers,
  parseTransportMode,
  resolveTransportSettings,
  TransportSettingError,
  TransportUsageError,
} from "./transport_settings.ts";

Deno.test("parseTransportMode: auto, udp and websocket map to the highest tier", () => {
  assert.equal(parseTransportMode("auto"), "direct");
  assert.equal(parseTransportMode(" UDP "), "udp-relay");
  assert.equal(parseTransportMode("websocket"), "websocket");
  assert.equal(parseTransportMode("udp-relay"), "udp-relay");
  assert.throws(
    () => parseTransportMode("fast"),
    (e: Error) =>
      e instanceof TransportSettingError && e.message.startsWith('"fast" is not a transport') &&
      /auto .*udp .*websocket/.test(e.message),
  );
});

Deno.test("parseStunServers: host:port lists, none, duplicates, and what is wrong", () => {
  assert.deepEqual(parseStunServers("127.0.0.1:3478, stun.example.com:19302"), [
    "127.0.0.1:3478",
    "stun.example.com:19302",
  ]);
  assert.deepEqual(parseStunServers("a.example:1,a.example:1"), ["a.example:1"]);
  assert.deepEqual(parseStunServers("none"), []);
  assert.deepEqual(parseStunServers(" NONE "), []);
  assert.deepEqual(parseStunServers([]), []);
  assert.deepEqual(parseStunServers(["10.0.0.1:3478"]), ["10.0.0.1:3478"]);
  const bad: [string | string[], RegExp][] = [
    ["stun.example.com", /"stun.example.com" is not a STUN server: the port is missing/],
    ["h:0", /the port must be 1-65535/],
    ["h:70000", /the port must be 1-65535/],
    ["h:x", /expected host:port/],
    ["[::1]:3478", /IPv6 STUN server; the direct path is IPv4 only/],
    ["none,h:1", /mixes none with servers/],
    ["", /names no STUN server/],
    [" , ", /names no STUN server/],
    [["ok.example:1", "bad"], /"bad" is not a STUN server/],
  ];
  for (const [v, re] of bad) {
    assert.throws(() => parseStunServers(v), (e: Error) => {
      assert.ok(e instanceof TransportSettingError);
      assert.match(e.message, re);
      return true;
    }, JSON.stringify(v));
  }
});

Deno.test("resolveTransportSettings: flag, then environment, then file, then default", () => {
  const env = { stun: "X_STUN", transport: "X_TRANSPORT" };
  const vars: Record<string, string> = {};
  const getEnv = (n: string) => vars[n];
  const file = { stunServers: ["file.example:3478"], maxTransport: "udp-relay" as const };
  assert.deepEqual(resolveTransportSettings({ env, getEnv }), {});
  assert.deepEqual(resolveTransportSettings({ env, getEnv, file }), file);
  vars.X_STUN = "env.example:1";
  vars.X_TRANSPORT = "websocket";
  assert.deepEqual(resolveTransportSettings({ env, getEnv, file }), {
    stunServers: ["env.example:1"],
    maxTransport: "websocket",
  });
  assert.deepEqual(
    resolveTransportSettings({ env, getEnv, file, stunFlag: "none", transportFlag: "auto" }),
    { stunServers: [], maxTransport: "direct" },
  );
  vars.X_TRANSPORT = " "; // blank: unset
  assert.equal(resolveTransportSettings({ env, getEnv, file }).maxTransport, "udp-relay");
  vars.X_TRANSPORT = "fast";
  assert.throws(
    () => resolveTransportSettings({ env, getEnv }),
    (e: Error) =>
      e instanceof TransportUsageError && e.source === "env" &&
      e.message.startsWith('environment variable X_TRANSPORT: "fast" is not a transport') &&
      e.message.endsWith("; or unset it"),
  );
  // The flag wins, so a bad variable under it does not matter.
  assert.equal(
    resolveTransportSettings({ env, getEnv, transportFlag: "udp" }).maxTransport,
    "udp-relay",
  );
  assert.throws(
    () => resolveTransportSettings({ env, getEnv, stunFlag: "stun.example" }),
    (e: Error) =>
      e instanceof TransportUsageError && e.source === "flag" &&
      e.message.startsWith('-stun "stun.example" is not a STUN server: the port is missing'),
  );
});

Deno.test("describeTransportSettings: one line for settings other than the defaults", () => {
  assert.equal(describeTransportSettings({}), undefined);
  assert.equal(describeTransportSettings({ maxTransport: "direct" }), undefined);
  assert.equal(
    describeTransportSettings({ maxTransport: "websocket", stunServers: [] }),
    "transport settings: WebSocket relay only",
  );
  assert.equal(
    describeTransportSettings({ maxTransport: "udp-relay" }),
    "transport settings: up to udp-relay (no direct path)",
  );
  assert.equal(
    describeTransportSettings({ stunServers: ["127.0.0.1:3478"] }),
    "transport settings: every tier, STUN servers 127.0.0.1:3478",
  );
  assert.equal(
    describeTransportSettings({ stunServers: [] }),
    "transport settings: direct disabled (no STUN), UDP relay, WebSocket",
  );
});
