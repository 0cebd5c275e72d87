/**
 * The tunnel's TCP over a path that loses datagrams in bursts, the way a UDP socket's
 * kernel receive queue overflows when a sender bursts a whole congestion window at a
 * receiver whose one JS thread drains it a few datagrams per event-loop turn (Deno cannot
 * set SO_RCVBUF). Two WireGuard devices and netstacks (as lib/session/engine.ts wires
 * them) over an in-memory wire whose receiving end queues at most {@link QUEUE} transport
 * datagrams and hands {@link PER_TURN} to the device per macrotask, dropping the rest.
 * 16 MiB must arrive byte-exact, with losses recovered by fast recovery and tail loss
 * probes (RFC 6675, RFC 8985) instead of RTOs backed off for tens of seconds (RFC 6298 5.5),
 * which is what stalled a 16 MiB echo in the NAT lab for more than 40 s.
 * @module
 */
import assert from "node:assert/strict";
import { type Bind, type BindEndpoint, Device, memoryBindPair } from "../../lib/wireguard/mod.ts";
import { NetStack } from "../../lib/netstack/mod.ts";
import { generateSessionKeys } from "../../lib/session/mod.ts";

/** Datagrams the receive queue holds (about what 208 KiB of kernel buffer takes). */
const QUEUE = 64;
/** Datagrams handed to the device per event-loop turn. */
const PER_TURN = 16;
const TOTAL = 16 * 1024 * 1024;

/** A receive queue of `cap` datagrams drained `perTurn` per macrotask; overflow is dropped. */
class OverflowingQueueBind implements Bind {
  readonly #inner: Bind;
  readonly #q: [Uint8Array, BindEndpoint][] = [];
  #scheduled = false;
  #closed = false;
  dropped = 0;
  constructor(inner: Bind) {
    this.#inner = inner;
  }
  open(receive: (d: Uint8Array, from: BindEndpoint) => void): void | Promise<void> {
    const drain = () => {
      this.#scheduled = false;
      if (this.#closed) return;
      for (const [d, from] of this.#q.splice(0, PER_TURN)) receive(d, from);
      if (this.#q.length > 0) this.#schedule(drain);
    };
    return this.#inner.open((d, from) => {
      // Handshake messages pass; transport data (type 4) overflows.
      if (d[0] === 4 && this.#q.length >= QUEUE) {
        this.dropped++;
        return;
      }
      this.#q.push([d, from]);
      this.#schedule(drain);
    });
  }
  #schedule(drain: () => void): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(drain, 0);
  }
  send(d: Uint8Array, to: BindEndpoint): void {
    this.#inner.send(d, to);
  }
  close(): void {
    this.#closed = true;
    this.#inner.close();
  }
  endpointString(e: BindEndpoint): string {
    return String(e);
  }
}

function side(
  bind: Bind,
  keys: { privateKey: Uint8Array },
  peer: { publicKey: Uint8Array },
  addr: string,
  peerAddr: string,
  endpoint: string,
  keepalive: number,
) {
  let stack: NetStack | null = null;
  const device = new Device({
    privateKey: keys.privateKey,
    bind,
    onPacket: (ip) => stack?.input(ip),
  });
  stack = new NetStack({ address: addr, mtu: 1100, output: (ip) => device.sendPacket(ip) });
  device.addPeer({
    publicKey: peer.publicKey,
    allowedIPs: [`${peerAddr}/32`],
    endpoint,
    ...(keepalive > 0 ? { persistentKeepaliveSeconds: keepalive } : {}),
  });
  return { device, stack };
}

/** The byte at offset `i` of the transfer. */
const at = (i: number) => (i * 131 + (i >>> 12)) & 0xff;

Deno.test("16 MiB through WireGuard + netstack over an overflowing receive queue arrive byte-exact without RTO stalls", async () => {
  const [ma, mb] = memoryBindPair();
  const qa = new OverflowingQueueBind(ma);
  const qb = new OverflowingQueueBind(mb);
  const ka = generateSessionKeys(), kb = generateSessionKeys();
  const agent = side(qa, ka, kb, "10.77.1.1", "10.77.1.2", "b", 0);
  const client = side(qb, kb, ka, "10.77.1.2", "10.77.1.1", "a", 25);
  const listener = agent.stack.listen(9);
  let guard: ReturnType<typeof setTimeout> | undefined;
  try {
    const received = (async () => {
      const c = await listener.accept();
      let n = 0, bad = -1;
      for await (const b of c.readable) {
        for (let k = 0; k < b.length; k++) if (bad < 0 && b[k] !== at(n + k)) bad = n + k;
        n += b.length;
      }
      return { n, bad };
    })();
    const conn = await client.stack.dial("10.77.1.1", 9);
    const w = conn.writable.getWriter();
    const chunk = new Uint8Array(64 * 1024);
    for (let off = 0; off < TOTAL; off += chunk.length) {
      for (let k = 0; k < chunk.length; k++) chunk[k] = at(off + k);
      await w.write(chunk.slice());
    }
    await w.close();
    // Hang guard only (no speed assertion): a stall of minutes fails here.
    const timeout = new Promise<never>((_, rej) => {
      guard = setTimeout(() => rej(new Error("16 MiB did not arrive within 180 s")), 180_000);
    });
    const r = await Promise.race([received, timeout]);
    const tcp = client.stack.stats.tcp;
    const info = JSON.stringify({ queueDrops: qa.dropped, sender: tcp });
    if (Deno.env.get("SHOW")) console.log(info);
    assert.equal(r.n, TOTAL, `all octets arrived: ${info}`);
    assert.equal(r.bad, -1, `byte-exact (first difference at ${r.bad})`);
    assert.ok(qa.dropped > 0, `the receive queue overflowed: ${info}`);
    assert.ok(tcp.fastRetransmits + tcp.tlpRecoveries > 0, `losses were recovered: ${info}`);
    // No RTO backed off beyond 4 doublings of the 200 ms floor (a stall of seconds, not 40).
    assert.ok(tcp.maxRtoMs <= 3200, `RTO backed off to ${tcp.maxRtoMs} ms: ${info}`);
    assert.ok(tcp.timeouts <= 10, `${tcp.timeouts} RTOs: ${info}`);
  } finally {
    clearTimeout(guard);
    listener.close();
    agent.stack.close();
    client.stack.close();
    agent.device.close();
    client.device.close();
  }
});
