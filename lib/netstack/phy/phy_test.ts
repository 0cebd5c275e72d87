/**
 * The link simulator: seeded impairments replay exactly, rates and delays are what they
 * claim, and the pcap it writes is read by a real tcpdump.
 */
import assert from "node:assert/strict";
import { connectPair, makePair, readAll, writeAll } from "../_test_util.ts";
import { delayLine, faultInjector, LINKTYPE_RAW, newLinkStats, PcapWriter, Rng } from "./mod.ts";
import { VirtualClock } from "../../clock/mod.ts";

Deno.test("the same seed gives the same losses; another seed does not", () => {
  const run = (seed: number) => {
    const kept: number[] = [];
    const rng = new Rng(seed);
    const sink = faultInjector((p) => kept.push(p[0] | (p[1] << 8)), {
      rng,
      lossRate: 0.3,
      duplicateRate: 0.1,
    });
    for (let i = 0; i < 1000; i++) sink(new Uint8Array([i & 255, i >> 8]));
    return kept;
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
  const kept = run(7);
  assert.ok(
    kept.length > 600 && kept.length < 850,
    `about 70 % kept plus 10 % duplicates (${kept.length})`,
  );
});

Deno.test("a delay line delivers after the delay, serialised at the rate, in order", async () => {
  const clock = new VirtualClock();
  const arrivals: [number, number][] = [];
  const stats = newLinkStats();
  const sink = delayLine((p) => arrivals.push([p[0], clock.now()]), {
    clock,
    rng: new Rng(1),
    delayMs: 10,
    rateBytesPerSecond: 100_000, // 1000 octets take 10 ms
    stats,
  });
  for (let i = 0; i < 3; i++) sink(new Uint8Array(1000).fill(i));
  await clock.advance(100);
  assert.deepEqual(arrivals, [[0, 20], [1, 30], [2, 40]]);
});

Deno.test("the pcap of a connection is read by tcpdump", async () => {
  const p = makePair({ pcap: true });
  const [c, s] = await connectPair(p);
  const [got] = await p.run(
    Promise.all([readAll(s), writeAll(c, new TextEncoder().encode("hello pcap"))]),
  );
  assert.equal(new TextDecoder().decode(got), "hello pcap");
  await p.run(Promise.all([c.close(), s.close()]));
  p.close();
  const bytes = p.pcap!.bytes();
  const v = new DataView(bytes.buffer);
  assert.equal(v.getUint32(0, true), 0xa1b2c3d4);
  assert.equal(v.getUint32(20, true), LINKTYPE_RAW);
  const dir = await Deno.makeTempDir();
  const file = `${dir}/conn.pcap`;
  await p.pcap!.save(file);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("tcpdump", {
      args: ["-nn", "-r", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch {
    if (Deno.env.get("CI") === "true") {
      throw new Error("tcpdump is missing (apt-get install tcpdump)");
    }
    console.log("SKIP the tcpdump part: tcpdump is not installed");
    await Deno.remove(dir, { recursive: true });
    return;
  }
  await Deno.remove(dir, { recursive: true });
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = text.trim().split("\n");
  assert.equal(lines.length, p.pcap!.count);
  assert.match(
    lines[0],
    /IP 10\.0\.0\.1\.\d+ > 10\.0\.0\.2\.80: Flags \[S\], seq \d+, win 65535, options \[mss 1060,sackOK,TS val \d+ ecr 0,nop,wscale 5\], length 0/,
  );
  assert.match(lines[1], /IP 10\.0\.0\.2\.80 > 10\.0\.0\.1\.\d+: Flags \[S\.\]/);
  assert.ok(lines.some((l) => /Flags \[P\.\].*length 10\b/.test(l)), "the data segment");
  assert.ok(lines.some((l) => /Flags \[F\.\]/.test(l)), "a FIN");
  assert.ok(!text.includes("bad"), "no bad checksums or lengths reported");
  // Timestamps are echoed from the latest segment, not stuck at the SYN (RFC 7323 4.3).
  const ecrs = lines.filter((l) => l.includes("10.0.0.2.80 >")).map((l) =>
    l.match(/ecr (\d+)/)![1]
  );
  assert.ok(new Set(ecrs).size > 1, `the server's TSecr moves on: ${ecrs}`);
});

Deno.test("PcapWriter keeps only snapLength octets but records the original length", () => {
  const w = new PcapWriter(16);
  w.record(new Uint8Array(100), 1.5);
  const b = w.bytes();
  const v = new DataView(b.buffer);
  assert.equal(b.length, 24 + 16 + 16);
  assert.equal(v.getUint32(24, true), 0);
  assert.equal(v.getUint32(28, true), 1500);
  assert.equal(v.getUint32(32, true), 16);
  assert.equal(v.getUint32(36, true), 100);
});
