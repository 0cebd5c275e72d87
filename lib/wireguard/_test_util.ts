/** Helpers shared by this folder's tests (not part of the public surface). */
import { Device, type DeviceOptions } from "./device.ts";
import { VirtualClock } from "../clock/mod.ts";
import { generateKeyPair, type KeyPair } from "./keys.ts";
import { type MemoryBind, memoryBindPair } from "./memory_bind.ts";
import type { Peer } from "./peer.ts";

/** Builds an IPv4 packet (protocol 253, experimental) with a valid header checksum. */
export function ipv4(src: string, dst: string, payload: Uint8Array, ttl = 64): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[8] = ttl;
  p[9] = 253;
  p.set(src.split(".").map(Number), 12);
  p.set(dst.split(".").map(Number), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (p[i] << 8) | p[i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  const c = ~sum & 0xffff;
  p[10] = c >> 8;
  p[11] = c & 0xff;
  p.set(payload, 20);
  return p;
}

/** Lets queued microtask deliveries (and whatever they trigger) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
}

/** Two devices A (10.77.1.1) and B (10.77.1.2) on a simulated wire with one fake clock. */
export interface Pair {
  clock: VirtualClock;
  a: Device;
  b: Device;
  aKeys: KeyPair;
  bKeys: KeyPair;
  /** A's view of B, and B's view of A. */
  peerB: Peer;
  peerA: Peer;
  wireA: MemoryBind;
  wireB: MemoryBind;
  gotA: Uint8Array[];
  gotB: Uint8Array[];
  close(): void;
}

/** Makes a connected pair; extra device options apply to both. */
export function makePair(
  extra: Partial<DeviceOptions> = {},
  peerExtra: { presharedKey?: Uint8Array; keepaliveA?: number; keepaliveB?: number } = {},
  bOnly: Partial<DeviceOptions> = {},
): Pair {
  const clock = (extra.clock as VirtualClock | undefined) ?? new VirtualClock(1_000_000);
  const wall = 1_800_000_000_000;
  const wallClock = () => wall + clock.now();
  const [wireA, wireB] = memoryBindPair();
  const aKeys = generateKeyPair();
  const bKeys = generateKeyPair();
  const gotA: Uint8Array[] = [];
  const gotB: Uint8Array[] = [];
  const common = { clock, wallClock, jitter: () => 0, ...extra };
  const a = new Device({
    privateKey: aKeys.privateKey,
    bind: wireA,
    onPacket: (p) => gotA.push(p.slice()),
    ...common,
  });
  const b = new Device({
    privateKey: bKeys.privateKey,
    bind: wireB,
    onPacket: (p) => gotB.push(p.slice()),
    ...common,
    ...bOnly,
  });
  const peerB = a.addPeer({
    publicKey: bKeys.publicKey,
    allowedIPs: ["10.77.1.2/32"],
    endpoint: "b",
    presharedKey: peerExtra.presharedKey,
    persistentKeepaliveSeconds: peerExtra.keepaliveA,
  });
  const peerA = b.addPeer({
    publicKey: aKeys.publicKey,
    allowedIPs: ["10.77.1.1/32"],
    endpoint: "a",
    presharedKey: peerExtra.presharedKey,
    persistentKeepaliveSeconds: peerExtra.keepaliveB,
  });

  return {
    clock,
    a,
    b,
    aKeys,
    bKeys,
    peerA,
    peerB,
    wireA,
    wireB,
    gotA,
    gotB,
    close() {
      a.close();
      b.close();
    },
  };
}

/** Bytes of a string. */
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * Advances a fake clock in steps, letting datagrams in flight arrive between steps
 * (a single big jump would fire every timer before any reply could land).
 */
export async function advanceSettled(
  clock: { advanceSync(ms: number): void },
  ms: number,
  step = 1000,
): Promise<void> {
  for (let done = 0; done < ms; done += step) {
    clock.advanceSync(Math.min(step, ms - done));
    await settle();
  }
}
