/**
 * Bulk data over the link simulator, byte-exact by SHA-256 both ways at once: a clean
 * link, 5 % loss with reordering and duplication (SACK recovery, RFC 6675; CUBIC,
 * RFC 9438), the same without SACK (NewReno, RFC 6582), corrupted packets (checksums),
 * and a slow, queue-limited link.
 */
import assert from "node:assert/strict";
import {
  bothWays,
  connectPair,
  makePair,
  MiB,
  type PairOptions,
  patternHash,
  stripSackBlocks,
} from "../_test_util.ts";

async function transfer(total: number, o: PairOptions) {
  const p = makePair(o);
  const [c, s] = await connectPair(p);
  const r = await p.run(bothWays(c, s, total), { maxVirtualMs: 4 * 3_600_000, maxRealMs: 240_000 });
  assert.deepEqual(r.atServer, { bytes: total, sha256: patternHash(1, total) }, "client → server");
  assert.deepEqual(r.atClient, { bytes: total, sha256: patternHash(2, total) }, "server → client");
  await p.run(Promise.all([c.close(), s.close()]));
  p.close();
  return p;
}

Deno.test("32 MiB each way arrive byte-exact over a clean link", async () => {
  const p = await transfer(32 * MiB, { link: { delayMs: 5 } });
  assert.equal(p.a.stats.tcp.retransmits + p.b.stats.tcp.retransmits, 0, "nothing was lost");
});

Deno.test("32 MiB each way arrive byte-exact at 5 % loss with reordering and duplication", async () => {
  const p = await transfer(32 * MiB, {
    link: { seed: 5, delayMs: 5, lossRate: 0.05, reorderRate: 0.02, duplicateRate: 0.01 },
  });
  const lost = p.link.statsAtoB.lost + p.link.statsBtoA.lost;
  assert.ok(lost > 1000, `the link really dropped packets (${lost})`);
  assert.ok(p.link.statsAtoB.reordered > 0 && p.link.statsAtoB.duplicated > 0);
  const tcp = p.a.stats.tcp;
  assert.ok(tcp.fastRetransmits > 0, "losses were recovered by fast retransmit");
  assert.ok(tcp.fastRetransmits > tcp.timeouts, "mostly without waiting for the RTO");
  assert.ok(p.b.stats.tcp.outOfOrder > 0);
});

Deno.test("without SACK, NewReno recovers 5 % loss byte-exact (RFC 6582)", async () => {
  const p = await transfer(4 * MiB, {
    link: { seed: 7, delayMs: 5, lossRate: 0.05, reorderRate: 0.02, duplicateRate: 0.01 },
    tcp: { sack: false, congestionControl: "newreno" },
  });
  assert.equal(p.a.sockets().length, 0);
  assert.ok(p.a.stats.tcp.fastRetransmits > 0);
});

Deno.test("without timestamps, RTT samples follow Karn's rule and data stays intact", async () => {
  await transfer(4 * MiB, {
    link: { seed: 9, delayMs: 20, lossRate: 0.03, reorderRate: 0.01 },
    tcp: { timestamps: false },
  });
});

Deno.test("corrupted packets fail the checksum, are dropped and resent", async () => {
  const p = await transfer(2 * MiB, { link: { seed: 11, delayMs: 2, corruptRate: 0.02 } });
  const drops = p.a.stats.drops, dropsB = p.b.stats.drops;
  const bad = drops.tcpChecksum + drops.badChecksum + dropsB.tcpChecksum + dropsB.badChecksum;
  assert.ok(bad > 0, "corruption was caught by a checksum");
});

Deno.test("a slow link with a small queue is shared without losing a byte", async () => {
  const p = await transfer(2 * MiB, {
    link: { seed: 13, delayMs: 10, rateBytesPerSecond: 2 * MiB, queueLimitBytes: 64 * 1024 },
  });
  assert.ok(p.link.statsAtoB.queueDrops > 0, "slow start overflowed the queue");
});

Deno.test("SACK negotiated but ACKs without SACK blocks (gVisor after its FIN): losses recover without an RTO each", async () => {
  const p = await transfer(4 * MiB, {
    link: { seed: 17, delayMs: 5, lossRate: 0.03 },
    wrapB: stripSackBlocks,
  });
  const tcp = p.a.stats.tcp;
  assert.equal(p.a.sockets().length, 0);
  assert.ok(tcp.retransmits > 50, `losses happened (${tcp.retransmits} retransmissions)`);
  // Each loss used to wait for a timeout; recovery must find most of them from duplicate ACKs.
  assert.ok(
    tcp.timeouts * 4 < tcp.retransmits,
    `${tcp.timeouts} timeouts for ${tcp.retransmits} retransmissions`,
  );
});
