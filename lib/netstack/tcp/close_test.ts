/**
 * Ending connections (RFC 9293 3.6, 3.10.4-3.10.5): half-close, simultaneous close,
 * TIME-WAIT for 2 MSL, abort with RST; and blind-attack defences of RFC 5961 (RST, SYN
 * and ACK validation with challenge ACKs).
 */
import assert from "node:assert/strict";
import {
  connectPair,
  makePair,
  readAll,
  type Scripted,
  scripted,
  writeAll,
} from "../_test_util.ts";
import { ConnectionResetError, type TcpConn, TcpState } from "../mod.ts";
import { TcpFlags } from "../wire/tcp.ts";

const { SYN, ACK, RST, FIN } = TcpFlags;
const enc = new TextEncoder(), dec = new TextDecoder();

Deno.test("half-close: the server keeps sending after the client's FIN", async () => {
  const p = makePair();
  const [c, s] = await connectPair(p);
  const request = await p.run(Promise.all([readAll(s), writeAll(c, enc.encode("GET /"))]));
  assert.equal(dec.decode(request[0]), "GET /");
  await p.clock.advance(50); // the ACK of the FIN travels back
  assert.equal(p.a.sockets()[0].state, TcpState.FIN_WAIT_2, "client's FIN acknowledged");
  assert.equal(p.b.sockets()[0].state, TcpState.CLOSE_WAIT);
  const body = new Uint8Array(1 << 20).map((_, i) => i * 7);
  const [got] = await p.run(Promise.all([readAll(c), writeAll(s, body)]));
  assert.deepEqual(got, body);
  await p.clock.advance(50);
  assert.equal(p.a.sockets()[0].state, TcpState.TIME_WAIT, "the active closer waits");
  assert.equal(p.b.socketCount, 0, "the passive closer is gone after LAST-ACK");
  p.close();
});

Deno.test("TIME-WAIT lasts 2 MSL, then the socket is gone", async () => {
  const p = makePair({ tcp: { mslMs: 30_000 } });
  const [c, s] = await connectPair(p);
  await p.run(Promise.all([c.close(), s.close()]));
  const [tw] = p.a.sockets();
  assert.equal(tw.state, TcpState.TIME_WAIT);
  const entered = p.clock.now();
  await p.clock.advance(59_000);
  assert.equal(p.a.socketCount, 1, "still in TIME-WAIT before 2 MSL");
  await p.clock.advance(1_100);
  assert.equal(p.a.socketCount, 0);
  assert.ok(p.clock.now() - entered >= 60_000);
  p.close();
});

Deno.test("simultaneous close: both ends pass CLOSING and reach TIME-WAIT", async () => {
  const p = makePair({ link: { delayMs: 20 } });
  const [c, s] = await connectPair(p);
  // Both FINs leave before either arrives.
  c.closeWrite();
  s.closeWrite();
  await p.clock.advance(1);
  assert.equal(p.a.sockets()[0].state, TcpState.FIN_WAIT_1);
  assert.equal(p.b.sockets()[0].state, TcpState.FIN_WAIT_1);
  await p.clock.advance(20);
  assert.equal(p.a.sockets()[0].state, TcpState.CLOSING);
  assert.equal(p.b.sockets()[0].state, TcpState.CLOSING);
  await p.clock.advance(25);
  assert.equal(p.a.sockets()[0].state, TcpState.TIME_WAIT);
  assert.equal(p.b.sockets()[0].state, TcpState.TIME_WAIT);
  const [ra, rb] = await p.run(Promise.all([readAll(c), readAll(s)]));
  assert.equal(ra.length + rb.length, 0);
  p.close();
});

Deno.test("close() resolves once our FIN is acknowledged", async () => {
  const p = makePair({ link: { delayMs: 50 } });
  const [c, s] = await connectPair(p);
  const t0 = p.clock.now();
  await p.run(c.close());
  assert.ok(p.clock.now() - t0 >= 100, "waited a round trip for the ACK");
  assert.equal(p.a.sockets()[0].state, TcpState.FIN_WAIT_2);
  s.abort();
  p.close();
});

Deno.test("abort() resets the connection and the peer's reads fail with ConnectionResetError", async () => {
  const p = makePair();
  const [c, s] = await connectPair(p);
  const reading = readAll(s).then(() => null, (e) => e);
  c.abort();
  const err = await p.run(reading);
  assert.ok(err instanceof ConnectionResetError, String(err));
  assert.match(err.message, /connection reset by 10\.0\.0\.1:\d+/);
  assert.equal(p.a.socketCount, 0);
  assert.equal(p.b.socketCount, 0);
  const w = c.writable.getWriter();
  await assert.rejects(w.write(new Uint8Array(1)));
  p.close();
});

/** Opens a connection to the scripted stack's port 80 (peer ISN 5000, no options). */
async function openScripted(t: Scripted): Promise<{ conn: TcpConn; iss: number }> {
  const l = t.stack.listen(80);
  t.deliver({ sport: 4000, dport: 80, seq: 5000, flags: SYN, window: 65535 });
  const [synAck] = t.take();
  t.deliver({ sport: 4000, dport: 80, seq: 5001, ack: synAck.seq + 1, flags: ACK });
  const conn = await t.clock.run(l.accept());
  l.close();
  t.take();
  return { conn, iss: synAck.seq };
}

Deno.test("RFC 5961 3: a RST outside the window is ignored, in the window but inexact gets a challenge ACK", async () => {
  const t = scripted();
  const { conn, iss } = await openScripted(t);
  const sock = t.stack.sockets()[0];
  t.deliver({ sport: 4000, dport: 80, seq: 5001 + 5_000_000, flags: RST });
  assert.equal(t.take().length, 0, "out of window: silently dropped");
  t.deliver({ sport: 4000, dport: 80, seq: 5001 + 1000, flags: RST });
  await t.clock.advance(0);
  const [challenge] = t.take();
  assert.equal(challenge.flagNames, "ACK", "challenge ACK");
  assert.equal(challenge.seq, (iss + 1) >>> 0);
  assert.equal(challenge.ack, 5001);
  assert.equal(sock.state, TcpState.ESTABLISHED);
  assert.equal(t.stack.stats.tcp.challengeAcks, 1);
  const reading = readAll(conn).then(() => null, (e) => e);
  t.deliver({ sport: 4000, dport: 80, seq: 5001, flags: RST });
  assert.ok((await t.clock.run(reading)) instanceof ConnectionResetError);
  assert.equal(t.stack.socketCount, 0);
  t.stack.close();
});

Deno.test("RFC 5961 4: a SYN on an established connection gets a challenge ACK, not a reset", async () => {
  const t = scripted();
  const { iss } = await openScripted(t);
  t.deliver({ sport: 4000, dport: 80, seq: 9999, flags: SYN });
  await t.clock.advance(0);
  const [challenge] = t.take();
  assert.equal(challenge.flagNames, "ACK");
  assert.equal(challenge.seq, (iss + 1) >>> 0);
  assert.equal(challenge.ack, 5001);
  assert.equal(t.stack.sockets()[0].state, TcpState.ESTABLISHED);
  t.stack.close();
});

Deno.test("RFC 5961 5: data whose ACK acknowledges unsent octets is dropped with a challenge ACK", async () => {
  const t = scripted();
  const { conn, iss } = await openScripted(t);
  t.deliver({
    sport: 4000,
    dport: 80,
    seq: 5001,
    ack: iss + 1 + 100_000,
    flags: ACK,
    payload: enc.encode("forged"),
  });
  await t.clock.advance(0);
  const [challenge] = t.take();
  assert.equal(challenge.flagNames, "ACK");
  assert.equal(challenge.ack, 5001, "the forged data was not accepted");
  // The real peer's data still gets through.
  t.deliver({
    sport: 4000,
    dport: 80,
    seq: 5001,
    ack: iss + 1,
    flags: ACK | FIN,
    payload: enc.encode("real"),
  });
  assert.equal(dec.decode(await t.clock.run(readAll(conn))), "real");
  t.stack.close();
});

Deno.test("challenge ACKs are rate limited across the stack (RFC 5961 7)", async () => {
  const t = scripted({ challengeAckLimit: 5 });
  await openScripted(t);
  for (let i = 0; i < 20; i++) t.deliver({ sport: 4000, dport: 80, seq: 9999 + i, flags: SYN });
  await t.clock.advance(0);
  assert.equal(t.stack.stats.tcp.challengeAcks, 5);
  t.stack.close();
});

Deno.test("a FIN retransmitted into TIME-WAIT is acknowledged again", async () => {
  const t = scripted({ mslMs: 1000 });
  const { conn, iss } = await openScripted(t);
  await conn.closeWrite();
  await t.clock.advance(0);
  const [fin] = t.take();
  assert.equal(fin.flagNames, "FIN,ACK");
  // Peer ACKs our FIN and sends its own: TIME-WAIT.
  t.deliver({ sport: 4000, dport: 80, seq: 5001, ack: iss + 2, flags: ACK | FIN });
  await t.clock.advance(0);
  assert.equal(t.stack.sockets()[0].state, TcpState.TIME_WAIT);
  t.take();
  // Our ACK was "lost": the peer retransmits its FIN.
  t.deliver({ sport: 4000, dport: 80, seq: 5001, ack: iss + 2, flags: ACK | FIN });
  await t.clock.advance(0);
  const [again] = t.take();
  assert.equal(again.flagNames, "ACK");
  assert.equal(again.ack, 5002);
  await t.clock.advance(2_100);
  assert.equal(t.stack.socketCount, 0);
  t.stack.close();
});

/**
 * Leaves the scripted stack in TIME-WAIT on 10.0.0.1:80 ↔ 10.0.0.2:4000 with timestamps on:
 * it accepts a connection (peer ISN 5000, TSval 100..102), closes first, gets the FIN.
 */
async function intoTimeWait(t: Scripted) {
  const l = t.stack.listen(80);
  t.deliver({ sport: 4000, dport: 80, seq: 5000, flags: SYN, tsVal: 100, sackPermitted: true });
  const [synAck] = t.take();
  t.deliver({
    sport: 4000,
    dport: 80,
    seq: 5001,
    ack: synAck.seq + 1,
    flags: ACK,
    tsVal: 101,
    tsEcr: synAck.tsVal,
  });
  const first = await t.clock.run(l.accept());
  await first.closeWrite();
  await t.clock.advance(0);
  t.take();
  t.deliver({
    sport: 4000,
    dport: 80,
    seq: 5001,
    ack: synAck.seq + 2,
    flags: ACK | FIN,
    tsVal: 102,
    tsEcr: 1,
  });
  await t.clock.advance(0);
  assert.equal(t.stack.sockets()[0].state, TcpState.TIME_WAIT);
  t.take();
  return l;
}

Deno.test("a new connection reuses a 4-tuple whose previous connection sits in TIME-WAIT", async () => {
  const t = scripted();
  const l = await intoTimeWait(t);
  // A new SYN on the same tuple with a newer timestamp (RFC 6191) opens a new connection.
  t.deliver({ sport: 4000, dport: 80, seq: 900_000, flags: SYN, tsVal: 5000, sackPermitted: true });
  const [synAck2] = t.take();
  assert.equal(synAck2.flagNames, "SYN,ACK");
  assert.equal(synAck2.ack, 900_001);
  t.deliver({
    sport: 4000,
    dport: 80,
    seq: 900_001,
    ack: synAck2.seq + 1,
    flags: ACK,
    tsVal: 5001,
    tsEcr: synAck2.tsVal,
  });
  const second = await t.clock.run(l.accept());
  assert.equal(second.remoteAddress.port, 4000);
  assert.equal(t.stack.sockets()[0].state, TcpState.ESTABLISHED);
  assert.equal(t.stack.socketCount, 1);
  t.stack.close();
});

Deno.test("an old SYN into TIME-WAIT does not reopen the connection", async () => {
  const t = scripted();
  const l = await intoTimeWait(t);
  // Same tuple, older timestamp and an old sequence number: a duplicate from the past.
  t.deliver({ sport: 4000, dport: 80, seq: 4000, flags: SYN, tsVal: 50 });
  await t.clock.advance(0);
  const replies = t.take();
  assert.ok(replies.every((r) => !(r.flags & SYN)), "no SYN-ACK for an old SYN");
  assert.equal(t.stack.socketCount, 1);
  assert.equal(t.stack.sockets()[0].state, TcpState.TIME_WAIT);
  l.close();
  t.stack.close();
});
