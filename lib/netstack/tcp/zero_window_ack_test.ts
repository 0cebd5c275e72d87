/**
 * RFC 9293 3.10.7.4: with a zero receive window no segment is acceptable, "but special
 * allowance should be made to accept valid ACKs". A peer holding data beyond our closed
 * window sends every ACK with SEG.SEQ = its SND.NXT, past our right edge; if we ignored
 * their ACK fields, an echo deadlocks (our send buffer never drains, the application never
 * reads, the window never opens), as the 16 MiB NAT-lab echo on the UDP relay did.
 */
import assert from "node:assert/strict";
import { scripted } from "../_test_util.ts";
import { TcpFlags } from "../wire/tcp.ts";

const { SYN, ACK } = TcpFlags;

Deno.test("an ACK beyond our zero receive window still acknowledges our data (RFC 9293 3.10.7.4)", async () => {
  const t = scripted({ receiveBufferSize: 4096 });
  const l = t.stack.listen(80);
  t.deliver({ sport: 4000, dport: 80, seq: 5000, flags: SYN, window: 65535 });
  const [synAck] = t.take();
  const iss = synAck.seq;
  t.deliver({ sport: 4000, dport: 80, seq: 5001, ack: iss + 1, flags: ACK, window: 65535 });
  const conn = await t.clock.run(l.accept());
  l.close();
  t.take();
  const sock = t.stack.sockets()[0];
  // We send 1000 octets; the application never reads what the peer sends.
  const w = conn.writable.getWriter();
  await t.clock.run(w.write(new Uint8Array(1000).fill(1)));
  await t.clock.advance(0);
  assert.equal(t.take().reduce((n, s) => n + s.payloadLength, 0), 1000, "our data left");
  // The peer fills our 4096-octet window.
  for (let k = 0; k < 4; k++) {
    t.deliver({
      sport: 4000,
      dport: 80,
      seq: 5001 + 1024 * k,
      ack: iss + 1,
      flags: ACK,
      window: 65535,
      payload: new Uint8Array(1024),
    });
  }
  await t.clock.advance(50);
  const acks = t.take();
  assert.equal(acks.at(-1)!.window, 0, "our window closed");
  assert.equal(sock.sndUna, 1, "nothing of ours acknowledged yet");
  // The peer has 500 more octets out beyond our window: its ACK's SEG.SEQ lies past our
  // right edge. The segment is not acceptable, but its ACK is.
  t.deliver({
    sport: 4000,
    dport: 80,
    seq: 5001 + 4096 + 500,
    ack: iss + 1 + 1000,
    flags: ACK,
    window: 65535,
  });
  await t.clock.advance(0);
  assert.equal(sock.sndUna, 1001, "the ACK field was taken");
  assert.equal(sock.sendBuf.length, 0, "our acknowledged data was freed");
  const [reply] = t.take();
  assert.equal(reply.ack, 5001 + 4096, "answered with our RCV.NXT");
  assert.equal(reply.window, 0);
  // A forged ACK beyond what we sent is still refused (RFC 5961 5).
  t.deliver({ sport: 4000, dport: 80, seq: 5001 + 4096 + 500, ack: iss + 1 + 9999, flags: ACK });
  await t.clock.advance(0);
  assert.equal(sock.sndUna, 1001);
  conn.abort();
  t.stack.close();
});
