/**
 * Timers of a connection: retransmission timeout with backoff (RFC 6298 5.5) and a
 * retransmission limit, zero-window probing and recovery (RFC 9293 3.8.6.1), delayed ACKs
 * (RFC 5681 4.2), keepalive (RFC 9293 3.8.4).
 */
import assert from "node:assert/strict";
import {
  B_ADDR,
  connectPair,
  makePair,
  MiB,
  patternHash,
  receiveAll,
  scripted,
  sendPattern,
} from "../_test_util.ts";
import { ConnectionTimeoutError, TcpState } from "../mod.ts";
import { TcpFlags } from "../wire/tcp.ts";

const { SYN, ACK } = TcpFlags;

Deno.test("a zero window stops the sender, probes keep it alive, and reading resumes the transfer byte-exact", async () => {
  const p = makePair({ tcp: { receiveBufferSize: 64 * 1024 }, link: { delayMs: 5 } });
  const [c, s] = await connectPair(p);
  const total = 2 * MiB;
  const sending = sendPattern(c, 1, total);
  // Nobody reads on b: its window fills and closes.
  await p.clock.advance(2_000);
  const sb = p.b.sockets()[0], sa = p.a.sockets()[0];
  assert.equal(sb.recvBuf.free, 0, "the receiver's buffer is full");
  assert.equal(sa.sndWnd, 0, "the sender saw a zero window");
  const sentBefore = p.a.stats.tcp.segmentsSent;
  await p.clock.advance(30_000);
  const probes = p.a.stats.tcp.segmentsSent - sentBefore;
  assert.ok(probes >= 3 && probes <= 12, `window probes with backoff over 30 s (${probes})`);
  assert.equal(sa.state, TcpState.ESTABLISHED, "probing does not give up");
  // Now read: the window opens and everything arrives.
  const [got] = await p.run(Promise.all([receiveAll(s), sending]));
  assert.deepEqual(got, { bytes: total, sha256: patternHash(1, total) });
  c.abort();
  s.abort();
  p.close();
});

Deno.test("retransmission timeouts back off exponentially (RFC 6298 5.5) and give up after the limit", async () => {
  const p = makePair({ link: { delayMs: 10 }, tcp: { maxRetransmits: 5 } });
  const [c, s] = await connectPair(p);
  const stamps: number[] = [];
  const deliver = p.a.egress.output;
  p.link.cut();
  p.a.egress.output = (x) => {
    stamps.push(p.clock.now());
    deliver(x);
  };
  const w = c.writable.getWriter();
  await w.write(new Uint8Array(100));
  const err = await p.run(c.readable.getReader().read().then(() => null, (e) => e));
  assert.ok(err instanceof ConnectionTimeoutError, String(err));
  assert.match(err.message, /timed out after 5 retransmissions/);
  const gaps = stamps.slice(1).map((t, i) => Math.round(t - stamps[i]));
  assert.equal(gaps.length, 5, "the original and 5 retransmissions");
  for (let i = 1; i < gaps.length; i++) {
    assert.equal(gaps[i], Math.min(2 * gaps[i - 1], 60_000), `gap ${i} doubles: ${gaps}`);
  }
  assert.ok(gaps[0] >= 200, "never below the minimum RTO");
  s.abort();
  p.close();
});

Deno.test("after an RTO the lost segment is resent and the transfer completes", async () => {
  const p = makePair({ link: { delayMs: 10 } });
  const [c, s] = await connectPair(p);
  p.link.cut();
  const sending = sendPattern(c, 1, 200_000);
  await p.clock.advance(3_000);
  assert.ok(p.a.stats.tcp.timeouts >= 2);
  p.link.restore();
  const [got] = await p.run(Promise.all([receiveAll(s), sending]));
  assert.deepEqual(got, { bytes: 200_000, sha256: patternHash(1, 200_000) });
  c.abort();
  s.abort();
  p.close();
});

Deno.test("a lone segment is acknowledged within the delayed-ACK time, two at once immediately", async () => {
  const t = scripted({ delayedAckMs: 40 });
  const l = t.stack.listen(80);
  t.deliver({ sport: 4000, dport: 80, seq: 5000, flags: SYN });
  const [synAck] = t.take();
  const ack = synAck.seq + 1;
  t.deliver({ sport: 4000, dport: 80, seq: 5001, ack, flags: ACK });
  await t.clock.run(l.accept());
  t.take();
  t.deliver({ sport: 4000, dport: 80, seq: 5001, ack, flags: ACK, payload: new Uint8Array(100) });
  await t.clock.advance(39);
  assert.equal(t.take().length, 0, "no ACK yet: it is delayed");
  await t.clock.advance(2);
  const [delayed] = t.take();
  assert.equal(delayed.flagNames, "ACK");
  assert.equal(delayed.ack, 5101);
  t.deliver({ sport: 4000, dport: 80, seq: 5101, ack, flags: ACK, payload: new Uint8Array(100) });
  t.deliver({ sport: 4000, dport: 80, seq: 5201, ack, flags: ACK, payload: new Uint8Array(100) });
  await t.clock.advance(0);
  const [second] = t.take();
  assert.equal(second?.ack, 5301, "every second full segment is ACKed at once");
  // Out-of-order data is ACKed at once with a SACK block.
  t.deliver({ sport: 4000, dport: 80, seq: 5401, ack, flags: ACK, payload: new Uint8Array(100) });
  await t.clock.advance(0);
  const [dup] = t.take();
  assert.equal(dup.ack, 5301);
  t.stack.close();
});

Deno.test("SACK blocks report out-of-order data, most recent first (RFC 2018 4)", async () => {
  const t = scripted();
  const l = t.stack.listen(80);
  t.deliver({ sport: 4000, dport: 80, seq: 5000, flags: SYN, sackPermitted: true, tsVal: 1 });
  const [synAck] = t.take();
  assert.equal(synAck.sackPermitted, true);
  const ack = synAck.seq + 1;
  t.deliver({ sport: 4000, dport: 80, seq: 5001, ack, flags: ACK, tsVal: 2, tsEcr: synAck.tsVal });
  await t.clock.run(l.accept());
  t.take();
  const seg = (seq: number, len = 100) =>
    t.deliver({
      sport: 4000,
      dport: 80,
      seq,
      ack,
      flags: ACK,
      tsVal: 3,
      tsEcr: synAck.tsVal,
      payload: new Uint8Array(len),
    });
  seg(5201);
  seg(5401);
  await t.clock.advance(0);
  const replies = t.take();
  const last = replies[replies.length - 1];
  assert.equal(last.ack, 5001);
  assert.deepEqual(last.sack, [[5401, 5501], [5201, 5301]]);
  seg(5001, 200); // fills the first hole
  await t.clock.advance(0);
  const filled = t.take().pop()!;
  assert.equal(filled.ack, 5301);
  assert.deepEqual(filled.sack, [[5401, 5501]]);
  t.stack.close();
});

Deno.test("keepalive probes an idle connection and drops it when the peer is gone", async () => {
  const p = makePair({ tcp: { keepalive: { idleMs: 10_000, intervalMs: 1_000, count: 3 } } });
  const [c, s] = await connectPair(p);
  await p.clock.advance(15_000);
  assert.equal(p.a.sockets()[0].state, TcpState.ESTABLISHED, "a live peer answers the probes");
  p.link.cut();
  const err = await p.run(c.readable.getReader().read().then(() => null, (e) => e));
  assert.ok(err instanceof ConnectionTimeoutError, String(err));
  assert.match(err.message, /keepalive/);
  s.abort();
  p.close();
});

Deno.test("without keepalive an idle connection stays up and sends nothing", async () => {
  const p = makePair();
  const [c, s] = await connectPair(p);
  const before = p.a.stats.packetsSent + p.b.stats.packetsSent;
  await p.clock.advance(3_600_000);
  assert.equal(p.a.stats.packetsSent + p.b.stats.packetsSent, before);
  assert.equal(p.a.sockets()[0].state, TcpState.ESTABLISHED);
  c.abort();
  s.abort();
  p.close();
  void B_ADDR;
});

Deno.test("with Clock.nextTurn the every-second-segment ACK waits for the turn's end, one per burst, at once from 4 segments", async () => {
  const t = scripted({ delayedAckMs: 40 });
  const turns: (() => void)[] = [];
  (t.clock as { nextTurn?: (fn: () => void) => void }).nextTurn = (fn) => turns.push(fn);
  const l = t.stack.listen(80);
  t.deliver({ sport: 4000, dport: 80, seq: 5000, flags: SYN });
  const [synAck] = t.take();
  const ack = synAck.seq + 1;
  t.deliver({ sport: 4000, dport: 80, seq: 5001, ack, flags: ACK });
  await t.clock.run(l.accept());
  t.take();
  const data = (seq: number) =>
    t.deliver({ sport: 4000, dport: 80, seq, ack, flags: ACK, payload: new Uint8Array(100) });
  // Three segments in one turn: no ACK until the turn ends, then one for all three.
  data(5001);
  data(5101);
  data(5201);
  await t.clock.advance(0);
  assert.equal(t.take().length, 0, "the ACK waits for the end of the turn");
  assert.equal(turns.length, 1, "one turn-end callback queued");
  turns.shift()!();
  const acks = t.take();
  assert.equal(acks.length, 1);
  assert.equal(acks[0].ack, 5301, "one ACK covers the burst");
  // Four segments in one turn: ACKed at once on the fourth; the queued callback then finds
  // nothing owed.
  for (let i = 0; i < 4; i++) data(5301 + i * 100);
  await t.clock.advance(0);
  const [atFour] = t.take();
  assert.equal(atFour?.ack, 5701, "ACK at once from 4 unacknowledged segments");
  turns.shift()!();
  assert.equal(t.take().length, 0, "nothing owed at the turn's end");
  t.stack.close();
});
