/**
 * Bursty loss, as an overflowing UDP receive queue makes it: every packet offered while
 * a "bad" period lasts (1-21 ms, starting at random) is dropped, so whole flights, their
 * retransmissions and runs of ACKs vanish together. Bulk data must arrive byte-exact with
 * tail losses found by probes (RFC 8985 section 7) rather than by backed-off RTOs
 * (RFC 6298 5.5), which is what stalled the tunnel over the UDP paths for tens of seconds.
 */
import assert from "node:assert/strict";
import type { Clock } from "../../clock/mod.ts";
import { Rng } from "../phy/mod.ts";
import type { PacketSink } from "../phy/link.ts";
import { bothWays, connectPair, makePair, MiB, patternHash } from "../_test_util.ts";

/** Drops every packet offered during a bad period; `chance` per packet to start one. */
function burstDrop(clock: () => Clock, seed: number, chance: number) {
  const rng = new Rng(seed);
  let badUntil = -1;
  const stats = { dropped: 0, bursts: 0 };
  const wrap = (out: PacketSink): PacketSink => (p) => {
    const now = clock().now();
    if (now >= badUntil && rng.chance(chance)) {
      badUntil = now + 1 + rng.next() * 20;
      stats.bursts++;
    }
    if (now < badUntil) stats.dropped++;
    else out(p);
  };
  return { wrap, stats };
}

for (const seed of [1, 2, 3]) {
  Deno.test(`8 MiB each way survive bursty loss byte-exact without long RTO stalls (seed ${seed})`, async () => {
    let clock: Clock | null = null;
    const ab = burstDrop(() => clock!, seed, 0.003);
    const ba = burstDrop(() => clock!, seed + 100, 0.003);
    const p = makePair({ link: { seed, delayMs: 5 }, wrapA: ab.wrap, wrapB: ba.wrap });
    clock = p.clock;
    const [c, s] = await connectPair(p);
    const total = 8 * MiB;
    const t0 = p.clock.now();
    const r = await p.run(bothWays(c, s, total), { maxVirtualMs: 3_600_000, maxRealMs: 120_000 });
    const virtualMs = p.clock.now() - t0;
    assert.deepEqual(
      r.atServer,
      { bytes: total, sha256: patternHash(1, total) },
      "client → server",
    );
    assert.deepEqual(
      r.atClient,
      { bytes: total, sha256: patternHash(2, total) },
      "server → client",
    );
    await p.run(Promise.all([c.close(), s.close()]));
    p.close();
    const ta = p.a.stats.tcp, tb = p.b.stats.tcp;
    const info = JSON.stringify({ virtualMs, ab: ab.stats, ba: ba.stats, a: ta, b: tb });
    if (Deno.env.get("SHOW")) console.log(info);
    assert.ok(ab.stats.bursts > 20 && ba.stats.bursts > 20, `bursts happened both ways: ${info}`);
    assert.ok(ta.tailLossProbes + tb.tailLossProbes > 0, `tail losses were probed: ${info}`);
    assert.ok(ta.tlpRecoveries + tb.tlpRecoveries > 0, `probes started recoveries: ${info}`);
    // RTOs stay rare and never back off far: no stall beyond 4 doublings of the 200 ms floor.
    assert.ok(ta.maxRtoMs <= 3200 && tb.maxRtoMs <= 3200, `RTO backed off too far: ${info}`);
    const bursts = ab.stats.bursts + ba.stats.bursts;
    assert.ok(
      ta.timeouts + tb.timeouts < bursts / 4,
      `too many RTOs for ${bursts} bursts: ${info}`,
    );
  });
}
