/**
 * The interface layer: IPv4 validation (RFC 791) with every drop counted and nothing
 * thrown, demultiplexing, listeners and their backlog, many concurrent connections.
 */
import assert from "node:assert/strict";
import {
  A_ADDR,
  B_ADDR,
  connectPair,
  craft,
  makePair,
  MiB,
  readAll,
  scripted,
  writeAll,
} from "./_test_util.ts";
import { AddressInUseError, InvalidAddressError, NetStack, parseIpv4, TcpState } from "./mod.ts";
import { Rng } from "./phy/mod.ts";
import { checksum } from "./wire/checksum.ts";
import { finishChecksum, TcpFlags } from "./wire/tcp.ts";

const { SYN, ACK } = TcpFlags;

function synTo(port: number, sport = 4000): Uint8Array {
  return craft({ src: B_ADDR, dst: A_ADDR, sport, dport: port, seq: 1, flags: SYN });
}

Deno.test("bad IPv4 packets are dropped and counted by reason, never thrown", () => {
  const t = scripted();
  t.stack.listen(80);
  const good = synTo(80);
  const cases: [string, (p: Uint8Array) => Uint8Array][] = [
    ["truncated", (p) => p.slice(0, 10)],
    ["version", (p) => (p[0] = 0x65, p)],
    ["badChecksum", (p) => (p[10] ^= 0xff, p)],
    ["truncated", (p) => (p[2] = 0xff, p)], // total length past the buffer
  ];
  for (const [reason, mutate] of cases) {
    const before = t.stack.stats.drops[reason as "truncated"];
    t.stack.input(mutate(good.slice()));
    assert.equal(t.stack.stats.drops[reason as "truncated"], before + 1, reason);
  }
  assert.equal(t.take().length, 0, "nothing answered");
  t.stack.close();
});

/** Rewrites the IPv4 header checksum of `p` after a change. */
function fixIpChecksum(p: Uint8Array): Uint8Array {
  p[10] = p[11] = 0;
  const c = checksum(p, 0, (p[0] & 15) * 4);
  p[10] = c >> 8;
  p[11] = c & 255;
  return p;
}

Deno.test("fragments, IP options, other destinations, other protocols and bad TCP are dropped", () => {
  const t = scripted();
  t.stack.listen(80);
  const good = synTo(80);
  const fragment = good.slice();
  fragment[6] = 0x20; // more fragments
  t.stack.input(fixIpChecksum(fragment));
  const offset = good.slice();
  offset[7] = 1; // fragment offset 8
  t.stack.input(fixIpChecksum(offset));
  assert.equal(t.stack.stats.drops.fragment, 2);

  // An IPv4 header with a record-route option (unsupported).
  const withOpt = new Uint8Array(good.length + 4);
  withOpt.set(good.subarray(0, 20));
  withOpt.set([7, 4, 4, 0], 20);
  withOpt.set(good.subarray(20), 24);
  withOpt[0] = 0x46;
  withOpt[2] = withOpt.length >> 8;
  withOpt[3] = withOpt.length & 255;
  t.stack.input(fixIpChecksum(withOpt));
  assert.equal(t.stack.stats.drops.options, 1);

  t.stack.input(craft({ src: B_ADDR, dst: "10.9.9.9", sport: 1, dport: 80, seq: 1, flags: SYN }));
  assert.equal(t.stack.stats.drops.otherAddress, 1);

  const udp = good.slice();
  udp[9] = 17;
  t.stack.input(fixIpChecksum(udp));
  assert.equal(t.stack.stats.drops.protocol, 1);

  const badTcpSum = good.slice();
  badTcpSum[20 + 16] ^= 1;
  t.stack.input(badTcpSum);
  assert.equal(t.stack.stats.drops.tcpChecksum, 1);

  const shortTcp = good.slice(0, 30);
  shortTcp[2] = 0;
  shortTcp[3] = 30;
  t.stack.input(fixIpChecksum(shortTcp));
  assert.equal(t.stack.stats.drops.tcpMalformed, 1);

  assert.equal(t.take().length, 0, "nothing answered");
  assert.equal(t.stack.socketCount, 0);
  t.stack.close();
});

Deno.test("a malformed TCP option list drops the segment", () => {
  const t = scripted();
  t.stack.listen(80);
  const p = craft({
    src: B_ADDR,
    dst: A_ADDR,
    sport: 4000,
    dport: 80,
    seq: 1,
    flags: SYN,
    mss: 1000,
  });
  p[20 + 21] = 0; // MSS option length 0
  // Recompute the TCP checksum over the pseudo-header so only the option is wrong.
  p[20 + 16] = p[20 + 17] = 0;
  finishChecksum(p, 20, p.length - 20, parseIpv4(B_ADDR), parseIpv4(A_ADDR));
  t.stack.input(p);
  assert.equal(t.stack.stats.drops.tcpOptions, 1);
  assert.equal(t.take().length, 0);
  t.stack.close();
});

Deno.test("random and mutated packets never throw out of input()", () => {
  const t = scripted();
  t.stack.listen(80);
  const rng = new Rng(42);
  const templates = [
    synTo(80),
    craft({
      src: B_ADDR,
      dst: A_ADDR,
      sport: 4000,
      dport: 80,
      seq: 1,
      ack: 1,
      flags: ACK,
      payload: new Uint8Array(100),
    }),
    craft({
      src: B_ADDR,
      dst: A_ADDR,
      sport: 4000,
      dport: 80,
      seq: 1,
      flags: SYN,
      mss: 1,
      windowScale: 99,
      sackPermitted: true,
      tsVal: 1,
      sack: [[1, 2]],
    }),
  ];
  for (let i = 0; i < 20_000; i++) {
    let p: Uint8Array;
    if (i % 3 === 0) {
      p = new Uint8Array(rng.below(120)).map(() => rng.below(256));
      if (p.length > 0) p[0] = 0x45;
    } else {
      p = templates[i % templates.length].slice();
      for (let k = 1 + rng.below(4); k > 0; k--) p[rng.below(p.length)] = rng.below(256);
      if (rng.chance(0.5)) fixIpChecksum(p);
      if (rng.chance(0.2)) p = p.slice(0, rng.below(p.length));
    }
    t.stack.input(p);
  }
  const s = t.stack.stats;
  assert.equal(s.packetsReceived, 20_000);
  const dropped = Object.values(s.drops).reduce((a, b) => a + b, 0);
  assert.ok(dropped > 15_000, `most were dropped (${dropped})`);
  t.stack.close();
});

Deno.test("listen() refuses a port that already has a listener and bad ports", () => {
  const t = scripted();
  const l = t.stack.listen(80);
  assert.throws(() => t.stack.listen(80), AddressInUseError);
  assert.throws(() => t.stack.listen(0), RangeError);
  assert.throws(() => t.stack.listen(70000), RangeError);
  l.close();
  t.stack.listen(80).close(); // free again after close
  assert.throws(() => new NetStack({ address: "10.0.0", output: () => {} }), InvalidAddressError);
  t.stack.close();
});

Deno.test("dial() rejects a bad address or port without sending anything", async () => {
  const t = scripted();
  await assert.rejects(t.stack.dial("not-an-ip", 80), InvalidAddressError);
  await assert.rejects(t.stack.dial(B_ADDR, 0), RangeError);
  assert.equal(t.sent.length, 0);
  t.stack.close();
});

Deno.test("the accept backlog bounds pending connections; later SYNs wait and get in once there is room", async () => {
  const p = makePair();
  const l = p.b.listen(80, 4);
  const dials = Array.from({ length: 8 }, () => p.a.dial(B_ADDR, 80));
  await p.clock.advance(100);
  assert.equal(p.b.socketCount, 4, "only 4 connections were taken");
  assert.ok(p.b.stats.drops.backlogFull >= 4, "the others' SYNs were dropped");
  // Accepting makes room; the dropped SYNs are retransmitted and get in.
  const accepted = [];
  for (let i = 0; i < 8; i++) accepted.push(await p.run(l.accept()));
  const clients = await p.run(Promise.all(dials));
  assert.equal(accepted.length, 8);
  assert.equal(new Set(clients.map((c) => c.localAddress.port)).size, 8);
  for (const c of [...clients, ...accepted]) c.abort();
  l.close();
  p.close();
});

Deno.test("200 concurrent connections each carry their own bytes", async () => {
  const p = makePair({ link: { seed: 3, delayMs: 2, lossRate: 0.01 } });
  const l = p.b.listen(80, 256);
  const server = (async () => {
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      const conn = await l.accept();
      jobs.push((async () => {
        const data = await readAll(conn); // echo everything back reversed
        await writeAll(conn, data.reverse());
      })());
    }
    await Promise.all(jobs);
  })();
  const client = Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const conn = await p.a.dial(B_ADDR, 80);
    const data = new Uint8Array(20_000 + i * 37).map((_, j) => (j * 31 + i) & 255);
    const [back] = await Promise.all([readAll(conn), writeAll(conn, data)]);
    assert.deepEqual(back, data.slice().reverse(), `connection ${i}`);
    return conn.localAddress.port;
  }));
  const [ports] = await p.run(Promise.all([client, server]), { maxVirtualMs: 600_000 });
  assert.equal(new Set(ports).size, 200, "200 distinct ephemeral ports");
  assert.ok(
    p.a.sockets().every((s) => s.state === TcpState.TIME_WAIT || s.state === TcpState.FIN_WAIT_2),
  );
  l.close();
  p.close();
});

Deno.test("a closed listener resets connections not yet accepted and rejects accept()", async () => {
  const p = makePair();
  const l = p.b.listen(80);
  const c = await p.run(p.a.dial(B_ADDR, 80));
  await p.clock.advance(10);
  l.close();
  await assert.rejects(l.accept());
  const err = await p.run(readAll(c).then(() => null, (e) => e));
  assert.ok(err instanceof Error && err.name === "ConnectionResetError", String(err));
  p.close();
});

Deno.test("closing the stack aborts every connection", async () => {
  const p = makePair();
  const [c, s] = await connectPair(p);
  const reading = readAll(c).then(() => null, (e) => e);
  p.a.close();
  const err = await reading;
  assert.equal(err?.name, "ConnectionAbortedError");
  assert.equal(p.a.socketCount, 0);
  await assert.rejects(p.a.dial(B_ADDR, 80));
  s.abort();
  p.close();
});

Deno.test("counters add up for a simple exchange", async () => {
  const p = makePair();
  const [c, s] = await connectPair(p);
  await p.run(Promise.all([readAll(s), writeAll(c, new Uint8Array(MiB))]));
  assert.equal(p.a.stats.packetsSent, p.link.statsAtoB.offered);
  assert.ok(p.a.stats.tcp.segmentsSent >= MiB / 1048);
  c.abort();
  s.abort();
  p.close();
});

Deno.test("verifyChecksums false (behind WireGuard's AEAD): a segment with a wrong TCP checksum is taken", () => {
  for (const verify of [true, false]) {
    const t = scripted({ verifyChecksums: verify });
    t.stack.listen(80);
    const syn = craft({ src: B_ADDR, dst: A_ADDR, sport: 4000, dport: 80, seq: 100, flags: SYN });
    syn[20 + 16] ^= 1; // the TCP checksum field
    t.stack.input(syn);
    const answered = t.take().map((s) => s.flagNames);
    if (verify) {
      assert.deepEqual(answered, [], "dropped when verifying");
      assert.equal(t.stack.stats.drops.tcpChecksum, 1);
    } else {
      assert.deepEqual(answered, ["SYN,ACK"], "accepted without verifying");
      assert.equal(t.stack.stats.drops.tcpChecksum, 0);
    }
    t.stack.close();
  }
});
