/**
 * WireGuard benchmarks: AEAD seal+open throughput per backend at 1100-byte and
 * 16-KiB packets, the whole transport path between two in-process devices, and
 * handshakes per second. Prints a table. Every loop is bounded in time and count.
 *
 *   deno run -A bench/wireguard.ts [--seconds=1]
 */
import { type AeadBackend, availableAeads, nobleAead } from "../lib/crypto/mod.ts";
import {
  Device,
  generateKeyPair,
  memoryBindPair,
  UdpBind,
  udpEndpoint,
} from "../lib/wireguard/mod.ts";
import { VirtualClock } from "../lib/clock/mod.ts";
import { fmt, printTable } from "./_table.ts";

const SECONDS = Number(Deno.args.find((a) => a.startsWith("--seconds="))?.split("=")[1] ?? 1);
const MAX_ITERATIONS = 5_000_000;

/** Runs `fn` repeatedly for about SECONDS (after a short warm-up); returns ops/s. */
function measure(fn: () => void): number {
  const warmEnd = performance.now() + 200;
  for (let i = 0; i < MAX_ITERATIONS && performance.now() < warmEnd; i++) fn();
  const start = performance.now();
  const end = start + SECONDS * 1000;
  let n = 0;
  while (n < MAX_ITERATIONS) {
    for (let i = 0; i < 16; i++) fn();
    n += 16;
    if (performance.now() >= end) break;
  }
  return n / ((performance.now() - start) / 1000);
}

function backends(): AeadBackend[] {
  const list = availableAeads();
  return list.includes(nobleAead) ? list : [...list, nobleAead];
}

interface Row {
  what: string;
  backend: string;
  size: string;
  rate: string;
  mbps: string;
}
const rows: Row[] = [];

// 1. AEAD: seal then open one packet (what one packet costs across the tunnel).
for (const backend of backends()) {
  for (const size of [1100, 16384]) {
    const key = backend.importKey(crypto.getRandomValues(new Uint8Array(32)));
    const nonce = new Uint8Array(12);
    const plain = crypto.getRandomValues(new Uint8Array(size));
    const sealed = new Uint8Array(size + 16);
    const opened = new Uint8Array(size);
    const nonceView = new DataView(nonce.buffer);
    let counter = 0;
    const ops = measure(() => {
      nonceView.setUint32(4, counter++, true);
      key.seal(nonce, plain, undefined, sealed, 0);
      if (key.open(nonce, sealed, undefined, opened, 0) !== size) throw new Error("open failed");
    });
    rows.push({
      what: "AEAD seal+open",
      backend: backend.name,
      size: `${size} B`,
      rate: `${fmt(ops)} pkt/s`,
      mbps: fmt((ops * size) / 1e6),
    });
  }
}

// 2. Whole transport path: Device.sendPacket -> seal -> bind -> receive -> open -> onPacket.
for (const backend of backends()) {
  for (const size of [1100, 16384]) {
    const clock = new VirtualClock(1_000_000);
    const [wa, wb] = memoryBindPair();
    wa.synchronous = wb.synchronous = true;
    const ka = generateKeyPair();
    const kb = generateKeyPair();
    let delivered = 0;
    const a = new Device({
      privateKey: ka.privateKey,
      bind: wa,
      onPacket: () => {},
      clock,
      aead: backend,
    });
    const b = new Device({
      privateKey: kb.privateKey,
      bind: wb,
      onPacket: () => delivered++,
      clock,
      aead: backend,
    });
    b.addPeer({ publicKey: ka.publicKey, allowedIPs: ["10.77.1.1/32"], endpoint: "a" });
    a.addPeer({ publicKey: kb.publicKey, allowedIPs: ["10.77.1.2/32"], endpoint: "b" });
    const pkt = new Uint8Array(size);
    pkt.set([
      0x45,
      0,
      size >> 8,
      size & 0xff,
      0,
      0,
      0,
      0,
      64,
      17,
      0,
      0,
      10,
      77,
      1,
      1,
      10,
      77,
      1,
      2,
    ]);
    a.sendPacket(pkt); // handshake (synchronous over this wire)
    const ops = measure(() => a.sendPacket(pkt));
    if (delivered < 1000) throw new Error(`only ${delivered} packets delivered`);
    a.close();
    b.close();
    rows.push({
      what: "device -> device",
      backend: backend.name,
      size: `${size} B`,
      rate: `${fmt(ops)} pkt/s`,
      mbps: fmt((ops * size) / 1e6),
    });
  }
}

// 3. The same over real UDP sockets on 127.0.0.1 (Deno.listenDatagram), with a send
// window so the receiver keeps up; counts only packets that arrived.
for (const size of [1100]) {
  const bindA = new UdpBind({ hostname: "127.0.0.1" });
  const bindB = new UdpBind({ hostname: "127.0.0.1" });
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  let delivered = 0;
  const a = new Device({ privateKey: ka.privateKey, bind: bindA, onPacket: () => {} });
  const b = new Device({ privateKey: kb.privateKey, bind: bindB, onPacket: () => delivered++ });
  await a.ready;
  await b.ready;
  b.addPeer({ publicKey: ka.publicKey, allowedIPs: ["10.77.1.1/32"] });
  a.addPeer({
    publicKey: kb.publicKey,
    allowedIPs: ["10.77.1.2/32"],
    endpoint: udpEndpoint("127.0.0.1", bindB.localAddr.port),
  });
  const pkt = new Uint8Array(size);
  pkt.set([0x45, 0, size >> 8, size & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 10, 77, 1, 1, 10, 77, 1, 2]);
  a.sendPacket(pkt);
  const hsEnd = performance.now() + 5000;
  while (delivered < 1 && performance.now() < hsEnd) await new Promise((r) => setTimeout(r, 1));
  const WINDOW = 64;
  let sent = 0;
  const first = delivered;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end && sent < MAX_ITERATIONS) {
    for (let i = 0; i < 16; i++, sent++) a.sendPacket(pkt);
    const waitEnd = performance.now() + 50;
    while (delivered - first < sent - WINDOW && performance.now() < waitEnd) {
      await new Promise((r) => setTimeout(r, 0));
    }
  }
  const elapsed = (performance.now() - start) / 1000;
  const got = delivered - first;
  a.close();
  b.close();
  rows.push({
    what: "device -> device, UDP",
    backend: a.aead.name,
    size: `${size} B`,
    rate: `${fmt(got / elapsed)} pkt/s`,
    mbps: fmt((got * size) / elapsed / 1e6),
  });
}

// 4. Handshakes: initiation, response, both consumed, keys derived, first keepalive.
{
  const clock = new VirtualClock(1_000_000);
  const [wa, wb] = memoryBindPair();
  wa.synchronous = wb.synchronous = true;
  const ka = generateKeyPair();
  const kb = generateKeyPair();
  const a = new Device({ privateKey: ka.privateKey, bind: wa, onPacket: () => {}, clock });
  const b = new Device({ privateKey: kb.privateKey, bind: wb, onPacket: () => {}, clock });
  b.addPeer({ publicKey: ka.publicKey, allowedIPs: ["10.77.1.1/32"], endpoint: "a" });
  const peer = a.addPeer({ publicKey: kb.publicKey, allowedIPs: ["10.77.1.2/32"], endpoint: "b" });
  const ops = measure(() => {
    clock.advanceSync(5_001); // one initiation per REKEY_TIMEOUT
    peer.initiateHandshake();
  });
  const done = a.stats.handshakesCompleted;
  a.close();
  b.close();
  if (done < 10) throw new Error(`only ${done} handshakes completed`);
  rows.push({
    what: "handshake (both ends)",
    backend: "-",
    size: "-",
    rate: `${fmt(ops)} /s`,
    mbps: "-",
  });
}

printTable(
  `WireGuard (Deno ${Deno.version.deno}, ${SECONDS}s per row, single thread)`,
  ["benchmark", "AEAD backend", "packet", "rate", "MB/s"],
  rows.map((r) => [r.what, r.backend, r.size, r.rate, r.mbps]),
);
