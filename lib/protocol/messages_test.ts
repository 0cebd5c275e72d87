import assert from "node:assert/strict";
import {
  decodeSignal,
  encodeSignal,
  isKeepaliveText,
  KEEPALIVE_TEXT,
  makeReady,
  makeSessionRequest,
  makeTransport,
  makeUdpOffer,
  ProtocolError,
} from "./messages.ts";

Deno.test("decodeSignal reads a Go agent's register (with trailing newline)", () => {
  const text =
    '{"type":"register","machineName":"barn","agentId":"5b0e3c1a-8d2f-4a6b-9c3e-1f2a3b4c5d6e","hostname":"barn","os":"linux","ports":[22,3389],"services":[{"port":22,"proto":"tcp","name":"SSH"}],"token":"t","capabilities":{"management":true},"future":1}\n';
  const m = decodeSignal(text);
  assert.equal(m.type, "register");
  if (m.type !== "register") return;
  assert.equal(m.machineName, "barn");
  assert.deepEqual(m.ports, [22, 3389]);
  assert.deepEqual(m.services, [{ port: 22, proto: "tcp", name: "SSH" }]);
  assert.deepEqual(m.capabilities, { management: true });
});

Deno.test("decodeSignal matches field names case-insensitively like Go", () => {
  const m = decodeSignal('{"Type":"connect","MACHINEID":"barn","wgpubkey":"ab"}');
  assert.deepEqual(m, { type: "connect", machineId: "barn", wgPubKey: "ab" });
  const r = decodeSignal('{"type":"registered","machineId":"x","defaultUpdate":{"Channel":"dev"}}');
  assert.deepEqual(r, { type: "registered", machineId: "x", defaultUpdate: { Channel: "dev" } });
});

Deno.test("decodeSignal rejects wrong JSON types on known fields", () => {
  for (
    const bad of [
      '{"type":"connect","ports":["22"]}',
      '{"type":"session-request","sessionIdx":"3"}',
      '{"type":"error","message":5}',
      '{"type":5}',
      '{"type":"register","services":[{"port":"22"}]}',
      '{"type":"register","tags":"a"}',
      '{"type":"ready","sessionIdx":1.5}',
      "[1,2]",
      '"register"',
      "{not json",
    ]
  ) {
    assert.throws(() => decodeSignal(bad), ProtocolError, bad);
  }
});

Deno.test("decodeSignal treats null as absent and unknown types as unknown", () => {
  assert.deepEqual(decodeSignal('{"type":"connect","machineId":"m","ports":null}'), {
    type: "connect",
    machineId: "m",
    wgPubKey: "",
  });
  assert.deepEqual(decodeSignal('{"type":"hello","x":1}'), { type: "unknown", rawType: "hello" });
  assert.deepEqual(decodeSignal("{}"), { type: "unknown", rawType: "" });
});

Deno.test("hub messages encode with Go's key order", () => {
  assert.equal(
    encodeSignal(makeSessionRequest("3fa1c2d4e5b60718", 1, "8f2c")),
    '{"sessionId":"3fa1c2d4e5b60718","sessionIdx":1,"type":"session-request","wgPubKey":"8f2c"}',
  );
  assert.equal(encodeSignal(makeReady(1)), '{"sessionIdx":1,"type":"ready"}');
  assert.equal(
    encodeSignal(makeUdpOffer(41820, "a1b2c3d4e5f60718", "203.0.113.10")),
    '{"host":"203.0.113.10","port":41820,"token":"a1b2c3d4e5f60718","type":"udp-offer"}',
  );
  assert.equal(
    encodeSignal(makeUdpOffer(41820, "a1b2c3d4e5f60718")),
    '{"port":41820,"token":"a1b2c3d4e5f60718","type":"udp-offer"}',
  );
});

Deno.test("keepalive filter: short texts containing the quoted word only", () => {
  assert.equal(KEEPALIVE_TEXT.length, 20);
  assert.ok(isKeepaliveText(KEEPALIVE_TEXT));
  assert.ok(!isKeepaliveText('{"type":"peer-endpoint","message":"keepalive"}x'.padEnd(70)));
  assert.ok(!isKeepaliveText('{"type":"peer-endpoint","message":"1.2.3.4:5"}'));
});

Deno.test("session-request carries the optional allowed ports, in Go's sorted key order", () => {
  const withPorts = encodeSignal(makeSessionRequest("s1", 3, "ab", [22]));
  assert.equal(
    withPorts,
    '{"ports":[22],"sessionId":"s1","sessionIdx":3,"type":"session-request","wgPubKey":"ab"}',
  );
  const m = decodeSignal(withPorts);
  assert.ok(m.type === "session-request");
  assert.deepEqual(m.ports, [22]);
  const bare = decodeSignal(encodeSignal(makeSessionRequest("s1", 3, "ab")));
  assert.ok(bare.type === "session-request");
  assert.equal(bare.ports, undefined);
  assert.throws(
    () => decodeSignal('{"type":"session-request","ports":["22"]}'),
    ProtocolError,
  );
});

Deno.test("decodeSignal accepts the transport report and ignores transports it does not know", () => {
  for (const t of ["direct", "udp-relay", "websocket"] as const) {
    const text = encodeSignal(makeTransport(t));
    assert.equal(text, `{"type":"transport","transport":"${t}"}`);
    assert.deepEqual(decodeSignal(text), { type: "transport", transport: t });
    // Every hub relays it: short, but no "keepalive" in it (spec §1.6).
    assert.ok(!isKeepaliveText(text));
  }
  assert.deepEqual(decodeSignal('{"TYPE":"transport","Transport":"direct"}\n'), {
    type: "transport",
    transport: "direct",
  });
  for (
    const other of [
      '{"type":"transport","transport":"carrier-pigeon"}',
      '{"type":"transport","transport":"DIRECT"}',
      '{"type":"transport","transport":5}',
      '{"type":"transport"}',
      '{"type":"transport","transport":null}',
    ]
  ) {
    assert.deepEqual(decodeSignal(other), { type: "unknown", rawType: "transport" }, other);
  }
  // Not a field of the hub's struct: a Go hub ignores it on other messages, so do we.
  assert.deepEqual(decodeSignal('{"type":"ready","sessionIdx":2,"transport":7}'), {
    type: "ready",
    sessionIdx: 2,
  });
});
