/**
 * Interop of our user-space TCP (`lib/netstack`) with the Linux kernel's TCP: the kernel
 * of a network namespace sits behind Debian's wireguard-go (on a TUN inside the
 * namespace); our NetStack sits on our WireGuard Device over UDP in the root namespace.
 * It proves that, through both WireGuard implementations,
 *  - our stack as client of a kernel server (socat) and
 *  - a kernel client (socat) of our stack's listener
 * each move 16 MiB each way at once (full duplex, then half-close both ways) byte-exact,
 * checked by SHA-256 on both sides and a byte comparison; and that the same holds with
 * 3 % random loss injected by iptables inside the namespace on the tunnel's packets
 * (the `statistic` match on the TUN's INPUT for our segments, on wireguard-go's UDP
 * output for the kernel's), so both TCPs must recover from real loss.
 * Throughput and retransmit counts are printed, never asserted.
 *
 * Needs root, wireguard-go, wg, ip, socat, iptables, sha256sum, nstat; skipped with a
 * reason otherwise and failed in CI. Set TELA_INTEROP_PCAP=<dir> to capture the tunnel's
 * packets (headers) with tcpdump inside the namespace.
 */
import assert from "node:assert/strict";
import { NetStack, type TcpConn, type TcpListener } from "../../lib/netstack/mod.ts";
import {
  Device,
  generateKeyPair,
  keyFromBase64,
  keyToBase64,
  UdpBind,
  udpEndpoint,
} from "../../lib/wireguard/mod.ts";
import { haveCommand, must, requirePrerequisites, waitFor, WireguardGoNetns } from "./_netns.ts";
import {
  assertSameBytes,
  deviceDrops,
  exchange,
  type ExchangeProgress,
  LOSS_RATE,
  PacketTrace,
  rate,
  sha256Hex,
  stackSummary,
  TRANSFER_BYTES,
  withTimeout,
} from "./_tcp_exchange.ts";
import { patternBytes } from "../../lib/netstack/_test_util.ts";
import { WEBSOCKET_PATH_MTU } from "../../lib/session/engine.ts";

const TEST = "kernel TCP interop";
const ignore = await requirePrerequisites(TEST, [
  "wireguard-go",
  "wg",
  "ip",
  "socat",
  "iptables",
  "sha256sum",
  "nstat",
]);

const MTU = 1100;
const SERVER_PORT = 5201;
const OUR_PORT = 5202;
/** Bound of one case without loss, and with loss (ms). Timing is never asserted. */
const TIMEOUT_CLEAN_MS = 180_000;
const TIMEOUT_LOSSY_MS = 480_000;

/**
 * The kernel's cumulative counters that matter here: TCP in the namespace, and UDP
 * receive-buffer overflows in the namespace (wireguard-go's socket) and in the root
 * namespace (`RootUdpRcvbufErrors`: our Device's socket, and any other of the host's).
 */
async function kernelCounters(n: WireguardGoNetns): Promise<Record<string, number>> {
  const names = [
    "TcpRetransSegs",
    "TcpExtTCPSackRecovery",
    "TcpExtTCPOFOQueue",
    "TcpOutRsts",
    "UdpRcvbufErrors",
  ];
  const root = await must("nstat", ["-asz", "UdpRcvbufErrors"]);
  const out = (await n.must("nstat", ["-asz", ...names])) +
    root.replace("UdpRcvbufErrors", "RootUdpRcvbufErrors");
  names.push("RootUdpRcvbufErrors");
  const c: Record<string, number> = Object.fromEntries(names.map((k) => [k, 0]));
  for (const line of out.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k in c) c[k] = Number(v);
  }
  return c;
}

/** Packets dropped so far by the loss rules (iptables `statistic`) on INPUT and OUTPUT. */
async function lossDrops(n: WireguardGoNetns): Promise<{ input: number; output: number }> {
  const count = async (chain: string) => {
    const out = await n.must("iptables", ["-L", chain, "-v", "-n", "-x"]);
    let sum = 0;
    for (const line of out.split("\n")) {
      if (line.includes("statistic")) sum += Number(line.trim().split(/\s+/)[0]);
    }
    return sum;
  };
  return { input: await count("INPUT"), output: await count("OUTPUT") };
}

function counterDelta(a: Record<string, number>, b: Record<string, number>): string {
  return Object.keys(b).map((k) => `${k}=${b[k] - (a[k] ?? 0)}`).join(" ");
}

Deno.test({
  name:
    "our TCP and the Linux kernel's TCP exchange 16 MiB each way byte-exact through wireguard-go, with and without 3 % loss",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let n: WireguardGoNetns | null = null;
    let device: Device | null = null;
    let stack: NetStack | null = null;
    let tcpdump: Deno.ChildProcess | null = null;
    const tmp = await Deno.makeTempDir({ prefix: "tlktcp-" });
    try {
      n = await WireguardGoNetns.create("tlkt", 243);
      const ns = n;
      const ours = generateKeyPair();
      /** The largest IP packet the kernel sent us (its MTU must bound it, not our MSS). */
      let largestIn = 0;
      const trace = new PacketTrace();
      const udp = new UdpBind({ hostname: ns.hostAddr, port: 0 });
      device = new Device({
        privateKey: ours.privateKey,
        bind: udp,
        mtu: MTU,
        onPacket: (ip) => {
          largestIn = Math.max(largestIn, ip.length);
          trace.record("in", ip);
          stack?.input(ip);
        },
      });
      await device.ready;
      const dev = device;
      await ns.configure(keyToBase64(ours.publicKey), `${ns.hostAddr}:${udp.localAddr.port}`, MTU);
      dev.addPeer({
        publicKey: keyFromBase64(ns.publicKeyB64),
        allowedIPs: [`${ns.theirTunnel}/32`],
        endpoint: udpEndpoint(ns.nsAddr, ns.wgPort),
      });
      const pcapDir = Deno.env.get("TELA_INTEROP_PCAP");
      if (pcapDir && await haveCommand("tcpdump")) {
        const file = `${pcapDir}/kernel_tcp_${ns.wgIf}.pcap`;
        tcpdump = ns.spawn("tcpdump", ["-i", ns.wgIf, "-n", "-s", "120", "-w", file]);
        console.log(`capturing the tunnel to ${file}`);
      }

      // The kernel side's files: what it sends us, and where it puts what we send.
      const toUs = patternBytes(0x6b65726e, TRANSFER_BYTES);
      const fromUs = patternBytes(0x6f757273, TRANSFER_BYTES);
      const toUsFile = `${tmp}/kernel_sends.bin`;
      const fromUsFile = `${tmp}/kernel_received.bin`;
      await Deno.writeFile(toUsFile, toUs);
      const toUsSha = await sha256Hex(toUs);
      const fromUsSha = await sha256Hex(fromUs);

      /** socat with the kernel side of the exchange: reads toUsFile, writes fromUsFile. */
      const socatArgs = (tcpAddress: string, timeoutMs: number) => [
        "-t",
        String(Math.ceil(timeoutMs / 1000)),
        "-T",
        "120",
        `GOPEN:${toUsFile}!!CREATE:${fromUsFile}`,
        tcpAddress,
      ];

      /**
       * One case: a fresh NetStack, the kernel side started by `startKernel`, the
       * connection from `connect`, the exchange, then byte-exact checks of both files.
       */
      const runCase = async (
        label: string,
        lossy: boolean,
        timeoutMs: number,
        startKernel: (s: NetStack) => Promise<Deno.ChildProcess>,
        connect: (s: NetStack) => Promise<TcpConn>,
      ) => {
        await Deno.remove(fromUsFile).catch(() => {});
        // As the session engine configures it on a UDP path (lib/session/engine.ts): the
        // large WebSocket-path MTU announced (MSS 64984), segments sized to the UDP MTU. The
        // kernel must keep to its own MTU whatever we announce.
        const s = new NetStack({
          address: ns.ourTunnel,
          mtu: WEBSOCKET_PATH_MTU,
          pathMtu: () => MTU,
          output: (p) => {
            trace.record("out", p);
            dev.sendPacket(p);
          },
        });
        trace.clear();
        stack = s;
        const before = await kernelCounters(ns);
        const dropsBefore = await lossDrops(ns);
        const progress: ExchangeProgress = { sent: 0, received: 0 };
        let kernel: Deno.ChildProcess | null = null;
        try {
          kernel = await startKernel(s);
          const kernelDone = kernel.output();
          const conn = await withTimeout(`${label}: connection`, connect(s), 30_000);
          const r = await exchange(conn, fromUs, TRANSFER_BYTES, timeoutMs, progress).catch(
            (err) => {
              throw new Error(
                `${label}: ${(err as Error).message}; our stack: ${stackSummary(s)}; ` +
                  `device drops: ${deviceDrops(dev)}`,
              );
            },
          );
          const out = await withTimeout(`${label}: socat to exit`, kernelDone, 60_000);
          const stderr = new TextDecoder().decode(out.stderr).trim();
          assert.equal(out.code, 0, `${label}: socat exited with ${out.code}: ${stderr}`);

          // Byte-exact, both ways: hashes from each side, then the bytes themselves.
          const kernelGotSha = (await ns.must("sha256sum", [fromUsFile])).split(/\s/)[0];
          const kernelSentSha = (await ns.must("sha256sum", [toUsFile])).split(/\s/)[0];
          assert.equal(kernelSentSha, toUsSha, "the kernel side's source file is intact");
          assert.equal(r.received.length, TRANSFER_BYTES, `${label}: bytes we received`);
          assert.equal(
            await sha256Hex(r.received),
            kernelSentSha,
            `${label}: SHA-256 of what we received equals what the kernel sent`,
          );
          await assertSameBytes(`${label}: kernel → ours`, r.received, toUs);
          const kernelGot = await Deno.readFile(fromUsFile);
          assert.equal(kernelGot.length, TRANSFER_BYTES, `${label}: bytes the kernel received`);
          assert.equal(
            kernelGotSha,
            fromUsSha,
            `${label}: SHA-256 of what the kernel received equals what we sent`,
          );
          await assertSameBytes(`${label}: ours → kernel`, kernelGot, fromUs);

          const after = await kernelCounters(ns);
          const dropsAfter = await lossDrops(ns);
          const dropped = {
            input: dropsAfter.input - dropsBefore.input,
            output: dropsAfter.output - dropsBefore.output,
          };
          assert.ok(
            largestIn <= MTU,
            `${label}: the kernel sent a ${largestIn}-octet packet; its MTU is ${MTU}`,
          );
          if (lossy) {
            assert.ok(
              dropped.input > 0 && dropped.output > 0,
              `${label}: iptables dropped packets both ways: ${JSON.stringify(dropped)}`,
            );
          }
          if (s.stats.tcp.rstReceived > 0) {
            console.log(
              `${label}: the kernel sent a RST after the exchange; the last packets:\n${
                trace.format(12)
              }`,
            );
          }
          console.log(
            `${label}: ours → kernel ${TRANSFER_BYTES} B at ${rate(TRANSFER_BYTES, r.closedMs)} ` +
              `(until our FIN was acked, ${(r.closedMs / 1000).toFixed(1)} s); kernel → ours at ` +
              `${rate(TRANSFER_BYTES, r.receiveMs)} (until its FIN, ${
                (r.receiveMs / 1000).toFixed(1)
              } s)\n  our stack: ${stackSummary(s)}\n  kernel: ${counterDelta(before, after)}` +
              `\n  iptables dropped: ${dropped.input} of our segments, ${dropped.output} ` +
              `of the kernel's datagrams; device drops: ${deviceDrops(dev)}; ` +
              `UDP send errors: ${udp.sendErrors}`,
          );
        } catch (err) {
          const after = await kernelCounters(ns).catch(() => ({}));
          console.log(
            `${label} FAILED after sending ${progress.sent} and receiving ${progress.received} ` +
              `bytes\n  our stack: ${stackSummary(s)}\n  kernel: ${
                counterDelta(before, after as Record<string, number>)
              }\n  sockets: ${
                s.sockets().map((x) => `${x.localPort}->${x.remotePort} ${x.state}`).join(", ")
              }\n  last packets:\n${trace.format()}`,
          );
          throw err;
        } finally {
          s.close();
          stack = null;
          if (kernel !== null) {
            try {
              kernel.kill("SIGTERM");
            } catch { /* exited */ }
            await kernel.status;
          }
        }
      };

      /** Our stack dials socat listening in the namespace. */
      const ourClient = (label: string, lossy: boolean, timeoutMs: number) =>
        runCase(label, lossy, timeoutMs, async () => {
          const p = ns.spawn(
            "socat",
            socatArgs(`TCP4-LISTEN:${SERVER_PORT},bind=${ns.theirTunnel},reuseaddr`, timeoutMs),
          );
          await waitFor(
            "socat to listen in the namespace",
            async () =>
              (await ns.exec("ss", ["-Hltn", `sport = :${SERVER_PORT}`])).stdout.includes(
                `:${SERVER_PORT}`,
              ) || null,
          );
          return p;
        }, (s) => s.dial(ns.theirTunnel, SERVER_PORT));

      /** socat in the namespace dials our stack's listener (made before socat starts). */
      const kernelClientCase = async (label: string, lossy: boolean, timeoutMs: number) => {
        let listener: TcpListener | null = null;
        await runCase(
          label,
          lossy,
          timeoutMs,
          (s) => {
            listener = s.listen(OUR_PORT);
            return Promise.resolve(
              ns.spawn("socat", socatArgs(`TCP4:${ns.ourTunnel}:${OUR_PORT}`, timeoutMs)),
            );
          },
          async () => {
            try {
              return await listener!.accept();
            } finally {
              listener!.close();
            }
          },
        );
      };

      await t.step(
        "our stack as client sends and receives 16 MiB byte-exact with a kernel server",
        () => ourClient("ours→kernel server", false, TIMEOUT_CLEAN_MS),
      );
      await t.step(
        "a kernel client sends and receives 16 MiB byte-exact with our stack's listener",
        () => kernelClientCase("kernel client→our listener", false, TIMEOUT_CLEAN_MS),
      );

      // 3 % random loss on the tunnel's packets, each way, inside the namespace. Our
      // segments are dropped where wireguard-go hands them to the kernel (INPUT on the
      // TUN). The kernel's are dropped as wireguard-go's encrypted datagrams leave (OUTPUT
      // on the veth): an OUTPUT rule on the TUN itself would not be loss at all, since the
      // kernel's TCP sees its own netfilter drop as a failed send (-EPERM) and sends again,
      // and it drops whole GSO batches; one datagram there carries exactly one segment.
      const drop = ["-m", "statistic", "--mode", "random", "--probability", String(LOSS_RATE)];
      const rules: string[][] = [];
      rules.push(["INPUT", "-i", ns.wgIf, ...drop, "-j", "DROP"]);
      rules.push([
        "OUTPUT",
        "-o",
        ns.vethNs,
        "-p",
        "udp",
        "--sport",
        String(ns.wgPort),
        ...drop,
        "-j",
        "DROP",
      ]);
      const added: string[][] = [];
      try {
        for (const r of rules) {
          await ns.must("iptables", ["-A", ...r]);
          added.push(r);
        }
        await t.step(
          "with 3 % random loss, our stack as client still moves 16 MiB each way byte-exact with a kernel server",
          () => ourClient("ours→kernel server, 3 % loss", true, TIMEOUT_LOSSY_MS),
        );
        await t.step(
          "with 3 % random loss, a kernel client still moves 16 MiB each way byte-exact with our listener",
          () => kernelClientCase("kernel client→our listener, 3 % loss", true, TIMEOUT_LOSSY_MS),
        );
        const counts = await ns.must("iptables", ["-L", "-v", "-n", "-x"]);
        console.log(`iptables loss rules:\n${counts.trim()}`);
      } finally {
        for (const r of added.reverse()) await ns.exec("iptables", ["-D", ...r]);
      }
    } finally {
      (stack as NetStack | null)?.close();
      device?.close();
      if (tcpdump !== null) {
        try {
          tcpdump.kill("SIGINT");
        } catch { /* exited */ }
        await tcpdump.status;
      }
      await n?.destroy();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
