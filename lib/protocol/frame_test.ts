import assert from "node:assert/strict";
import {
  applyHop,
  decodeRelayHeader,
  encodeRelayFrame,
  FLAG_CONTROL,
  isControlFrame,
  isRelayFrame,
  relayPayload,
  writeRelayHeader,
} from "./frame.ts";

Deno.test("encodeRelayFrame writes the spec's example header bytes", () => {
  const f = encodeRelayFrame(new Uint8Array([0x01]), {
    flags: FLAG_CONTROL,
    sessionId: 0x9c41d2e7,
  });
  assert.deepEqual([...f], [0x54, 0x00, 0x01, 0x9c, 0x41, 0xd2, 0xe7, 0x01]);
  assert.deepEqual(decodeRelayHeader(f), { hop: 0, flags: 1, sessionId: 0x9c41d2e7 });
  assert.ok(isControlFrame(f));
  assert.deepEqual([...relayPayload(f)], [1]);
});

Deno.test("applyHop turns hop 0 into 7 in place and leaves every other byte alone", () => {
  const f = encodeRelayFrame(new Uint8Array([9, 8, 7]), { sessionId: 5 });
  const before = [...f];
  assert.equal(applyHop(f), "forward");
  assert.equal(f[1], 7);
  before[1] = 7;
  assert.deepEqual([...f], before);
});

Deno.test("applyHop decrements a non-zero hop and drops at 1", () => {
  const f = encodeRelayFrame(new Uint8Array(0), { hop: 3 });
  assert.equal(applyHop(f), "forward");
  assert.equal(f[1], 2);
  const g = encodeRelayFrame(new Uint8Array(0), { hop: 1 });
  assert.equal(applyHop(g), "drop");
  assert.equal(g[1], 1, "a dropped frame is not rewritten");
  const h = encodeRelayFrame(new Uint8Array(0));
  assert.equal(applyHop(h, 1), "drop", "a budget of 1 is spent at the first hub");
});

Deno.test("applyHop rejects short frames and a wrong magic byte", () => {
  assert.equal(applyHop(new Uint8Array([0x54, 0, 0, 0, 0, 0])), "invalid");
  assert.equal(applyHop(new Uint8Array([0x55, 0, 0, 0, 0, 0, 0])), "invalid");
  assert.equal(isRelayFrame(new Uint8Array(0)), false);
  assert.equal(decodeRelayHeader(new Uint8Array([1, 2, 3])), null);
});

Deno.test("writeRelayHeader writes at an offset and refuses a short buffer", () => {
  const buf = new Uint8Array(10);
  writeRelayHeader(buf, 3, 0, 0xffffffff, 0);
  assert.deepEqual([...buf], [0, 0, 0, 0x54, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  assert.throws(() => writeRelayHeader(buf, 4, 0, 0), RangeError);
});

Deno.test("only flags == 0x01 exactly is CONTROL", () => {
  assert.equal(isControlFrame(encodeRelayFrame(new Uint8Array(0), { flags: 0x03 })), false);
  assert.equal(isControlFrame(encodeRelayFrame(new Uint8Array(0), { flags: 0x00 })), false);
});
