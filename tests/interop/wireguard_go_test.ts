/**
 * Interop with real WireGuard: Debian's wireguard-go on a TUN device inside a network
 * namespace, peered over UDP (through a veth) with our Device in the root namespace.
 * Handshakes initiated by us and then by wireguard-go; a hand-built ICMP echo request
 * answered by the namespace's kernel; a kernel ping answered by us; `wg show` counters.
 * Needs root, wireguard-go, wg, ip, ping; skipped with a reason otherwise, failed in CI.
 */
import assert from "node:assert/strict";
import {
  Device,
  generateKeyPair,
  keyFromBase64,
  keyToBase64,
  type Peer,
  UdpBind,
  udpEndpoint,
} from "../../lib/wireguard/mod.ts";
import { must, requirePrerequisites, run, uniqueSuffix, waitFor } from "./_netns.ts";

const TEST = "wireguard-go interop";
const ignore = await requirePrerequisites(TEST, ["wireguard-go", "wg", "ip", "ping"]);

/** RFC 1071 Internet checksum over `b`. */
function internetChecksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length & 1) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ipBytes(s: string): number[] {
  return s.split(".").map(Number);
}

/** IPv4 + ICMP echo (type 8 request / 0 reply) with correct checksums. */
function icmpEcho(
  type: 0 | 8,
  src: string,
  dst: string,
  id: number,
  seq: number,
  payload: Uint8Array,
): Uint8Array {
  const p = new Uint8Array(20 + 8 + payload.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[4] = 0x12; // identification
  p[5] = 0x34;
  p[6] = 0x40; // don't fragment
  p[8] = 64;
  p[9] = 1; // ICMP
  p.set(ipBytes(src), 12);
  p.set(ipBytes(dst), 16);
  const ipSum = internetChecksum(p.subarray(0, 20));
  p[10] = ipSum >> 8;
  p[11] = ipSum & 0xff;
  const icmp = p.subarray(20);
  icmp[0] = type;
  icmp[4] = id >> 8;
  icmp[5] = id & 0xff;
  icmp[6] = seq >> 8;
  icmp[7] = seq & 0xff;
  icmp.set(payload, 8);
  const s = internetChecksum(icmp);
  icmp[2] = s >> 8;
  icmp[3] = s & 0xff;
  return p;
}

function dotted(b: Uint8Array, off: number): string {
  return Array.from(b.subarray(off, off + 4)).join(".");
}

/** Parses `wg show <if> transfer` ("<key>\t<rx>\t<tx>") for one peer. */
async function transfer(
  ns: string,
  ifname: string,
  peerKey: string,
): Promise<{ rx: number; tx: number }> {
  const out = await must("ip", ["netns", "exec", ns, "wg", "show", ifname, "transfer"]);
  for (const line of out.trim().split("\n")) {
    const [key, rx, tx] = line.split("\t");
    if (key === peerKey) return { rx: Number(rx), tx: Number(tx) };
  }
  throw new Error(`wg show ${ifname} transfer has no line for our key: ${out}`);
}

async function latestHandshake(ns: string, ifname: string, peerKey: string): Promise<number> {
  const out = await must("ip", ["netns", "exec", ns, "wg", "show", ifname, "latest-handshakes"]);
  for (const line of out.trim().split("\n")) {
    const [key, t] = line.split("\t");
    if (key === peerKey) return Number(t);
  }
  return 0;
}

Deno.test({
  name:
    "wireguard-go in a netns: handshakes initiated by each side and crossing, ICMP echo through the tunnel, wg show counters",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const sfx = uniqueSuffix();
    const ns = `tlwg${sfx}`;
    const vethHost = `tlwgh${sfx}`;
    const vethNs = `tlwgn${sfx}`;
    const wgIf = `tlwg${sfx}`;
    const octet = 16 + Math.floor(Math.random() * 200);
    const hostAddr = `10.239.${octet}.1`;
    const nsAddr = `10.239.${octet}.2`;
    const ourTunnel = `10.240.${octet}.1`;
    const theirTunnel = `10.240.${octet}.2`;
    const tmp = await Deno.makeTempDir({ prefix: "tlwg-" });
    let wgProc: Deno.ChildProcess | null = null;
    let device: Device | null = null;
    let nsCreated = false;
    let vethCreated = false;
    try {
      // --- namespace, veth, wireguard-go ---
      await must("ip", ["netns", "add", ns]);
      nsCreated = true;
      await must("ip", ["link", "add", vethHost, "type", "veth", "peer", "name", vethNs]);
      vethCreated = true;
      await must("ip", ["link", "set", vethNs, "netns", ns]);
      await must("ip", ["addr", "add", `${hostAddr}/24`, "dev", vethHost]);
      await must("ip", ["link", "set", vethHost, "up"]);
      await must("ip", ["-n", ns, "addr", "add", `${nsAddr}/24`, "dev", vethNs]);
      await must("ip", ["-n", ns, "link", "set", vethNs, "up"]);
      await must("ip", ["-n", ns, "link", "set", "lo", "up"]);

      wgProc = new Deno.Command("ip", {
        args: ["netns", "exec", ns, "wireguard-go", "-f", wgIf],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitFor("wireguard-go's UAPI socket", () => {
        try {
          Deno.statSync(`/var/run/wireguard/${wgIf}.sock`);
          return true;
        } catch {
          return null;
        }
      });

      const theirPrivB64 = (await must("wg", ["genkey"])).trim();
      const theirPubB64 = (await must("wg", ["pubkey"], theirPrivB64 + "\n")).trim();
      const keyFile = `${tmp}/their.key`;
      Deno.writeTextFileSync(keyFile, theirPrivB64 + "\n", { mode: 0o600 });
      const ours = generateKeyPair();
      const ourPubB64 = keyToBase64(ours.publicKey);

      // --- our device on a UDP bind in the root namespace ---
      const received: Uint8Array[] = [];
      const sentTypes: number[] = [];
      const udp = new UdpBind({ hostname: "0.0.0.0", port: 0 });
      // While `held` is set, our datagrams are queued instead of sent (phase 3).
      let held: { d: Uint8Array; to: unknown }[] | null = null;
      const recording = {
        open: (r: (d: Uint8Array, from: unknown) => void) => udp.open(r),
        send: (d: Uint8Array, to: unknown) => {
          sentTypes.push(d[0]);
          if (held !== null) held.push({ d: d.slice(), to });
          else udp.send(d, to);
        },
        close: () => udp.close(),
        endpointString: (e: unknown) => udp.endpointString(e),
      };
      let answerPings = false;
      device = new Device({
        privateKey: ours.privateKey,
        bind: recording,
        mtu: 1420,
        onPacket: (ip) => {
          received.push(ip.slice());
          // Answer the kernel's echo requests (phase 2) with a hand-built reply.
          if (answerPings && ip[9] === 1 && ip[20] === 8) {
            const id = (ip[24] << 8) | ip[25];
            const seq = (ip[26] << 8) | ip[27];
            const payload = ip.slice(28, (ip[2] << 8) | ip[3]);
            device!.sendPacket(icmpEcho(0, dotted(ip, 16), dotted(ip, 12), id, seq, payload));
          }
        },
      });
      await device.ready;
      const ourPort = udp.localAddr.port;

      // wireguard-go: the responder is configured before we initiate.
      await must("ip", [
        "netns",
        "exec",
        ns,
        "wg",
        "set",
        wgIf,
        "private-key",
        keyFile,
        "listen-port",
        "51820",
        "peer",
        ourPubB64,
        "allowed-ips",
        `${ourTunnel}/32`,
        "endpoint",
        `${hostAddr}:${ourPort}`,
      ]);
      await must("ip", ["-n", ns, "addr", "add", `${theirTunnel}/24`, "dev", wgIf]);
      await must("ip", ["-n", ns, "link", "set", wgIf, "up"]);

      const addOurPeer = (presharedKey?: Uint8Array): Peer =>
        device!.addPeer({
          publicKey: keyFromBase64(theirPubB64),
          presharedKey,
          allowedIPs: [`${theirTunnel}/32`],
          endpoint: udpEndpoint(nsAddr, 51820),
        });
      const peer = addOurPeer();

      // --- phase 1: we initiate; the namespace's kernel answers our echo request ---
      const id = 0x7e57;
      const payload = new TextEncoder().encode("tela wireguard interop 0123456789");
      for (let seq = 1; seq <= 3; seq++) {
        const before = received.length;
        device.sendPacket(icmpEcho(8, ourTunnel, theirTunnel, id, seq, payload));
        // Retries come from our handshake timer (REKEY_TIMEOUT) if the first is lost.
        const reply = await waitFor(
          `echo reply ${seq}`,
          () => received.slice(before).find((p) => p[9] === 1),
          30_000,
        );
        assert.equal(reply[0] >> 4, 4, "IPv4");
        assert.equal(dotted(reply, 12), theirTunnel, "reply source");
        assert.equal(dotted(reply, 16), ourTunnel, "reply destination");
        assert.equal(
          internetChecksum(reply.subarray(0, (reply[0] & 15) * 4)),
          0,
          "IP header checksum",
        );
        const icmp = reply.subarray((reply[0] & 15) * 4, (reply[2] << 8) | reply[3]);
        assert.equal(icmp[0], 0, "ICMP echo reply type");
        assert.equal(icmp[1], 0, "ICMP code");
        assert.equal(internetChecksum(icmp), 0, "ICMP checksum");
        assert.equal((icmp[4] << 8) | icmp[5], id, "ICMP id");
        assert.equal((icmp[6] << 8) | icmp[7], seq, "ICMP sequence");
        assert.deepEqual(icmp.subarray(8), payload, "echo payload");
      }
      assert.equal(sentTypes[0], 1, "we sent the first handshake initiation");
      assert.ok((await latestHandshake(ns, wgIf, ourPubB64)) > 0, "wireguard-go saw a handshake");
      const t1 = await transfer(ns, wgIf, ourPubB64);
      assert.ok(t1.rx > 0 && t1.tx > 0, `wg show transfer moved bytes: ${JSON.stringify(t1)}`);
      assert.equal(device.stats.handshakesCompleted, 1);
      console.log(`phase 1 (we initiate): wg show transfer rx=${t1.rx} tx=${t1.tx}`);

      // --- phase 2: fresh state on both sides, now with a preshared key; wireguard-go
      // initiates (kernel ping) and we answer its echo requests ---
      device.removePeer(peer);
      const pskB64 = (await must("wg", ["genpsk"])).trim();
      const pskFile = `${tmp}/psk`;
      Deno.writeTextFileSync(pskFile, pskB64 + "\n", { mode: 0o600 });
      await must("ip", ["netns", "exec", ns, "wg", "set", wgIf, "peer", ourPubB64, "remove"]);
      await must("ip", [
        "netns",
        "exec",
        ns,
        "wg",
        "set",
        wgIf,
        "peer",
        ourPubB64,
        "preshared-key",
        pskFile,
        "allowed-ips",
        `${ourTunnel}/32`,
        "endpoint",
        `${hostAddr}:${ourPort}`,
      ]);
      addOurPeer(keyFromBase64(pskB64));
      answerPings = true;
      sentTypes.length = 0;
      const handshakesBefore = device.stats.handshakesCompleted;
      const ping = await run("ip", [
        "netns",
        "exec",
        ns,
        "ping",
        "-c",
        "3",
        "-i",
        "0.3",
        "-W",
        "10",
        ourTunnel,
      ]);
      assert.equal(
        ping.code,
        0,
        `kernel ping through the tunnel failed: ${ping.stdout}${ping.stderr}`,
      );
      assert.match(ping.stdout, /3 received/);
      assert.ok(!sentTypes.includes(1), "we did not initiate in phase 2");
      assert.ok(sentTypes.includes(2), "we answered wireguard-go's initiation");
      assert.equal(device.stats.handshakesCompleted, handshakesBefore + 1);
      const t2 = await transfer(ns, wgIf, ourPubB64);
      assert.ok(t2.rx > 0 && t2.tx > 0, `wg show transfer after phase 2: ${JSON.stringify(t2)}`);
      console.log(
        `phase 2 (wireguard-go initiates, preshared key): ping ok, wg show transfer rx=${t2.rx} tx=${t2.tx}`,
      );

      // --- phase 3: crossing initiations. Ours is held back until wireguard-go's own
      // initiation has reached us, so each side receives the other's initiation while
      // its own is pending. We keep ours and complete on wireguard-go's response
      // instead of stalling until a retransmit. ---
      device.removePeer(device.peers[0]);
      await must("ip", ["netns", "exec", ns, "wg", "set", wgIf, "peer", ourPubB64, "remove"]);
      sentTypes.length = 0;
      held = [];
      const crossed = device.addPeer({
        publicKey: keyFromBase64(theirPubB64),
        allowedIPs: [`${theirTunnel}/32`],
        endpoint: udpEndpoint(nsAddr, 51820),
        persistentKeepaliveSeconds: 25, // as Tela sessions do: starts a handshake at once
      });
      assert.deepEqual(sentTypes, [1], "our initiation is queued");
      await must("ip", [
        "netns",
        "exec",
        ns,
        "wg",
        "set",
        wgIf,
        "peer",
        ourPubB64,
        "allowed-ips",
        `${ourTunnel}/32`,
        "endpoint",
        `${hostAddr}:${ourPort}`,
        "persistent-keepalive",
        "25",
      ]);
      await waitFor("wireguard-go's initiation", () => sentTypes.includes(2) || null);
      const queued = held;
      held = null;
      for (const q of queued) udp.send(q.d, q.to); // our initiation, then our response
      const crossedBefore = received.length;
      device.sendPacket(icmpEcho(8, ourTunnel, theirTunnel, id, 99, payload));
      const reply3 = await waitFor(
        "echo reply after crossing initiations",
        () => received.slice(crossedBefore).find((p) => p[9] === 1 && p[20] === 0),
        30_000,
      );
      assert.equal((reply3[26] << 8) | reply3[27], 99, "ICMP sequence");
      assert.ok(crossed.hasSession);
      assert.equal(
        sentTypes.filter((t) => t === 1).length,
        1,
        "one initiation of ours sufficed (no REKEY_TIMEOUT retransmit)",
      );
      console.log(
        `phase 3 (crossing initiations): completed with ${sentTypes.length} datagrams sent`,
      );
      assert.equal(device.stats.dropped["decrypt-failed"] ?? 0, 0);
    } finally {
      device?.close();
      if (wgProc !== null) {
        try {
          wgProc.kill("SIGTERM");
        } catch { /* already gone */ }
        await wgProc.status;
      }
      if (vethCreated) await run("ip", ["link", "del", vethHost]);
      if (nsCreated) await run("ip", ["netns", "del", ns]);
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
