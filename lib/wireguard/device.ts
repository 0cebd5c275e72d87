/**
 * A WireGuard device: our static key, the peers, cryptokey routing, and the
 * receive path that demultiplexes datagrams from the bind (whitepaper §5).
 * Bad datagrams are counted and dropped; nothing they contain can make the
 * device throw.
 * @module
 */
import { type AeadBackend, bestAead, publicKeyOf } from "../crypto/mod.ts";
import { AllowedIPs } from "./allowed_ips.ts";
import { type Bind, type BindEndpoint, TRANSPORT_HEADROOM } from "./bind.ts";
import { type Clock, systemClock } from "../clock/mod.ts";
import {
  DEFAULT_LIMITS,
  type Limits,
  PADDING_MULTIPLE,
  REKEY_TIMEOUT_JITTER_MAX,
  UNDER_LOAD_AFTER_TIME,
  UNDER_LOAD_HANDSHAKES_PER_SECOND,
} from "./constants.ts";
import { CookieChecker } from "./cookie.ts";
import { IndexTable } from "./index_table.ts";
import type { Keypair } from "./keypair.ts";
import { keyToHex } from "./keys.ts";
import {
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_MIN_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  messageType,
  readU32,
  readU64,
  TRANSPORT_OFFSET_COUNTER,
  TRANSPORT_OFFSET_RECEIVER,
  writeU32,
  writeU64,
} from "./messages.ts";
import { consumeInitiation, consumeResponse } from "./noise.ts";
import { Peer, type PeerOptions } from "./peer.ts";
import { RateLimiter } from "./ratelimiter.ts";

/** Why a datagram or packet was dropped (keys of {@link DeviceStats.dropped}). */
export type DropReason =
  | "short"
  | "unknown-type"
  | "bad-size"
  | "bad-mac1"
  | "cookie-required"
  | "rate-limited"
  | "handshake-invalid"
  | "unknown-peer"
  | "stale-timestamp"
  | "handshake-flood"
  | "unknown-index"
  | "cookie-invalid"
  | "expired-keypair"
  | "decrypt-failed"
  | "replay"
  | "bad-ip"
  | "not-allowed-ip"
  | "no-route"
  | "no-endpoint"
  | "send-failed"
  | "staged-overflow"
  | "staged-expired"
  | "internal";

/** Device-wide counters. Byte counts are datagram bytes as they cross the bind. */
export interface DeviceStats {
  /** Datagrams handed in by the bind. */
  rxDatagrams: number;
  /** Bytes of those datagrams. */
  rxBytes: number;
  /** Datagrams given to the bind. */
  txDatagrams: number;
  /** Bytes of those datagrams. */
  txBytes: number;
  /** IP packets delivered to onPacket. */
  rxPackets: number;
  /** IP packets encrypted and sent. */
  txPackets: number;
  /** Handshakes completed (as initiator on the response, as responder on confirmation). */
  handshakesCompleted: number;
  /** Cookie replies sent while under load. */
  cookieRepliesSent: number;
  /** Cookie replies accepted from peers. */
  cookieRepliesReceived: number;
  /** Total drops; per reason in `dropped`. */
  droppedTotal: number;
  /** Drops by reason. */
  dropped: Partial<Record<DropReason, number>>;
}

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

/** Largest IP packet the device carries (the IPv4/IPv6 length field's range). */
const MAX_IP_PACKET = 65535;
const MAX_DATAGRAM = 65536 + MESSAGE_TRANSPORT_MIN_SIZE + PADDING_MULTIPLE;

/** A WireGuard interface without a TUN: IP packets in and out through callbacks. */
export class Device {
  /** Our static private key. */
  readonly privateKey: Uint8Array;
  /** Our static public key. */
  readonly publicKey: Uint8Array;
  /** Counters, updated in place. */
  readonly stats: DeviceStats = {
    rxDatagrams: 0,
    rxBytes: 0,
    txDatagrams: 0,
    txBytes: 0,
    rxPackets: 0,
    txPackets: 0,
    handshakesCompleted: 0,
    cookieRepliesSent: 0,
    cookieRepliesReceived: 0,
    droppedTotal: 0,
    dropped: {},
  };
  /** Resolves once `bind.open` has finished. */
  readonly ready: Promise<void>;
  /** @internal */
  readonly bind: Bind;
  /** @internal */
  readonly clock: Clock;
  /** @internal */
  readonly limits: Limits;
  /** @internal */
  readonly indexTable: IndexTable = new IndexTable();
  /** @internal */
  readonly aead: AeadBackend;
  /** @internal */
  readonly onHandshake?: (peer: Peer) => void;

  #onPacket: (ip: Uint8Array, peer: Peer) => void;
  #wallClock: () => number;
  #peers = new Map<string, Peer>();
  #routes = new AllowedIPs<Peer>();
  #cookieChecker: CookieChecker;
  #rateLimiter: RateLimiter;
  #mtu: number;
  #jitter: () => number;
  #underLoadThreshold: number;
  #underLoadHook?: () => boolean;
  #underLoadUntil = -Infinity;
  #handshakeWindowStart = -Infinity;
  #handshakeWindowCount = 0;
  #closed = false;
  // Per-packet buffers, reused: the engine is single-threaded and callers copy.
  /** Transport messages are built at TRANSPORT_HEADROOM into this store (see Bind.send). */
  #txStore = new Uint8Array(TRANSPORT_HEADROOM + MAX_DATAGRAM);
  #txBuffer = this.#txStore.subarray(TRANSPORT_HEADROOM);
  #txPlain = new Uint8Array(MAX_DATAGRAM);
  #txNonce = new Uint8Array(12);
  #rxBuffer = new Uint8Array(MAX_DATAGRAM);
  #rxNonce = new Uint8Array(12);
  #enc = new TextEncoder();

  /**
   * Creates the device and opens its bind (see `ready`).
   * @throws Error if the private key is not 32 bytes, or if a synchronous bind open fails
   * (e.g. the UDP port is taken).
   */
  constructor(opts: DeviceOptions) {
    this.privateKey = opts.privateKey.slice();
    this.publicKey = publicKeyOf(this.privateKey);
    this.bind = opts.bind;
    this.#onPacket = opts.onPacket;
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
    this.#mtu = opts.mtu ?? 0;
    this.#jitter = opts.jitter ?? (() => Math.floor(Math.random() * REKEY_TIMEOUT_JITTER_MAX));
    this.#underLoadThreshold = opts.underLoadThreshold ?? UNDER_LOAD_HANDSHAKES_PER_SECOND;
    this.#underLoadHook = opts.underLoad;
    this.onHandshake = opts.onHandshake;
    this.#cookieChecker = new CookieChecker(this.publicKey, this.clock);
    this.#rateLimiter = new RateLimiter(this.clock);
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
   * @throws Error on a malformed key or allowed-IP prefix.
   */
  addPeer(opts: PeerOptions): Peer {
    if (opts.publicKey.length !== 32) throw new Error("peer public key must be 32 bytes");
    if (opts.presharedKey !== undefined && opts.presharedKey.length !== 32) {
      throw new Error("peer preshared key must be 32 bytes");
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
      this.#dispatch(datagram, from);
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
    const len = ip.length;
    let padded = (len + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
    if (this.#mtu > 0 && len <= this.#mtu && padded > this.#mtu) padded = this.#mtu;
    let plain = ip;
    if (padded !== len) {
      this.#txPlain.set(ip);
      this.#txPlain.fill(0, len, padded);
      plain = this.#txPlain.subarray(0, padded);
    }
    const counter = kp.sendNonce++;
    const out = this.#txBuffer;
    out[0] = MESSAGE_TRANSPORT_TYPE;
    out[1] = out[2] = out[3] = 0;
    writeU32(out, TRANSPORT_OFFSET_RECEIVER, kp.remoteIndex);
    writeU64(out, TRANSPORT_OFFSET_COUNTER, counter);
    writeU64(this.#txNonce, 4, counter);
    const n = kp.sendKey.seal(this.#txNonce, plain, undefined, out, MESSAGE_TRANSPORT_HEADER_SIZE);
    return out.subarray(0, MESSAGE_TRANSPORT_HEADER_SIZE + n);
  }

  #dispatch(d: Uint8Array, from: BindEndpoint): void {
    const type = messageType(d);
    switch (type) {
      case MESSAGE_TRANSPORT_TYPE:
        if (d.length < MESSAGE_TRANSPORT_MIN_SIZE) return this.drop("bad-size");
        return this.#receiveTransport(d, from);
      case MESSAGE_INITIATION_TYPE:
        if (d.length !== MESSAGE_INITIATION_SIZE) return this.drop("bad-size");
        return this.#receiveHandshake(d, from, type);
      case MESSAGE_RESPONSE_TYPE:
        if (d.length !== MESSAGE_RESPONSE_SIZE) return this.drop("bad-size");
        return this.#receiveHandshake(d, from, type);
      case MESSAGE_COOKIE_REPLY_TYPE:
        if (d.length !== MESSAGE_COOKIE_REPLY_SIZE) return this.drop("bad-size");
        return this.#receiveCookieReply(d);
      default:
        return this.drop(d.length < 4 ? "short" : "unknown-type");
    }
  }

  #isUnderLoad(): boolean {
    const now = this.clock.now();
    if (now - this.#handshakeWindowStart >= 1000) {
      this.#handshakeWindowStart = now;
      this.#handshakeWindowCount = 0;
    }
    if (++this.#handshakeWindowCount > this.#underLoadThreshold) {
      this.#underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
    }
    if (this.#underLoadHook !== undefined) return this.#underLoadHook();
    return now < this.#underLoadUntil;
  }

  #sourceString(from: BindEndpoint): string {
    return this.bind.endpointString?.(from) ?? "";
  }

  #receiveHandshake(d: Uint8Array, from: BindEndpoint, type: number): void {
    if (!this.#cookieChecker.checkMac1(d)) return this.drop("bad-mac1");
    if (this.#isUnderLoad()) {
      const source = this.#sourceString(from);
      const sourceBytes = this.#enc.encode(source);
      if (!this.#cookieChecker.checkMac2(d, sourceBytes)) {
        const reply = this.#cookieChecker.createReply(d, readU32(d, 4), sourceBytes);
        try {
          this.bind.send(reply, from);
          this.stats.txDatagrams++;
          this.stats.txBytes += reply.length;
          this.stats.cookieRepliesSent++;
        } catch {
          this.drop("send-failed");
        }
        return this.drop("cookie-required");
      }
      // Rate-limit per host, not per port (wireguard-go limits per IP).
      const colon = source.lastIndexOf(":");
      if (!this.#rateLimiter.allow(colon > 0 ? source.slice(0, colon) : source)) {
        return this.drop("rate-limited");
      }
    }
    if (type === MESSAGE_INITIATION_TYPE) {
      const r = consumeInitiation(this, d);
      if (typeof r === "string") return this.drop(r);
      if (from !== undefined) r.endpoint = from;
      r.timersAnyAuthenticatedPacketTraversal();
      r.timersAnyAuthenticatedPacketReceived();
      r.stats.rxBytes += d.length;
      if (!r.sendHandshakeResponse()) this.drop("handshake-invalid");
    } else {
      const peer = consumeResponse(this, d);
      if (peer === null) return this.drop("handshake-invalid");
      if (from !== undefined) peer.endpoint = from;
      peer.timersAnyAuthenticatedPacketTraversal();
      peer.timersAnyAuthenticatedPacketReceived();
      peer.stats.rxBytes += d.length;
      if (!peer.completeHandshakeAsInitiator()) this.drop("handshake-invalid");
    }
  }

  #receiveCookieReply(d: Uint8Array): void {
    const entry = this.indexTable.lookup(readU32(d, 4));
    if (entry === undefined) return this.drop("unknown-index");
    if (!entry.peer.cookieGenerator.consumeReply(d)) return this.drop("cookie-invalid");
    this.stats.cookieRepliesReceived++;
  }

  #receiveTransport(d: Uint8Array, from: BindEndpoint): void {
    const entry = this.indexTable.lookup(readU32(d, TRANSPORT_OFFSET_RECEIVER));
    const kp = entry?.keypair;
    if (entry === undefined || kp == null) return this.drop("unknown-index");
    const peer = entry.peer;
    const counter = readU64(d, TRANSPORT_OFFSET_COUNTER);
    if (!peer.keypairUsableForReceive(kp, counter)) return this.drop("expired-keypair");

    writeU64(this.#rxNonce, 4, counter);
    const sealed = d.subarray(MESSAGE_TRANSPORT_HEADER_SIZE);
    const n = kp.receiveKey.open(this.#rxNonce, sealed, undefined, this.#rxBuffer, 0);
    if (n < 0) return this.drop("decrypt-failed");
    if (!kp.replay.validate(counter, this.limits.rejectAfterMessages)) return this.drop("replay");

    // Authenticated: roam to the source, rotate keys, run the timers.
    if (from !== undefined) peer.endpoint = from; // roaming
    peer.stats.rxBytes += d.length;
    peer.receivedWithKeypair(kp);
    peer.keepKeyFreshReceiving();
    peer.timersAnyAuthenticatedPacketTraversal();
    peer.timersAnyAuthenticatedPacketReceived();
    if (n === 0) return; // keepalive

    peer.timersDataReceived();
    const p = this.#rxBuffer;
    const version = p[0] >> 4;
    let length: number;
    let allowed: Peer | undefined;
    if (version === 4 && n >= 20) {
      length = (p[2] << 8) | p[3];
      if (length < 20 || length > n) return this.drop("bad-ip");
      allowed = this.#routes.lookup(p, 12, 4);
    } else if (version === 6 && n >= 40) {
      length = 40 + ((p[4] << 8) | p[5]);
      if (length > n) return this.drop("bad-ip");
      allowed = this.#routes.lookup(p, 8, 16);
    } else {
      return this.drop("bad-ip");
    }
    if (allowed !== peer) return this.drop("not-allowed-ip");
    this.stats.rxPackets++;
    this.#onPacket(p.subarray(0, length), peer);
  }
}
