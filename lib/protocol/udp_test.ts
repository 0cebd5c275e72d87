import assert from "node:assert/strict";
import {
  bytesToHex,
  decodeUdpToken,
  encodeProbe,
  encodeReady,
  hexToBytes,
  isProbe,
  isReadyFor,
  probeToReadyInPlace,
  randomHex,
} from "./udp.ts";

Deno.test("PROBE and READY match the spec's example bytes", () => {
  const token = hexToBytes("a1b2c3d4e5f60718");
  assert.equal(
    bytesToHex(encodeProbe(token)),
    "a1b2c3d4e5f60718" + "50524f4245",
  );
  assert.equal(bytesToHex(encodeReady(token)), "a1b2c3d4e5f60718" + "5245414459");
  const p = encodeProbe(token);
  assert.ok(isProbe(p));
  probeToReadyInPlace(p);
  assert.ok(isReadyFor(p, token));
  assert.ok(!isReadyFor(p, hexToBytes("a1b2c3d4e5f60719")), "READY for another token");
  assert.ok(!isProbe(new Uint8Array(14)));
});

Deno.test("decodeUdpToken accepts exactly 16 hex chars", () => {
  assert.deepEqual([...decodeUdpToken("0001020304050607")!], [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(decodeUdpToken("00010203040506"), null);
  assert.equal(decodeUdpToken("zz01020304050607"), null);
  assert.match(randomHex(8), /^[0-9a-f]{16}$/);
  assert.throws(() => hexToBytes("abc"), SyntaxError);
});
