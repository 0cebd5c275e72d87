/**
 * The direct path's first punch leaves with IP TTL 2 (nat-lab.md gotcha 1) from the path
 * socket's own port, and the path socket keeps receiving afterwards. Runs the sender in a
 * network namespace of its own where iptables counts datagrams by TTL.
 */
import assert from "node:assert/strict";
import { must, requirePrerequisites, run, uniqueSuffix } from "./_netns.ts";

const TEST = "low-TTL first punch";
const ignore = await requirePrerequisites(TEST, ["ip", "iptables"], { root: true });
const PORT = 40999;

function packets(listing: string, ttl: string): number {
  const line = listing.split("\n").find((l) => l.includes(`dpt:${PORT}`) && l.includes(ttl));
  if (!line) throw new Error(`no counter line for ${ttl} in:\n${listing}`);
  return Number(line.trim().split(/\s+/)[0]);
}

Deno.test({
  name: "the first punch datagram leaves with TTL 2 from the path socket's port",
  ignore,
  async fn() {
    const ns = `core-ttl${uniqueSuffix()}`;
    await must("ip", ["netns", "add", ns]);
    try {
      const x = (...a: string[]) => must("ip", ["netns", "exec", ns, ...a]);
      await x("ip", "link", "set", "lo", "up");
      const rule = ["-p", "udp", "-o", "lo", "--dport", String(PORT), "-m", "ttl"];
      await x("iptables", "-A", "OUTPUT", ...rule, "--ttl-eq", "2", "-j", "ACCEPT");
      await x("iptables", "-A", "OUTPUT", ...rule, "--ttl-gt", "2", "-j", "ACCEPT");
      const r = await run("ip", [
        "netns",
        "exec",
        ns,
        Deno.execPath(),
        "run",
        "-A",
        "--unstable-net",
        new URL("./_low_ttl_sender.ts", import.meta.url).pathname,
        String(PORT),
      ]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
      assert.equal(out.sentLow, true);
      assert.deepEqual(out.sources, [out.pathPort, out.pathPort], "both from the path's port");
      assert.deepEqual(out.mainGot, ["after"], "the path socket receives after the helper closed");
      const listing = await x("iptables", "-L", "OUTPUT", "-v", "-x", "-n");
      assert.equal(packets(listing, "TTL match TTL == 2"), 1, listing);
      assert.equal(packets(listing, "TTL match TTL > 2"), 1, listing);
    } finally {
      await run("ip", ["netns", "del", ns]);
    }
  },
});
