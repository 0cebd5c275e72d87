/**
 * Interop of our user-space TCP (`lib/netstack`) with gVisor's netstack, the TCP that the
 * Go Tela binaries run: a small Go peer (`tests/interop/gvisor_peer`, wireguard-go's
 * device with `tun/netstack` as its TUN) built here with the Go toolchain, peered with
 * our WireGuard Device over loopback UDP, so our WireGuard and our TCP meet theirs with
 * no kernel TCP in between. It proves that our stack as client of a gVisor server, and a
 * gVisor client of our stack's listener, each move 16 MiB each way at once (full duplex,
 * then half-close both ways) byte-exact, checked by SHA-256 on both sides; and that the
 * same holds with 3 % of the tunnel's datagrams dropped each way (a seeded lossy Bind on
 * our side, since no kernel sits in between to drop them). Throughput and retransmit
 * counts are printed, never asserted.
 *
 * Needs the Go toolchain (`go`) and its module proxy for the first build; skipped with a
 * reason otherwise and failed in CI.
 */
import assert from "node:assert/strict";
import { NetStack, type TcpConn, type TcpListener } from "../../lib/netstack/mod.ts";
import {
  Device,
  generateKeyPair,
  keyToHex,
  UdpBind,
  udpEndpoint,
} from "../../lib/wireguard/mod.ts";
import { haveCommand, killAndWait, run, skipOrFail } from "./_netns.ts";
import { PcapWriter } from "../../lib/netstack/phy/mod.ts";
import {
  deviceDrops,
  exchange,
  type ExchangeProgress,
  LOSS_RATE,
  LossyBind,
  PacketTrace,
  rate,
  sha256Hex,
  stackSummary,
  TRANSFER_BYTES,
  withTimeout,
} from "./_tcp_exchange.ts";
import { patternBytes } from "../../lib/netstack/_test_util.ts";

const TEST = "gVisor TCP interop";
/** Set TELA_INTEROP_PCAP=<dir> to write each case's tunnel packets (headers) as pcap. */
const PCAP_DIR = Deno.env.get("TELA_INTEROP_PCAP");
const PEER_SRC = new URL("./gvisor_peer/", import.meta.url).pathname;
const MTU = 1100;
/** Bound of one case without loss, and with loss (ms). Timing is never asserted. */
const TIMEOUT_CLEAN_MS = 180_000;
const TIMEOUT_LOSSY_MS = 480_000;
/** The first build downloads gVisor through the module proxy and compiles it. */
const BUILD_TIMEOUT_MS = 15 * 60_000;

/** Builds the Go peer into a temp dir; returns its path, or why it cannot be built. */
async function buildPeer(): Promise<{ binary: string; dir: string } | { reason: string }> {
  if (!(await haveCommand("go"))) return { reason: "missing programs: go (the Go toolchain)" };
  const dir = await Deno.makeTempDir({ prefix: "tlgvisor-" });
  const binary = `${dir}/gvisor_peer`;
  const started = performance.now();
  const child = new Deno.Command("go", {
    // -mod=readonly: the committed go.sum pins every module, so the build is reproducible
    // and a missing or changed sum fails instead of being rewritten.
    args: ["build", "-mod=readonly", "-trimpath", "-buildvcs=false", "-o", binary, "."],
    cwd: PEER_SRC,
    env: { GOTOOLCHAIN: "local", GOFLAGS: "" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await withTimeout(
    "go build of tests/interop/gvisor_peer",
    child.output(),
    BUILD_TIMEOUT_MS,
  )
    .catch(async (err) => {
      await killAndWait(child);
      return { code: -1, stderr: new TextEncoder().encode((err as Error).message) };
    });
  if (out.code !== 0) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    const version = (await run("go", ["version"])).stdout.trim();
    return {
      reason: `go build of tests/interop/gvisor_peer failed (${version}): ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    };
  }
  console.log(
    `built the gVisor peer in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  return { binary, dir };
}

const built = await buildPeer();
const ignore = skipOrFail(TEST, "reason" in built ? built.reason : null);
if (!("reason" in built)) {
  // Also when the test is filtered out and never runs.
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(built.dir, { recursive: true });
    } catch { /* already removed */ }
  });
}

/** One JSON line of the Go peer. */
interface PeerEvent {
  event: "ready" | "connected" | "done" | "error";
  listenPort?: number;
  local?: string;
  remote?: string;
  sent?: number;
  sentSha256?: string;
  received?: number;
  receivedSha256?: string;
  sendSeconds?: number;
  receiveSeconds?: number;
  error?: string;
}

/** A running Go peer: its events as they come, its stderr, and a way to end it. */
class GoPeer {
  readonly child: Deno.ChildProcess;
  readonly #events: PeerEvent[] = [];
  #wake: (() => void) | null = null;
  #ended = false;
  stderr = "";
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  constructor(binary: string, args: string[]) {
    const child = new Deno.Command(binary, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#stdin = child.stdin.getWriter();
    (async () => {
      let pending = "";
      for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
        pending += text;
        let nl: number;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (!line) continue;
          try {
            this.#events.push(JSON.parse(line));
          } catch {
            this.#events.push({ event: "error", error: `unparsable line: ${line}` });
          }
        }
        this.#wake?.();
      }
      this.#ended = true;
      this.#wake?.();
    })();
    (async () => {
      for await (const s of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.stderr += s;
      }
    })();
  }

  /** The next event of kind `kind`; throws on an error event, on exit, or after `ms`. */
  async next(kind: PeerEvent["event"], ms: number): Promise<PeerEvent> {
    const deadline = Date.now() + ms;
    for (;;) {
      const e = this.#events.shift();
      if (e) {
        if (e.event === "error") throw new Error(`the Go peer failed: ${e.error}`);
        if (e.event === kind) return e;
        continue;
      }
      if (this.#ended) {
        throw new Error(`the Go peer exited before "${kind}"; stderr: ${this.stderr.trim()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out after ${ms} ms waiting for the Go peer's "${kind}"`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.#wake = null;
    }
  }

  /** Sends one line on its stdin. */
  async say(line: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(line + "\n"));
  }

  /** Closes its stdin (it exits once its exchange is done) and waits, killing it after 10 s. */
  async end(): Promise<Deno.CommandStatus> {
    await this.#stdin.close().catch(() => {});
    const exited = await withTimeout("the Go peer to exit", this.child.status, 10_000).catch(
      () => null,
    );
    if (exited) return exited;
    await killAndWait(this.child);
    return this.child.status;
  }
}

Deno.test({
  name:
    "our TCP and gVisor's TCP exchange 16 MiB each way byte-exact through our WireGuard and wireguard-go, with and without 3 % loss",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    if ("reason" in built) throw new Error(built.reason);
    const { binary, dir } = built;
    const octet = 16 + Math.floor(Math.random() * 200);
    const ourTunnel = `10.245.${octet}.1`;
    const theirTunnel = `10.245.${octet}.2`;
    const ours = generateKeyPair();
    const theirs = generateKeyPair();
    const fromUs = patternBytes(0x67766973, TRANSFER_BYTES);
    const fromUsSha = await sha256Hex(fromUs);
    const trace = new PacketTrace();

    /**
     * One case: a fresh Device (on a lossy loopback UDP bind), NetStack and Go peer; the
     * connection from `connect`; the exchange; then both sides' hashes compared.
     */
    const runCase = async (
      label: string,
      opts: { loss: number; seed: number; timeoutMs: number; mode: "server" | "client" },
    ) => {
      let device: Device | null = null;
      let stack: NetStack | null = null;
      let listener: TcpListener | null = null;
      let peer: GoPeer | null = null;
      const progress: ExchangeProgress = { sent: 0, received: 0 };
      const pcap = PCAP_DIR ? new PcapWriter(128, 256 << 20) : null;
      const lossy = new LossyBind(new UdpBind({ hostname: "127.0.0.1", port: 0 }), opts.seed);
      trace.clear();
      try {
        const s = new NetStack({
          address: ourTunnel,
          mtu: MTU,
          output: (p) => {
            trace.record("out", p);
            pcap?.record(p, performance.timeOrigin + performance.now());
            device!.sendPacket(p);
          },
        });
        stack = s;
        const dev = new Device({
          privateKey: ours.privateKey,
          bind: lossy,
          mtu: MTU,
          onPacket: (ip) => {
            trace.record("in", ip);
            pcap?.record(ip, performance.timeOrigin + performance.now());
            s.input(ip);
          },
        });
        device = dev;
        await dev.ready;
        const ourPort = (lossy.inner as UdpBind).localAddr.port;
        const tcpPort = opts.mode === "server" ? 5301 : 5302;
        if (opts.mode === "client") listener = s.listen(tcpPort);
        peer = new GoPeer(binary, [
          `-private-key=${keyToHex(theirs.privateKey)}`,
          `-peer-public-key=${keyToHex(ours.publicKey)}`,
          "-listen-port=0",
          `-peer-endpoint=127.0.0.1:${ourPort}`,
          `-allowed-ip=${ourTunnel}/32`,
          `-address=${theirTunnel}`,
          `-mtu=${MTU}`,
          `-mode=${opts.mode}`,
          `-tcp-port=${tcpPort}`,
          `-connect=${ourTunnel}:${tcpPort}`,
          `-send=${TRANSFER_BYTES}`,
          `-seed=${opts.seed}`,
          `-timeout=${Math.ceil(opts.timeoutMs / 1000) + 60}s`,
        ]);
        const ready = await peer.next("ready", 30_000);
        dev.addPeer({
          publicKey: theirs.publicKey,
          allowedIPs: [`${theirTunnel}/32`],
          endpoint: udpEndpoint("127.0.0.1", ready.listenPort!),
        });
        lossy.lossRate = opts.loss;
        let conn: TcpConn;
        if (opts.mode === "server") {
          conn = await withTimeout(`${label}: dial`, s.dial(theirTunnel, tcpPort), 30_000);
        } else {
          await peer.say("go");
          conn = await withTimeout(`${label}: accept`, listener!.accept(), 30_000);
          listener!.close();
        }
        const connected = await peer.next("connected", 30_000);
        assert.equal(connected.remote, `${ourTunnel}:${conn.localAddress.port}`);

        const r = await exchange(conn, fromUs, TRANSFER_BYTES, opts.timeoutMs, progress).catch(
          (err) => {
            throw new Error(`${label}: ${(err as Error).message}`);
          },
        );
        const done = await peer.next("done", 60_000);
        lossy.lossRate = 0;
        const status = await peer.end();
        peer = null;
        assert.equal(status.code, 0, `${label}: the Go peer exited with ${status.code}`);

        if (opts.loss > 0) {
          assert.ok(
            lossy.dropped.sent > 0 && lossy.dropped.received > 0,
            `${label}: the lossy bind dropped datagrams both ways: ${
              JSON.stringify(lossy.dropped)
            }`,
          );
        }
        // Byte-exact, both ways: what each side sent hashes to what the other received.
        assert.equal(done.sent, TRANSFER_BYTES, `${label}: bytes the Go peer sent`);
        assert.equal(r.received.length, TRANSFER_BYTES, `${label}: bytes we received`);
        assert.equal(
          await sha256Hex(r.received),
          done.sentSha256,
          `${label}: SHA-256 of what we received equals what gVisor sent`,
        );
        assert.equal(done.received, TRANSFER_BYTES, `${label}: bytes the Go peer received`);
        assert.equal(
          done.receivedSha256,
          fromUsSha,
          `${label}: SHA-256 of what gVisor received equals what we sent`,
        );
        console.log(
          `${label}: ours → gVisor ${TRANSFER_BYTES} B at ${
            rate(TRANSFER_BYTES, done.receiveSeconds! * 1000)
          } (until gVisor read our FIN, ${done.receiveSeconds!.toFixed(1)} s); gVisor → ours at ` +
            `${rate(TRANSFER_BYTES, r.receiveMs)} (until its FIN, ${
              (r.receiveMs / 1000).toFixed(1)
            } s); our FIN acked after ${(r.closedMs / 1000).toFixed(1)} s` +
            `\n  our stack: ${stackSummary(s)}` +
            `\n  datagrams dropped by the lossy bind: ${lossy.dropped.sent} sent, ` +
            `${lossy.dropped.received} received (seed ${opts.seed}); device drops: ${
              deviceDrops(dev)
            }; UDP send errors: ${(lossy.inner as UdpBind).sendErrors}`,
        );
      } catch (err) {
        console.log(
          `${label} FAILED after sending ${progress.sent} and receiving ${progress.received} ` +
            `bytes\n  our stack: ${stack ? stackSummary(stack) : "-"}\n  device drops: ${
              device ? deviceDrops(device) : "-"
            }\n  sockets: ${
              stack?.sockets().map((x) => `${x.localPort}->${x.remotePort} ${x.state}`).join(
                ", ",
              )
            }\n  Go peer stderr: ${peer?.stderr.trim() || "-"}\n  last packets:\n${trace.format()}`,
        );
        throw err;
      } finally {
        listener?.close();
        stack?.close();
        device?.close();
        if (peer !== null) await killAndWait(peer.child);
        if (pcap !== null) {
          const file = `${PCAP_DIR}/gvisor_tcp_${label.replace(/[^a-zA-Z0-9]+/g, "_")}.pcap`;
          await pcap.save(file);
          console.log(`  wrote the tunnel's packets to ${file}`);
        }
      }
    };

    try {
      await t.step(
        "our stack as client sends and receives 16 MiB byte-exact with a gVisor server",
        () =>
          runCase("ours→gVisor server", {
            loss: 0,
            seed: 1,
            timeoutMs: TIMEOUT_CLEAN_MS,
            mode: "server",
          }),
      );
      await t.step(
        "a gVisor client sends and receives 16 MiB byte-exact with our stack's listener",
        () =>
          runCase("gVisor client→our listener", {
            loss: 0,
            seed: 2,
            timeoutMs: TIMEOUT_CLEAN_MS,
            mode: "client",
          }),
      );
      // With loss, ours → gVisor is much slower than gVisor → ours: gVisor puts SACK blocks
      // only on ACKs sent in ESTABLISHED (tcp/connect.go sendRaw), so once it has sent its
      // FIN its duplicate ACKs carry none, and our RFC 6675 sender (which counts only ACKs
      // with new SACK information as duplicates) repairs each later loss by RTO.
      await t.step(
        "with 3 % of datagrams lost each way, our stack as client still moves 16 MiB each way byte-exact with a gVisor server",
        () =>
          runCase("ours→gVisor server, 3 % loss", {
            loss: LOSS_RATE,
            seed: 3,
            timeoutMs: TIMEOUT_LOSSY_MS,
            mode: "server",
          }),
      );
      await t.step(
        "with 3 % of datagrams lost each way, a gVisor client still moves 16 MiB each way byte-exact with our listener",
        () =>
          runCase("gVisor client→our listener, 3 % loss", {
            loss: LOSS_RATE,
            seed: 4,
            timeoutMs: TIMEOUT_LOSSY_MS,
            mode: "client",
          }),
      );
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
