/**
 * A WireGuard device (whitepaper §5): our static key, the peers and cryptokey routing.
 * Datagrams from the bind go to the receive path (`receive.ts`); IP packets to send go to
 * the peer their destination routes to (`send.ts`). The device implements the interfaces
 * those modules and the peer declare ({@link PeerDevice}); none of them imports it.
 * @module
 */
import { type AeadBackend, bestAead, publicKeyOf } from "../crypto/mod.ts";
import { type Clock, systemClock } from "../clock/mod.ts";
import { AllowedIPs } from "./allowed_ips.ts";
import type { Bind, BindEndpoint } from "./bind.ts";
import { DEFAULT_LIMITS, type Limits, REKEY_TIMEOUT_JITTER_MAX } from "./constants.ts";
import { IndexTable } from "./index_table.ts";
import type { Keypair } from "./keypair.ts";
import { InvalidKeyError, keyToHex } from "./keys.ts";
import { Peer, type PeerDevice, type PeerOptions } from "./peer.ts";
import { Receiver } from "./receive.ts";
import { MAX_IP_PACKET, TransportSealer } from "./send.ts";
import { type DeviceStats, type DropReason, newDeviceStats } from "./stats.ts";

export type { DeviceStats, DropReason } from "./stats.ts";

/** Options of a {@link Device}. */
export interface DeviceOptions {
  /** Our static private key (32 bytes). */
  privateKey: Uint8Array;
  /** The datagram transport; the device calls `bind.open` at construction. */
  bind: Bind;
  /** Receives each decrypted IP packet (valid during the call) and the peer it came from. */
  onPacket: (ip: Uint8Array, peer: Peer) => void;
  /** Monotonic clock for timers; defaults to the system clock. */
  clock?: Clock;
  /** Wall-clock ms since the Unix epoch, for TAI64N timestamps; defaults to Date.now. */
  wallClock?: () => number;
  /** AEAD backend; defaults to the fastest available ({@link bestAead}). */
  aead?: AeadBackend;
  /** Overrides of the paper's timers and limits (tests). */
  limits?: Partial<Limits>;
  /** Tunnel MTU in bytes; caps transport padding. 0/absent: pad to 16 without cap. */
  mtu?: number;
  /** Handshake messages per second that put the device under load (default 64). */
  underLoadThreshold?: number;
  /** Forces the under-load decision (true = always demand cookies), for tests/operators. */
  underLoad?: () => boolean;
  /** Random jitter for handshake timers in ms, [0, 334); injectable for tests. */
  jitter?: () => number;
  /** Called when a handshake with a peer completes (both sides). */
  onHandshake?: (peer: Peer) => void;
}

/** A WireGuard interface without a TUN: IP packets in and out through callbacks. */
export class Device implements PeerDevice {
  /** Our static private key. */
  readonly privateKey: Uint8Array;
  /** Our static public key. */
  readonly publicKey: Uint8Array;
  /** Counters, updated in place. */
  readonly stats: DeviceStats = newDeviceStats();
  /** Resolves once `bind.open` has finished. */
  readonly ready: Promise<void>;
  /** @internal */
  readonly bind: Bind;
  /** @internal */
  readonly clock: Clock;
  /** @internal */
  readonly limits: Limits;
  /** @internal */
  readonly indexTable: IndexTable<Peer> = new IndexTable<Peer>();
  /** @internal */
  readonly aead: AeadBackend;
  /** @internal */
  readonly onHandshake?: (peer: Peer) => void;

  #wallClock: () => number;
  #peers = new Map<string, Peer>();
  #routes = new AllowedIPs<Peer>();
  #jitter: () => number;
  #closed = false;
  #sealer: TransportSealer;
  #receiver: Receiver;

  /**
   * Creates the device and opens its bind (see `ready`).
   * @throws {KeyLengthError} (lib/crypto) if the private key is not 32 bytes.
   * @throws whatever a synchronous `bind.open` throws, e.g. `UdpBindError` when the
   *   UDP port is taken.
   */
  constructor(opts: DeviceOptions) {
    this.privateKey = opts.privateKey.slice();
    this.publicKey = publicKeyOf(this.privateKey);
    this.bind = opts.bind;
    this.clock = opts.clock ?? systemClock;
    this.#wallClock = opts.wallClock ?? Date.now;
    this.aead = opts.aead ?? bestAead();
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    // Counters are JS numbers: above 2^53 they lose precision, so refuse them (the
    // paper's 2^64 - 2^13 - 1 is unreachable in practice anyway).
    this.limits.rejectAfterMessages = Math.min(
      this.limits.rejectAfterMessages,
      Number.MAX_SAFE_INTEGER,
    );
    this.#jitter = opts.jitter ?? (() => Math.floor(Math.random() * REKEY_TIMEOUT_JITTER_MAX));
    this.onHandshake = opts.onHandshake;
    this.#sealer = new TransportSealer(opts.mtu ?? 0);
    this.#receiver = new Receiver(this, {
      route: (ip, offset, length) => this.#routes.lookup(ip, offset, length),
      onPacket: opts.onPacket,
      underLoadThreshold: opts.underLoadThreshold,
      underLoad: opts.underLoad,
    });
    this.ready = Promise.resolve(this.bind.open((d, from) => this.receive(d, from)));
    this.ready.catch(() => {}); // a failed open surfaces through `ready`, never as unhandled
  }

  // --- what the handshake needs (noise.ts NoiseContext, structurally) ---
  /** @internal */
  get staticPrivate(): Uint8Array {
    return this.privateKey;
  }
  /** @internal */
  get staticPublic(): Uint8Array {
    return this.publicKey;
  }
  /** @internal */
  now(): number {
    return this.clock.now();
  }
  /** @internal */
  wallNow(): number {
    return this.#wallClock();
  }
  /** @internal */
  jitter(): number {
    return this.#jitter();
  }
  /** Finds a peer by its public key. */
  peerByKey(publicKey: Uint8Array): Peer | undefined {
    return this.#peers.get(keyToHex(publicKey));
  }

  /** All peers. */
  get peers(): Peer[] {
    return [...this.#peers.values()];
  }

  /**
   * Adds a peer (or replaces the one with the same public key).
   * @throws {InvalidKeyError} when a key is not 32 bytes.
   * @throws {InvalidPrefixError} on a malformed allowed-IP prefix.
   */
  addPeer(opts: PeerOptions): Peer {
    if (opts.publicKey.length !== 32) {
      throw new InvalidKeyError(
        `peer public key must be 32 bytes, got ${opts.publicKey.length}`,
      );
    }
    if (opts.presharedKey !== undefined && opts.presharedKey.length !== 32) {
      throw new InvalidKeyError(
        `peer preshared key must be 32 bytes, got ${opts.presharedKey.length}`,
      );
    }
    const old = this.peerByKey(opts.publicKey);
    if (old !== undefined) this.removePeer(old);
    const peer = new Peer(this, opts);
    const added: string[] = [];
    try {
      for (const p of opts.allowedIPs) {
        this.#routes.insert(p, peer);
        added.push(p);
      }
    } catch (e) {
      this.#routes.removeValue(peer);
      throw e;
    }
    this.#peers.set(keyToHex(peer.publicKey), peer);
    if ((opts.persistentKeepaliveSeconds ?? 0) > 0 && opts.endpoint !== undefined) {
      peer.sendKeepalive();
    }
    return peer;
  }

  /** Removes a peer, its routes, keys and timers. */
  removePeer(peer: Peer): void {
    this.#routes.removeValue(peer);
    this.#peers.delete(keyToHex(peer.publicKey));
    peer.close();
  }

  /** Allowed-IP prefixes of a peer, as text. */
  allowedIPsOf(peer: Peer): string[] {
    return this.#routes.prefixesOf(peer);
  }

  /**
   * Sends one IP packet (valid during the call) to the peer whose allowed IPs hold
   * its destination (IPv4 or IPv6). Unroutable packets are counted as "no-route".
   */
  sendPacket(ip: Uint8Array): void {
    if (this.#closed) return;
    let peer: Peer | undefined;
    const version = ip.length > 0 && ip.length <= MAX_IP_PACKET ? ip[0] >> 4 : 0;
    if (version === 4 && ip.length >= 20) peer = this.#routes.lookup(ip, 16, 4);
    else if (version === 6 && ip.length >= 40) peer = this.#routes.lookup(ip, 24, 16);
    else return this.drop("bad-ip");
    if (peer === undefined) return this.drop("no-route");
    peer.sendPacket(ip);
  }

  /** Closes the bind and stops every peer's timers. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#peers.values()) p.close();
    try {
      this.bind.close();
    } catch {
      // already closed
    }
  }

  /** @internal Counts a drop. */
  drop(reason: DropReason, n = 1): void {
    if (n <= 0) return;
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + n;
    this.stats.droppedTotal += n;
  }

  /**
   * Handles one datagram from the bind (also callable directly by a bind or test).
   * Never throws: anything malformed is counted in `stats.dropped`.
   */
  receive(datagram: Uint8Array, from: BindEndpoint): void {
    if (this.#closed) return;
    this.stats.rxDatagrams++;
    this.stats.rxBytes += datagram.length;
    try {
      this.#receiver.receive(datagram, from);
    } catch {
      this.drop("internal");
    }
  }

  /**
   * @internal Builds a transport message for `ip` with `kp` in a reused buffer and
   * advances the send counter. The returned view is valid until the next call and has
   * TRANSPORT_HEADROOM free octets in front of it.
   */
  sealTransport(kp: Keypair, ip: Uint8Array): Uint8Array {
    return this.#sealer.seal(kp, ip);
  }
}
