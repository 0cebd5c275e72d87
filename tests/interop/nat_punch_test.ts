/**
 * The direct path through real NATs (shared/testing/nat-lab.md): two hosts behind two
 * Linux NAT namespaces, the hub's UDP relay and a STUN responder on the "public" side.
 * Each end is one of our session binds (tests/interop/_nat_lab_side.ts) under a real
 * WireGuard tunnel; the test relays their WebSocket traffic as a hub would.
 * - port-restricted cone NAT, WAN input dropped: the ends punch through → direct;
 * - the same NAT accepting unsolicited WAN input (gotcha 1): the punch fails, both stay
 *   on the UDP relay and data flows;
 * - symmetric NAT (`MASQUERADE --random-fully`): punching fails → both stay on the UDP
 *   relay, and data flows.
 */
import assert from "node:assert/strict";
import { must, requirePrerequisites, run, uniqueSuffix } from "./_netns.ts";
import { bytesToHex } from "../../lib/protocol/mod.ts";
import { generateSessionKeys } from "../../lib/session/mod.ts";

const TEST = "NAT lab hole punching";
const ignore = await requirePrerequisites(TEST, ["ip", "iptables"], { root: true });

type Mode = "cone" | "cone-open-wan" | "symmetric";

/** Builds the lab; returns the namespace names and a teardown. */
async function lab(mode: Mode) {
  const s = uniqueSuffix();
  const ns = {
    pub: `cpub${s}`,
    nat1: `cn1${s}`,
    nat2: `cn2${s}`,
    h1: `ch1${s}`,
    h2: `ch2${s}`,
  };
  const made: string[] = [];
  const x = (n: string, ...a: string[]) => must("ip", ["netns", "exec", n, ...a]);
  const teardown = async () => {
    for (const n of made.reverse()) await run("ip", ["netns", "del", n]);
  };
  try {
    for (const n of Object.values(ns)) {
      await must("ip", ["netns", "add", n]);
      made.push(n);
      await x(n, "ip", "link", "set", "lo", "up");
    }
    await x(ns.pub, "ip", "addr", "add", "10.240.0.1/32", "dev", "lo");
    await x(ns.pub, "ip", "addr", "add", "10.240.0.2/32", "dev", "lo");
    await x(ns.pub, "sysctl", "-qw", "net.ipv4.ip_forward=1");
    for (const i of [1, 2]) {
      const nat = i === 1 ? ns.nat1 : ns.nat2;
      const h = i === 1 ? ns.h1 : ns.h2;
      const wan = `cw${i}${s}`, pubIf = `cp${i}${s}`, lan = `cl${i}${s}`, hIf = `ce${i}${s}`;
      await must("ip", [
        "link",
        "add",
        pubIf,
        "netns",
        ns.pub,
        "type",
        "veth",
        "peer",
        "name",
        wan,
        "netns",
        nat,
      ]);
      await must("ip", [
        "link",
        "add",
        lan,
        "netns",
        nat,
        "type",
        "veth",
        "peer",
        "name",
        hIf,
        "netns",
        h,
      ]);
      await x(ns.pub, "ip", "addr", "add", `10.240.${i}.1/24`, "dev", pubIf);
      await x(ns.pub, "ip", "link", "set", pubIf, "up");
      await x(nat, "ip", "addr", "add", `10.240.${i}.2/24`, "dev", wan);
      await x(nat, "ip", "link", "set", wan, "up");
      await x(nat, "ip", "addr", "add", `192.168.${i}.1/24`, "dev", lan);
      await x(nat, "ip", "link", "set", lan, "up");
      await x(h, "ip", "addr", "add", `192.168.${i}.2/24`, "dev", hIf);
      await x(h, "ip", "link", "set", hIf, "up");
      await x(nat, "ip", "route", "add", "default", "via", `10.240.${i}.1`);
      await x(h, "ip", "route", "add", "default", "via", `192.168.${i}.1`);
      await x(nat, "sysctl", "-qw", "net.ipv4.ip_forward=1");
      for (const c of ["FORWARD", "INPUT"]) {
        if (c === "INPUT" && mode === "cone-open-wan") continue;
        await x(
          nat,
          "iptables",
          "-A",
          c,
          "-i",
          wan,
          "-m",
          "conntrack",
          "--ctstate",
          "ESTABLISHED,RELATED",
          "-j",
          "ACCEPT",
        );
        await x(nat, "iptables", "-A", c, "-i", wan, "-j", "DROP");
      }
      const masq = ["iptables", "-t", "nat", "-A", "POSTROUTING", "-o", wan, "-j", "MASQUERADE"];
      if (mode === "symmetric") masq.push("--random-fully");
      await x(nat, ...masq);
    }
  } catch (err) {
    await teardown();
    throw err;
  }
  return { ns, teardown };
}

/** A process in a namespace speaking JSON lines. */
function spawnIn(n: string, script: string, args: string[]) {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      n,
      Deno.execPath(),
      "run",
      "-A",
      "--unstable-net",
      new URL(script, import.meta.url).pathname,
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  const enc = new TextEncoder();
  const handlers: ((m: Record<string, unknown>) => void)[] = [];
  const lines: Record<string, unknown>[] = [];
  (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let i;
      while ((i = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, i);
        rest = rest.slice(i + 1);
        if (!line.startsWith("{")) continue;
        const m = JSON.parse(line);
        lines.push(m);
        for (const h of handlers) h(m);
      }
    }
  })();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  return {
    child,
    lines,
    on: (h: (m: Record<string, unknown>) => void) => handlers.push(h),
    send: (m: unknown) => w.write(enc.encode(JSON.stringify(m) + "\n")).catch(() => {}),
    async stop() {
      await w.close().catch(() => {});
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
      await stderr.cancel().catch(() => {});
    },
  };
}

async function waitLine(
  p: { lines: Record<string, unknown>[] },
  pred: (m: Record<string, unknown>) => boolean,
  ms: number,
  what: string,
) {
  const end = Date.now() + ms;
  for (;;) {
    const m = p.lines.find(pred);
    if (m) return m;
    if (Date.now() > end) {
      throw new Error(
        `timed out waiting for ${what}: ${JSON.stringify(p.lines.filter((l) => l.t !== "bin"))}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function scenario(mode: Mode): Promise<{ agent: string[]; client: Record<string, unknown> }> {
  const { ns, teardown } = await lab(mode);
  const procs: { stop(): Promise<void> }[] = [];
  try {
    const hub = spawnIn(ns.pub, "./_nat_lab_hub.ts", ["10.240.0.1", "10.240.0.2"]);
    procs.push(hub);
    const ready = await waitLine(hub, (m) => m.t === "ready", 20_000, "hub ready");
    const a = generateSessionKeys();
    const c = generateSessionKeys();
    const side = (role: string, n: string, priv: Uint8Array, peer: Uint8Array) =>
      spawnIn(n, "./_nat_lab_side.ts", [
        role,
        "10.240.0.1",
        String(ready.port),
        String(ready[role]),
        "10.240.0.2:3478",
        bytesToHex(priv),
        bytesToHex(peer),
      ]);
    const agent = side("agent", ns.h2, a.privateKey, c.publicKey);
    const client = side("client", ns.h1, c.privateKey, a.publicKey);
    procs.push(agent, client);
    // The "hub": WebSocket traffic between the ends, relay deliveries to their WebSockets.
    agent.on((m) => (m.t === "bin" || m.t === "text") && client.send(m));
    client.on((m) => (m.t === "bin" || m.t === "text") && agent.send(m));
    hub.on((m) => m.t === "bin" && (m.to === "agent" ? agent : client).send({ t: "bin", b: m.b }));
    const want = mode === "cone" ? "direct" : "udp-relay";
    await waitLine(
      client,
      (m) => m.t === "state" && m.transport === want,
      20_000,
      `client ${want}`,
    );
    await waitLine(agent, (m) => m.t === "state" && m.transport === want, 20_000, `agent ${want}`);
    // Past the 5 s punch window: a failed punch must have left the relay in place.
    if (mode !== "cone") await new Promise((r) => setTimeout(r, 6000));
    client.send({ t: "go", total: 1 << 20 });
    const done = await waitLine(client, (m) => m.t === "done", 60_000, "echo done");
    const agentStates = agent.lines.filter((m) => m.t === "state").map((m) => String(m.transport));
    return { agent: agentStates, client: done };
  } finally {
    for (const p of procs) await p.stop();
    await teardown();
  }
}

Deno.test({
  name: "NAT lab: port-restricted cone NATs → direct",
  ignore,
  async fn() {
    const r = await scenario("cone");
    assert.equal(r.client.got, 1 << 20);
    assert.equal(r.client.transport, "direct");
    assert.ok(Number(r.client.direct) > 100, JSON.stringify(r.client));
    assert.match(String(r.client.reflexive), /^10\.240\.1\.2:\d+$/, "STUN saw the NAT's address");
  },
});

Deno.test({
  name: "NAT lab: NATs accepting unsolicited WAN input (gotcha 1) → udp-relay, data flows",
  ignore,
  async fn() {
    // nat-lab.md gotcha 1: the NAT box itself takes the peer's first punch, so our
    // outbound flow gets another port and punching fails. Real routers drop unsolicited
    // WAN input; the TTL-2 first punch that worked around it needed SO_REUSEADDR on the
    // session socket (another local user could steal the port), so it is gone.
    const r = await scenario("cone-open-wan");
    assert.equal(r.client.got, 1 << 20);
    assert.equal(r.client.transport, "udp-relay");
  },
});

Deno.test({
  name: "NAT lab: symmetric NATs → punching fails, both stay on the UDP relay",
  ignore,
  async fn() {
    const r = await scenario("symmetric");
    assert.equal(r.client.got, 1 << 20);
    assert.equal(r.client.transport, "udp-relay");
    assert.equal(Number(r.client.direct), 0);
    assert.ok(!r.agent.includes("direct"), r.agent.join(","));
  },
});
