/**
 * Packet formats: the Internet checksum (RFC 1071), IPv4 header emit/parse (RFC 791),
 * TCP header and options emit/parse (RFC 9293 3.1, RFC 7323, RFC 2018).
 */
import assert from "node:assert/strict";
import { checksum } from "./checksum.ts";
import { formatIpv4, InvalidAddressError, parseIpv4 } from "./address.ts";
import { emitIpv4Repr, IpProtocol, Ipv4Packet, parseIpv4Repr } from "./ipv4.ts";
import {
  formatFlags,
  optionsLength,
  type PayloadSource,
  TcpFlags,
  TcpOptions,
  TcpRepr,
  TcpSegment,
} from "./tcp.ts";

/** A repr with the given header fields, no options and no payload. */
function repr(
  fields: Pick<TcpRepr, "sourcePort" | "destinationPort" | "seq" | "ack" | "flags" | "window">,
): TcpRepr {
  return Object.assign(new TcpRepr(), fields);
}

const bytes = (b: Uint8Array): PayloadSource => ({
  readAt: (offset, target, targetOffset, length) =>
    target.set(b.subarray(offset, offset + length), targetOffset),
});

Deno.test("the Internet checksum matches RFC 1071's worked example", () => {
  // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (checksum 220d).
  const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(checksum(b, 0, b.length), 0x220d);
  // Odd lengths pad with a zero octet.
  assert.equal(checksum(new Uint8Array([0x01]), 0, 1), ~0x0100 & 0xffff);
  // Long buffers (the unrolled loop) agree with a plain sum.
  const long = new Uint8Array(1501).map((_, i) => (i * 37) & 255);
  let sum = 0;
  for (let i = 0; i < long.length; i += 2) sum += (long[i] << 8) | (long[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  assert.equal(checksum(long, 0, long.length), ~sum & 0xffff);
});

Deno.test("the checksum of any range at any offset and alignment equals a plain 16-bit sum", () => {
  let seed = 99;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  const plain = (b: Uint8Array, start: number, end: number, acc: number) => {
    let sum = acc;
    for (let i = start; i < end; i += 2) sum += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
    while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
    return ~sum & 0xffff;
  };
  const store = new Uint8Array(20000 + 16).map(() => rand(256));
  for (let round = 0; round < 300; round++) {
    // A view at any byte offset of its buffer (the 32-bit path needs an even, then a 4-byte
    // aligned start), ranges around the 64-octet threshold and up to 16 KiB packets.
    const view = store.subarray(rand(8));
    const start = rand(12);
    const len = round < 100 ? round : rand(round % 2 ? 200 : 16400);
    const acc = rand(3) === 0 ? 0 : rand(0x3ffff);
    if (round === 5) view.fill(0xff, start, start + len);
    assert.equal(
      checksum(view, start, start + len, acc),
      plain(view, start, start + len, acc),
      `offset ${view.byteOffset}+${start}, length ${len}, acc ${acc}`,
    );
  }
  // All-zero and all-ones data keep the one's-complement representation of zero.
  const zeros = new Uint8Array(256);
  assert.equal(checksum(zeros, 0, 256), 0xffff);
  const ones = new Uint8Array(256).fill(0xff);
  assert.equal(checksum(ones, 0, 256), 0);
});

Deno.test("IPv4 addresses parse and format as dotted quads", () => {
  assert.equal(parseIpv4("10.77.1.2"), 0x0a4d0102);
  assert.equal(formatIpv4(0xc0a80001), "192.168.0.1");
  assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
  for (const bad of ["10.0.0", "10.0.0.256", "a.b.c.d", "1.2.3.4.5", "", "01234.1.1.1"]) {
    assert.throws(() => parseIpv4(bad), InvalidAddressError, bad);
  }
});

Deno.test("an emitted IPv4 header parses back to the same fields with a valid checksum", () => {
  const buf = new Uint8Array(60);
  const repr = {
    source: parseIpv4("10.77.3.2"),
    destination: parseIpv4("10.77.3.1"),
    protocol: IpProtocol.TCP,
    ttl: 64,
    ident: 0xbeef,
    payloadLength: 40,
  };
  assert.equal(emitIpv4Repr(repr, buf), 20);
  assert.deepEqual(parseIpv4Repr(buf), repr);
  const v = new Ipv4Packet().wrap(buf);
  assert.equal(v.version, 4);
  assert.equal(v.headerLength, 20);
  assert.equal(v.dontFragment, true);
  assert.equal(checksum(buf, 0, 20), 0);
  // The known layout of the first octets: 45 00 00 3c be ef 40 00 40 06.
  assert.deepEqual([...buf.subarray(0, 10)], [0x45, 0, 0, 60, 0xbe, 0xef, 0x40, 0, 64, 6]);
});

Deno.test("TCP options round-trip: MSS, window scale, SACK-permitted, timestamps, SACK blocks", () => {
  const r = repr({
    sourcePort: 4000,
    destinationPort: 80,
    seq: 0xfffffff0,
    ack: 7,
    flags: TcpFlags.SYN,
    window: 65535,
  });
  const o = Object.assign(r.options, {
    mss: 1460,
    windowScale: 7,
    sackPermitted: true,
    timestamps: true,
    tsVal: 0xdeadbeef,
    tsEcr: 42,
    sackCount: 0,
  });
  const buf = new Uint8Array(80);
  const hl = r.emit(buf, 0, 0, 0);
  assert.equal(hl, 20 + optionsLength(o));
  assert.equal(hl % 4, 0);
  const seg = new TcpSegment().wrap(buf, 0, hl);
  assert.ok(seg.wellFormed());
  const p = new TcpOptions();
  assert.ok(seg.parseOptions(p));
  assert.equal(p.mss, 1460);
  assert.equal(p.windowScale, 7);
  assert.equal(p.sackPermitted, true);
  assert.equal(p.timestamps, true);
  assert.equal(p.tsVal, 0xdeadbeef);
  assert.equal(p.tsEcr, 42);
  assert.equal(seg.seq, 0xfffffff0);
  assert.equal(seg.sourcePort, 4000);
  assert.equal(formatFlags(seg.flags), "SYN");

  const r2 = repr({
    sourcePort: 1,
    destinationPort: 2,
    seq: 3,
    ack: 4,
    flags: TcpFlags.ACK,
    window: 5,
  });
  Object.assign(r2.options, { ...o, mss: -1, windowScale: -1, sackPermitted: false });
  r2.options.sackCount = 3;
  r2.options.sackBlocks.splice(0, 6, 1, 2, 3, 4, 0xfffffffe, 5);
  const hl2 = r2.emit(buf, 0, 0, 0);
  assert.equal(hl2, 20 + 12 + 4 + 24);
  const seg2 = new TcpSegment().wrap(buf, 0, hl2);
  assert.ok(seg2.parseOptions(p));
  assert.equal(p.sackCount, 3);
  assert.deepEqual(p.sackBlocks.slice(0, 6), [1, 2, 3, 4, 0xfffffffe, 5]);
  assert.equal(p.mss, -1);
});

Deno.test("a window scale above 14 is read as 14 (RFC 7323 2.3); unknown options are skipped", () => {
  const buf = new Uint8Array([
    ...new Array(12).fill(0),
    0x80,
    TcpFlags.SYN,
    0,
    0,
    0,
    0,
    0,
    0,
    3,
    3,
    20, // window scale 20
    254,
    4,
    1,
    2, // an unknown option
    1,
    1,
    1,
    0, // NOPs, EOL
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  const seg = new TcpSegment().wrap(buf, 0, 32);
  const p = new TcpOptions();
  assert.ok(seg.parseOptions(p));
  assert.equal(p.windowScale, 14);
});

Deno.test("the TCP checksum covers the pseudo-header: a wrong address fails verification", () => {
  const src = parseIpv4("10.0.0.1"), dst = parseIpv4("10.0.0.2");
  const buf = new Uint8Array(40);
  const r = repr({
    sourcePort: 1234,
    destinationPort: 80,
    seq: 1,
    ack: 0,
    flags: TcpFlags.SYN,
    window: 1000,
  });
  r.setPayload(bytes(new Uint8Array([1, 2, 3])), 0, 3);
  const hl = r.headerLength;
  assert.equal(r.emit(buf, 0, src, dst), hl + 3);
  const seg = new TcpSegment().wrap(buf, 0, hl + 3);
  assert.ok(seg.verifyChecksum(src, dst));
  assert.ok(!seg.verifyChecksum(src, parseIpv4("10.0.0.3")));
  assert.equal(seg.payloadLength, 3);
});

Deno.test("a TCP repr parses back what it emitted: fields, options, payload and checksum", () => {
  const src = parseIpv4("10.0.0.1"), dst = parseIpv4("10.0.0.2");
  const sent = repr({
    sourcePort: 49152,
    destinationPort: 443,
    seq: 0xfffffffe,
    ack: 0x80000001,
    flags: TcpFlags.ACK | TcpFlags.PSH,
    window: 501,
  });
  Object.assign(sent.options, { timestamps: true, tsVal: 9, tsEcr: 8, sackCount: 1 });
  sent.options.sackBlocks.splice(0, 2, 100, 200);
  const data = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  sent.setPayload(bytes(data), 2, 5); // octets 2..6 of the source
  const buf = new Uint8Array(100).fill(0xee);
  const length = sent.emit(buf, 10, src, dst);
  assert.equal(length, 20 + 12 + 12 + 5);
  assert.equal(length, sent.segmentLength);
  const view = new TcpSegment().wrap(buf, 10, length);
  assert.ok(view.verifyChecksum(src, dst));

  const got = new TcpRepr();
  assert.ok(got.parse(view));
  assert.deepEqual(
    [got.sourcePort, got.destinationPort, got.seq, got.ack, got.flags, got.window],
    [49152, 443, 0xfffffffe, 0x80000001, TcpFlags.ACK | TcpFlags.PSH, 501],
  );
  assert.deepEqual(
    [got.options.timestamps, got.options.tsVal, got.options.tsEcr, got.options.mss],
    [true, 9, 8, -1],
  );
  assert.deepEqual(got.options.sackBlocks.slice(0, 2 * got.options.sackCount), [100, 200]);
  assert.equal(got.payloadLength, 5);
  const payload = new Uint8Array(5);
  got.payload!.readAt(got.payloadOffset, payload, 0, got.payloadLength);
  assert.deepEqual([...payload], [2, 3, 4, 5, 6]);

  // Emitting the parsed repr reproduces the segment octet for octet.
  const again = new Uint8Array(100);
  assert.equal(got.emit(again, 0, src, dst), length);
  assert.deepEqual(again.subarray(0, length), buf.subarray(10, 10 + length));
});

Deno.test("a TCP repr refuses a malformed segment: short data offset, option past the header", () => {
  const buf = new Uint8Array(24);
  buf[12] = 0x40; // data offset 16 octets < 20
  assert.equal(new TcpRepr().parse(new TcpSegment().wrap(buf, 0, 24)), false);
  buf[12] = 0x60; // 24 octets: one option word
  buf.set([2, 8, 0, 0], 20); // MSS claiming 8 octets, only 4 left
  assert.equal(new TcpRepr().parse(new TcpSegment().wrap(buf, 0, 24)), false);
});
