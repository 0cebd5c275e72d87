import assert from "node:assert/strict";
import {
  encodeBindingRequest,
  encodeBindingResponse,
  isStunMessage,
  parseBindingResponse,
  splitHostPort,
} from "./stun.ts";
import { isPunch, parsePeerEndpoint, TPUNCH } from "./direct.ts";

const TXID = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

/** Spec §6.1 example: 203.0.113.5:54321 as `00 20 00 08 00 01 F5 23 EA 12 D5 47`. */
const SPEC_ATTR = [0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xf5, 0x23, 0xea, 0x12, 0xd5, 0x47];

function response(attrs: number[], opts: { type?: number; txid?: Uint8Array } = {}): Uint8Array {
  const d = new Uint8Array(20 + attrs.length);
  const v = new DataView(d.buffer);
  v.setUint16(0, opts.type ?? 0x0101);
  v.setUint16(2, attrs.length);
  v.setUint32(4, 0x2112a442);
  d.set(opts.txid ?? TXID, 8);
  d.set(attrs, 20);
  return d;
}

Deno.test("STUN Binding Request: 20 octets, type 1, length 0, cookie, the transaction id", () => {
  const { request, txid } = encodeBindingRequest(TXID);
  assert.deepEqual(
    [...request],
    [0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, ...TXID],
  );
  assert.equal(txid, TXID);
  const r = encodeBindingRequest();
  assert.equal(r.request.length, 20);
  assert.equal(r.txid.length, 12);
  assert.notDeepEqual(r.txid, encodeBindingRequest().txid, "random transaction ids");
  assert.throws(() => encodeBindingRequest(new Uint8Array(11)), RangeError);
  assert.ok(isStunMessage(request));
});

Deno.test("STUN response: the spec's XOR-MAPPED-ADDRESS example decodes to 203.0.113.5:54321", () => {
  assert.deepEqual(parseBindingResponse(response(SPEC_ATTR), TXID), {
    hostname: "203.0.113.5",
    port: 54321,
  });
  // Our encoder produces the spec's bytes.
  const enc = encodeBindingResponse(TXID, { hostname: "203.0.113.5", port: 54321 });
  assert.deepEqual([...enc.subarray(20)], SPEC_ATTR);
});

Deno.test("STUN response: attributes before it are skipped with 4-octet padding", () => {
  // SOFTWARE (0x8022) with 5 octets of value + 3 padding, then MAPPED-ADDRESS (0x0001, not
  // supported), then an IPv6 XOR-MAPPED-ADDRESS (skipped), then the IPv4 one.
  const software = [0x80, 0x22, 0x00, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65, 0, 0, 0];
  const mapped = [0x00, 0x01, 0x00, 0x08, 0x00, 0x01, 0x00, 0x50, 10, 0, 0, 1];
  const v6 = [0x00, 0x20, 0x00, 0x14, 0x00, 0x02, 0x00, 0x50, ...new Array(16).fill(0)];
  const got = parseBindingResponse(response([...software, ...mapped, ...v6, ...SPEC_ATTR]), TXID);
  assert.deepEqual(got, { hostname: "203.0.113.5", port: 54321 });
});

Deno.test("STUN response: wrong type, transaction id, cookie or length is refused", () => {
  assert.equal(parseBindingResponse(response(SPEC_ATTR, { type: 0x0111 }), TXID), null);
  const other = TXID.slice();
  other[11] ^= 1;
  assert.equal(parseBindingResponse(response(SPEC_ATTR, { txid: other }), TXID), null);
  const noCookie = response(SPEC_ATTR);
  noCookie[4] = 0;
  assert.equal(parseBindingResponse(noCookie, TXID), null);
  const long = response(SPEC_ATTR);
  long[3] = 40; // declares more than it carries
  assert.equal(parseBindingResponse(long, TXID), null);
  const truncatedAttr = response([0x00, 0x20, 0x00, 0x10, 0x00, 0x01, 0xf5, 0x23]);
  assert.equal(parseBindingResponse(truncatedAttr, TXID), null);
  assert.equal(parseBindingResponse(response([]), TXID), null, "no address attribute");
  assert.equal(parseBindingResponse(new Uint8Array(19), TXID), null);
});

Deno.test("peer-endpoint and TPUNCH parsing", () => {
  assert.deepEqual(parsePeerEndpoint("203.0.113.5:54321"), {
    transport: "udp",
    hostname: "203.0.113.5",
    port: 54321,
  });
  for (const bad of ["", "203.0.113.5", "203.0.113.5:0", "203.0.113.5:70000", "[::1]:5", "a:1"]) {
    assert.equal(parsePeerEndpoint(bad), null, bad);
  }
  assert.ok(isPunch(TPUNCH));
  assert.deepEqual([...TPUNCH], [0x54, 0x50, 0x55, 0x4e, 0x43, 0x48]);
  assert.ok(!isPunch(Uint8Array.of(0x54, 0x50, 0x55, 0x4e, 0x43, 0x48, 0)));
  assert.deepEqual(splitHostPort("stun.l.google.com:19302"), {
    host: "stun.l.google.com",
    port: 19302,
  });
  assert.equal(splitHostPort("nohost"), null);
});
