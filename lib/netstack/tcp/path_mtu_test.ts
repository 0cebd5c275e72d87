/**
 * Segment sizes with a stack MTU larger than the path (NetStackOptions.pathMtu, used by the
 * tunnel for large packets on the WebSocket relay): the announced MSS follows `mtu`, every
 * segment sent follows the peer's MSS and the path at the moment it is built, and a path
 * change in the middle of a transfer (also under loss) loses no byte.
 */
import assert from "node:assert/strict";
import {
  bothWays,
  connectPair,
  makePair,
  MiB,
  type PairOptions,
  parse,
  patternHash,
} from "../_test_util.ts";
import type { PacketSink } from "../phy/mod.ts";

/** Records the size of every IP packet b sends. */
function largest() {
  const seenB: number[] = [];
  const wrapB = (next: PacketSink): PacketSink => (p) => {
    seenB.push(p.length);
    next(p);
  };
  return { wrapB, seenB };
}

async function transfer(o: PairOptions, total: number, onSentA?: (pkt: Uint8Array) => void) {
  const { wrapB, seenB } = largest();
  const p = makePair({ ...o, wrapB });
  const seenA: number[] = [];
  const out = p.a.egress.output;
  p.a.egress.output = (pkt) => {
    seenA.push(pkt.length);
    out(pkt);
    onSentA?.(pkt);
  };
  const [c, s] = await connectPair(p);
  const r = await p.run(bothWays(c, s, total), { maxVirtualMs: 3_600_000, maxRealMs: 120_000 });
  assert.deepEqual(r.atServer, { bytes: total, sha256: patternHash(1, total) }, "a → b");
  assert.deepEqual(r.atClient, { bytes: total, sha256: patternHash(2, total) }, "b → a");
  await p.run(Promise.all([c.close(), s.close()]));
  p.close();
  return { p, maxA: Math.max(...seenA), maxB: Math.max(...seenB) };
}

Deno.test("a large stack MTU on both ends: segments use it when the path carries it", async () => {
  const { maxA, maxB } = await transfer({ tcp: { mtu: 16384 } }, 2 * MiB);
  assert.equal(maxA, 16384);
  assert.equal(maxB, 16384);
});

Deno.test("the peer's MSS bounds our segments: large MTU here, 1100 there", async () => {
  const { maxA, maxB } = await transfer({ a: { mtu: 16384 }, b: { mtu: 1100 } }, 1 * MiB);
  assert.equal(maxA, 1100, "a sends no more than b's MSS 1060 + 40");
  assert.equal(maxB, 1100, "b sends within its own MTU although a announced 16344");
});

Deno.test("pathMtu below the stack MTU bounds our segments but not the MSS we announce", async () => {
  const { maxA, maxB } = await transfer(
    { tcp: { mtu: 16384 }, a: { mtu: 16384, pathMtu: () => 1100 } },
    1 * MiB,
  );
  assert.equal(maxA, 1100, "a follows its path");
  assert.equal(maxB, 16384, "b still sends what a announced");
});

Deno.test("the path shrinking in the middle of a lossy transfer loses no byte", async () => {
  let path = 16384;
  let sentBefore = 0;
  let largestAfter = 0;
  const { maxA } = await transfer(
    {
      link: { seed: 23, delayMs: 5, lossRate: 0.02 },
      tcp: { mtu: 16384 },
      a: { mtu: 16384, pathMtu: () => path },
    },
    4 * MiB,
    (pkt) => {
      if (path === 1100) largestAfter = Math.max(largestAfter, pkt.length);
      else if (++sentBefore === 100) path = 1100; // segments built from now on follow it
    },
  );
  assert.equal(maxA, 16384, "large segments went out before the change");
  assert.equal(largestAfter, 1100, "retransmissions and new data after it are small");
});

Deno.test("SYN options: the MSS announced is mtu - 40 whatever the path", () => {
  const p = makePair({ a: { mtu: 16384, pathMtu: () => 1100 } });
  const sent: number[] = [];
  p.a.egress.output = (pkt) => sent.push(parse(pkt).mss);
  p.a.dial("10.0.0.2", 80).catch(() => {});
  assert.deepEqual(sent, [16344]);
  p.close();
});
