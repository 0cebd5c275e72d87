/**
 * Connection set-up (RFC 9293 3.5, 3.10.7): option negotiation (MSS from the MTU, window
 * scaling and timestamps per RFC 7323, SACK-permitted per RFC 2018), SYN retransmission
 * with backoff, simultaneous open, ISNs per RFC 6528, refused ports.
 */
import assert from "node:assert/strict";
import {
  A_ADDR,
  B_ADDR,
  connectPair,
  makePair,
  readAll,
  scripted,
  writeAll,
} from "../_test_util.ts";
import { ConnectionRefusedError, ConnectionTimeoutError, NetStack, TcpState } from "../mod.ts";
import { TcpFlags } from "../wire/tcp.ts";

const { SYN, ACK, RST } = TcpFlags;

Deno.test("a SYN announces MSS = MTU - 40, window scale, SACK-permitted and timestamps", async () => {
  const t = scripted({ mtu: 1100 });
  const dial = t.stack.dial(B_ADDR, 80);
  dial.catch(() => {});
  await t.clock.advance(0);
  const [syn] = t.take();
  assert.equal(syn.flagNames, "SYN");
  assert.equal(syn.mss, 1060);
  assert.equal(syn.windowScale, 5, "1 MiB buffer needs shift 5 to fit 16 bits");
  assert.equal(syn.sackPermitted, true);
  assert.equal(syn.timestamps, true);
  assert.equal(syn.window, 65535, "the window in a SYN is never scaled");
  assert.ok(syn.sport >= 49152 && syn.sport <= 65535, "ephemeral port from RFC 6335's range");
  t.stack.close();
});

Deno.test("both ends agree on every option when both offer them", async () => {
  const p = makePair();
  const [c, s] = await connectPair(p);
  const [sa] = p.a.sockets(), [sb] = p.b.sockets();
  for (const sock of [sa, sb]) {
    assert.equal(sock.state, TcpState.ESTABLISHED);
    assert.equal(sock.tsOk, true);
    assert.equal(sock.sackOk, true);
    assert.equal(sock.sndWscale, 5);
    assert.equal(sock.rcvWscale, 5);
    assert.equal(sock.smss, 1060 - 12, "MSS minus the 12-octet timestamp option");
  }
  c.abort();
  s.abort();
  p.close();
});

Deno.test("an option one side does not offer is off at both ends", async () => {
  for (
    const [name, a] of [
      ["timestamps", { timestamps: false }],
      ["sack", { sack: false }],
      ["windowScaling", { windowScaling: false }],
    ] as const
  ) {
    for (const side of ["a", "b"] as const) {
      const p = makePair({ [side]: a });
      const [c, s] = await connectPair(p);
      const [sa] = p.a.sockets(), [sb] = p.b.sockets();
      for (const sock of [sa, sb]) {
        if (name === "timestamps") assert.equal(sock.tsOk, false, `${name} off on ${side}`);
        if (name === "sack") assert.equal(sock.sackOk, false, `${name} off on ${side}`);
        if (name === "windowScaling") {
          assert.equal(sock.sndWscale, 0, `${name} off on ${side}`);
          assert.equal(sock.rcvWscale, 0, `${name} off on ${side}`);
        }
      }
      // Data still flows with the reduced option set.
      const data = new Uint8Array(300_000).map((_, i) => i * 13);
      const [got] = await p.run(Promise.all([readAll(s), writeAll(c, data)]));
      assert.deepEqual(got, data, `${name} off on ${side}: data intact`);
      c.abort();
      s.abort();
      p.close();
    }
  }
});

Deno.test("the smaller MSS of the two ends is used, so no segment exceeds either MTU", async () => {
  const p = makePair({ a: { mtu: 1400 }, b: { mtu: 576 }, link: { mtu: 576 } });
  const [c, s] = await connectPair(p);
  assert.equal(p.a.sockets()[0].smss, 536 - 12);
  const data = new Uint8Array(200_000).map((_, i) => i);
  const [got] = await p.run(Promise.all([readAll(s), writeAll(c, data)]));
  assert.deepEqual(got, data);
  assert.equal(p.link.statsAtoB.oversize, 0);
  c.abort();
  s.abort();
  p.close();
});

Deno.test("the SYN-ACK echoes only what the SYN offered", async () => {
  const t = scripted();
  const l = t.stack.listen(80);
  t.deliver({ sport: 4000, dport: 80, seq: 1000, flags: SYN, mss: 1200 });
  const [synAck] = t.take();
  assert.equal(synAck.flagNames, "SYN,ACK");
  assert.equal(synAck.ack, 1001);
  assert.equal(synAck.mss, 1060);
  assert.equal(synAck.windowScale, -1, "no window scale without the peer's");
  assert.equal(synAck.sackPermitted, false);
  assert.equal(synAck.timestamps, false);
  t.deliver({ sport: 4000, dport: 80, seq: 1001, ack: synAck.seq + 1, flags: ACK });
  const conn = await t.clock.run(l.accept());
  assert.equal(conn.remoteAddress.port, 4000);
  const sock = t.stack.sockets()[0];
  assert.equal(sock.peerMss, 1200);
  assert.equal(sock.smss, 1060, "min(1200, 1060) with no timestamp option");
  t.stack.close();
});

Deno.test("a SYN is retransmitted with exponential backoff, then dial fails with a timeout", async () => {
  const t = scripted({ synRetries: 3 });
  const dial = t.stack.dial(B_ADDR, 80);
  const err = await t.clock.run(dial.then(() => null, (e) => e));
  assert.ok(err instanceof ConnectionTimeoutError, String(err));
  assert.match(err.message, /connection to 10\.0\.0\.2:80 timed out/);
  const syns = t.sent.filter((s) => s.flags === SYN);
  assert.equal(syns.length, 4, "the first SYN and three retries");
  assert.equal(t.sent.length, 4, "nothing else was sent");
  assert.equal(new Set(syns.map((s) => s.seq)).size, 1, "retries carry the same ISN");
  assert.equal(t.stack.socketCount, 0);
  t.stack.close();
});

Deno.test("SYN retries are 1 s, 2 s, 4 s apart (RFC 6298 2.1 and 5.5)", async () => {
  const t = scripted({ synRetries: 3 });
  const stamps: number[] = [];
  const s = new NetStack({
    address: A_ADDR,
    clock: t.clock,
    output: () => stamps.push(t.clock.now()),
    synRetries: 3,
  });
  const dial = s.dial(B_ADDR, 80).catch(() => {});
  await t.clock.run(dial);
  const gaps = stamps.slice(1).map((x, i) => x - stamps[i]);
  assert.deepEqual(gaps, [1000, 2000, 4000]);
  s.close();
  t.stack.close();
});

Deno.test("a dial to a port nobody listens on is refused by RST", async () => {
  const p = makePair();
  const err = await p.run(p.a.dial(B_ADDR, 9).then(() => null, (e) => e));
  assert.ok(err instanceof ConnectionRefusedError, String(err));
  assert.match(err.message, /connection refused by 10\.0\.0\.2:9/);
  assert.equal(p.b.stats.tcp.rstSent, 1);
  assert.equal(p.b.stats.drops.noSocket, 1);
  assert.equal(p.a.socketCount, 0);
  p.close();
});

Deno.test("RST replies to a closed port follow RFC 9293 3.10.7.1", () => {
  const t = scripted();
  // No ACK bit: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
  t.deliver({ sport: 5000, dport: 81, seq: 77, flags: SYN });
  let [r] = t.take();
  assert.equal(r.flagNames, "RST,ACK");
  assert.equal(r.seq, 0);
  assert.equal(r.ack, 78);
  // ACK bit: <SEQ=SEG.ACK><CTL=RST>.
  t.deliver({
    sport: 5000,
    dport: 81,
    seq: 77,
    ack: 123456,
    flags: ACK,
    payload: new Uint8Array(5),
  });
  [r] = t.take();
  assert.equal(r.flagNames, "RST");
  assert.equal(r.seq, 123456);
  // A RST is never answered.
  t.deliver({ sport: 5000, dport: 81, seq: 77, flags: RST });
  assert.equal(t.take().length, 0);
  t.stack.close();
});

Deno.test("simultaneous open: two SYNs cross and both ends reach ESTABLISHED (RFC 9293 figure 8)", async () => {
  const p = makePair({ link: { delayMs: 10 } });
  const [c1, c2] = await p.run(
    Promise.all([
      p.a.dial(B_ADDR, 7000, { localPort: 6000 }),
      p.b.dial(A_ADDR, 6000, { localPort: 7000 }),
    ]),
  );
  assert.equal(p.a.sockets()[0].state, TcpState.ESTABLISHED);
  assert.equal(p.b.sockets()[0].state, TcpState.ESTABLISHED);
  const msg = new TextEncoder().encode("crossed");
  const [got] = await p.run(Promise.all([readAll(c2), writeAll(c1, msg)]));
  assert.equal(new TextDecoder().decode(got), "crossed");
  c1.abort();
  c2.abort();
  p.close();
});

Deno.test("a lost SYN-ACK is retransmitted and the connection still opens", async () => {
  const p = makePair();
  const l = p.b.listen(80);
  let dropped = 0;
  // Drop the first packet b sends (its SYN-ACK).
  const orig = p.b.egress.output;
  p.b.egress.output = (x) => {
    if (dropped++ === 0) return;
    orig(x);
  };
  const [c, s] = await p.run(Promise.all([p.a.dial(B_ADDR, 80), l.accept()]));
  assert.equal(dropped > 1, true);
  assert.ok(p.b.stats.tcp.timeouts >= 1 || p.a.stats.tcp.timeouts >= 1);
  c.abort();
  s.abort();
  p.close();
});

Deno.test("ISNs differ per 4-tuple and grow with time (RFC 6528)", async () => {
  const t = scripted();
  const isn = (port: number) => {
    const d = t.stack.dial(B_ADDR, 80, { localPort: port });
    d.catch(() => {});
    const syn = t.take().find((s) => s.flags === SYN);
    return syn!.seq;
  };
  await t.clock.advance(0);
  const a1 = isn(50001);
  await t.clock.advance(0);
  const a2 = isn(50002);
  assert.notEqual(a1, a2);
  t.stack.close();
  // Same secret, same tuple, 1 s later: M advanced by 250,000 ticks of 4 µs.
  const u = scripted();
  const first = (() => {
    u.stack.dial(B_ADDR, 80, { localPort: 50001 }).catch(() => {});
    return u.take()[0].seq;
  })();
  u.stack.close();
  const v = scripted();
  await v.clock.advance(1000);
  v.stack.dial(B_ADDR, 80, { localPort: 50001 }).catch(() => {});
  const later = v.take()[0].seq;
  assert.equal((later - first) >>> 0, 250_000);
  v.stack.close();
});
