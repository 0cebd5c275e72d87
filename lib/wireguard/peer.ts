/**
 * A remote WireGuard peer: its handshake, keypairs, timers (whitepaper §6,
 * wireguard-go timers.go) and the send path with staged packets.
 * @module
 */
import {
  createInitiation,
  createResponse,
  deriveKeypair,
  Handshake,
  restorePendingInitiation,
} from "./noise.ts";
import { CookieGenerator } from "./cookie.ts";
import type { Keypair } from "./keypair.ts";
import { Keypairs } from "./keypair.ts";
import { type BindEndpoint, TRANSPORT_HEADROOM } from "./bind.ts";
import { LazyTimer } from "./timer.ts";
import { MAX_STAGED_PACKETS } from "./constants.ts";
import type { Device } from "./device.ts";

const EMPTY = new Uint8Array(0);

/** Byte and handshake counters of one peer (what `wg show` prints). */
export interface PeerStats {
  /** Datagram bytes received from the peer (authenticated), like `wg show transfer`. */
  rxBytes: number;
  /** Datagram bytes sent to the peer. */
  txBytes: number;
  /** Wall-clock ms (Unix epoch) of the last completed handshake, 0 when none. */
  lastHandshakeTime: number;
  /** Handshakes completed with this peer. */
  handshakes: number;
}

/** Options of {@link Device.addPeer}. */
export interface PeerOptions {
  /** The peer's static public key (32 bytes). */
  publicKey: Uint8Array;
  /** Optional 32-byte preshared key (psk of Noise_IKpsk2); zeros when absent. */
  presharedKey?: Uint8Array;
  /** Prefixes the peer may send from and that route to it, e.g. ["10.77.1.2/32"]. */
  allowedIPs: string[];
  /** Where to send until the peer is heard from (it roams to the last authenticated source). */
  endpoint?: BindEndpoint;
  /** Send a keepalive after this many seconds without sending anything; 0/absent = off. */
  persistentKeepaliveSeconds?: number;
}

/** One peer of a {@link Device}. Create with {@link Device.addPeer}. */
export class Peer {
  /** The peer's static public key. */
  readonly publicKey: Uint8Array;
  /** Current endpoint; updated to the source of every authenticated datagram. */
  endpoint: BindEndpoint | undefined;
  /** Counters, updated in place. */
  readonly stats: PeerStats = { rxBytes: 0, txBytes: 0, lastHandshakeTime: 0, handshakes: 0 };
  /** @internal */
  readonly handshake: Handshake;
  /** @internal */
  readonly keypairs: Keypairs = new Keypairs();
  /** @internal */
  readonly cookieGenerator: CookieGenerator;

  #device: Device;
  #staged: Uint8Array[] = [];
  #persistentKeepaliveMs: number;
  #handshakeAttempts = 0;
  #needAnotherKeepalive = false;
  #sentLastMinuteHandshake = false;
  #closed = false;
  #retransmitHandshake: LazyTimer;
  #sendKeepalive: LazyTimer;
  #newHandshake: LazyTimer;
  #zeroKeyMaterial: LazyTimer;
  #persistentKeepalive: LazyTimer;

  /** @internal use {@link Device.addPeer}. */
  constructor(device: Device, opts: PeerOptions) {
    this.#device = device;
    this.publicKey = opts.publicKey.slice();
    this.endpoint = opts.endpoint;
    this.#persistentKeepaliveMs = Math.max(0, (opts.persistentKeepaliveSeconds ?? 0) * 1000);
    this.handshake = new Handshake(
      this.publicKey,
      opts.presharedKey?.slice() ?? new Uint8Array(32),
      device.privateKey,
    );
    const clock = device.clock;
    this.cookieGenerator = new CookieGenerator(this.publicKey, clock);
    this.#retransmitHandshake = new LazyTimer(clock, () => this.#expiredRetransmitHandshake());
    this.#sendKeepalive = new LazyTimer(clock, () => this.#expiredSendKeepalive());
    this.#newHandshake = new LazyTimer(clock, () => this.sendHandshakeInitiation(false));
    this.#zeroKeyMaterial = new LazyTimer(clock, () => this.#expiredZeroKeyMaterial());
    this.#persistentKeepalive = new LazyTimer(clock, () => {
      if (this.#persistentKeepaliveMs > 0) this.sendKeepalive();
    });
  }

  /** Persistent keepalive interval in seconds (0 = off). Setting it starts it at once. */
  get persistentKeepaliveSeconds(): number {
    return this.#persistentKeepaliveMs / 1000;
  }
  set persistentKeepaliveSeconds(s: number) {
    this.#persistentKeepaliveMs = Math.max(0, s * 1000);
    if (this.#persistentKeepaliveMs > 0) this.sendKeepalive();
    else this.#persistentKeepalive.del();
  }

  /** True while a current keypair can send. */
  get hasSession(): boolean {
    const kp = this.keypairs.current;
    return kp !== null && this.#keypairUsable(kp);
  }

  /** Number of packets waiting for a handshake. */
  get stagedPackets(): number {
    return this.#staged.length;
  }

  /** Starts a handshake now (unless one was sent less than REKEY_TIMEOUT ago). */
  initiateHandshake(): void {
    this.sendHandshakeInitiation(false);
  }

  /**
   * Encrypts and sends one IP packet (or an empty keepalive) to the peer; without a
   * usable session the packet is copied to the staging queue and a handshake starts.
   */
  sendPacket(ip: Uint8Array): void {
    if (this.#closed) return;
    if (ip.length > 65535) return this.#device.drop("bad-ip");
    if (this.#staged.length > 0) {
      this.#stage(ip);
      this.#flushStaged();
      return;
    }
    if (!this.#trySend(ip)) {
      this.#stage(ip);
      this.sendHandshakeInitiation(false);
    }
  }

  /** Sends staged packets, or an empty keepalive when none are waiting. */
  sendKeepalive(): void {
    if (this.#staged.length === 0) this.sendPacket(EMPTY);
    else this.#flushStaged();
  }

  /** @internal Sends a handshake initiation, at most one per REKEY_TIMEOUT. */
  sendHandshakeInitiation(isRetry: boolean): void {
    if (this.#closed) return;
    if (!isRetry) this.#handshakeAttempts = 0;
    const d = this.#device;
    const now = d.clock.now();
    if (now - this.handshake.lastSentHandshake < d.limits.rekeyTimeout) return;
    this.handshake.lastSentHandshake = now;
    const msg = createInitiation(d, this);
    if (msg === null) return;
    this.cookieGenerator.addMacs(msg);
    this.timersAnyAuthenticatedPacketTraversal();
    this.timersAnyAuthenticatedPacketSent();
    this.sendDatagram(msg);
    this.#retransmitHandshake.mod(d.limits.rekeyTimeout + d.jitter());
  }

  /** @internal Answers a consumed initiation and installs the new keypair as `next`. */
  sendHandshakeResponse(): boolean {
    const d = this.#device;
    this.handshake.lastSentHandshake = d.clock.now();
    const msg = createResponse(d, this);
    if (msg === null) {
      this.#dropPendingInitiation();
      return false;
    }
    this.cookieGenerator.addMacs(msg);
    const kp = deriveKeypair(d, this);
    if (kp === null) {
      this.#dropPendingInitiation();
      return false;
    }
    // If our own initiation crossed theirs, keep waiting for its response too: both
    // complete at once instead of stalling for a REKEY_TIMEOUT retransmit.
    restorePendingInitiation(this);
    this.#beginSession(kp);
    this.timersAnyAuthenticatedPacketTraversal();
    this.timersAnyAuthenticatedPacketSent();
    this.sendDatagram(msg);
    return true;
  }

  /** @internal After our initiation was answered: install the keypair, send what waits. */
  completeHandshakeAsInitiator(): boolean {
    const kp = deriveKeypair(this.#device, this);
    if (kp === null) return false;
    this.#beginSession(kp);
    this.#handshakeComplete();
    this.sendKeepalive();
    return true;
  }

  /**
   * @internal Called for each authenticated transport message on `kp`. Promotes
   * `next` to `current` on first use (key confirmation).
   */
  receivedWithKeypair(kp: Keypair): void {
    const kps = this.keypairs;
    if (kps.next === kp) {
      if (kps.previous !== null) this.#device.indexTable.delete(kps.previous.localIndex);
      kps.previous = kps.current;
      kps.current = kp;
      kps.next = null;
      this.#handshakeComplete();
      this.#flushStaged();
    }
  }

  /**
   * @internal Sends raw bytes to the endpoint, counting them. `headroom`: free octets in
   * front of `datagram` the bind may use (see Bind.send).
   */
  sendDatagram(datagram: Uint8Array, headroom = 0): boolean {
    const d = this.#device;
    if (this.endpoint === undefined) {
      d.drop("no-endpoint");
      return false;
    }
    this.stats.txBytes += datagram.length;
    d.stats.txDatagrams++;
    d.stats.txBytes += datagram.length;
    try {
      d.bind.send(datagram, this.endpoint, headroom);
    } catch {
      d.drop("send-failed");
      return false;
    }
    return true;
  }

  /** @internal True when the keypair may still be used to send or receive. */
  keypairUsableForReceive(kp: Keypair, counter: number): boolean {
    const l = this.#device.limits;
    return counter < l.rejectAfterMessages &&
      this.#device.clock.now() - kp.created < l.rejectAfterTime;
  }

  // --- timer hooks (wireguard-go timers.go names) ---

  /** @internal */
  timersDataSent(): void {
    const d = this.#device;
    if (!this.#newHandshake.isPending) {
      this.#newHandshake.mod(d.limits.keepaliveTimeout + d.limits.rekeyTimeout + d.jitter());
    }
  }
  /** @internal */
  timersDataReceived(): void {
    if (!this.#sendKeepalive.isPending) {
      this.#sendKeepalive.mod(this.#device.limits.keepaliveTimeout);
    } else this.#needAnotherKeepalive = true;
  }
  /** @internal */
  timersAnyAuthenticatedPacketSent(): void {
    this.#sendKeepalive.del();
  }
  /** @internal */
  timersAnyAuthenticatedPacketReceived(): void {
    this.#newHandshake.del();
  }
  /** @internal */
  timersAnyAuthenticatedPacketTraversal(): void {
    if (this.#persistentKeepaliveMs > 0) this.#persistentKeepalive.mod(this.#persistentKeepaliveMs);
  }

  /** @internal Initiator: re-handshake before the current keypair gets too old (§6.2). */
  keepKeyFreshReceiving(): void {
    if (this.#sentLastMinuteHandshake) return;
    const kp = this.keypairs.current;
    const l = this.#device.limits;
    if (
      kp !== null && kp.isInitiator &&
      this.#device.clock.now() - kp.created >
        l.rejectAfterTime - l.keepaliveTimeout - l.rekeyTimeout
    ) {
      this.#sentLastMinuteHandshake = true;
      this.sendHandshakeInitiation(false);
    }
  }

  /** @internal Stops timers and forgets keys; the device calls it on removal/close. */
  close(): void {
    this.#closed = true;
    for (
      const t of [
        this.#retransmitHandshake,
        this.#sendKeepalive,
        this.#newHandshake,
        this.#zeroKeyMaterial,
        this.#persistentKeepalive,
      ]
    ) t.stop();
    this.#zeroKeys();
    this.#staged = [];
  }

  #dropPendingInitiation(): void {
    const p = this.handshake.pendingInitiation;
    if (p === null) return;
    this.#device.indexTable.delete(p.localIndex);
    p.ephemeralPrivate.fill(0);
    this.handshake.pendingInitiation = null;
  }

  #keypairUsable(kp: Keypair): boolean {
    const l = this.#device.limits;
    return kp.sendNonce < l.rejectAfterMessages &&
      this.#device.clock.now() - kp.created < l.rejectAfterTime;
  }

  // Encrypts with the current keypair; false when there is none usable.
  #trySend(ip: Uint8Array): boolean {
    const kp = this.keypairs.current;
    if (kp === null || !this.#keypairUsable(kp)) return false;
    if (this.endpoint === undefined) {
      this.#device.drop("no-endpoint");
      return true;
    }
    const datagram = this.#device.sealTransport(kp, ip);
    if (this.sendDatagram(datagram, TRANSPORT_HEADROOM)) {
      if (ip.length > 0) {
        this.#device.stats.txPackets++;
        this.timersDataSent();
      }
      this.timersAnyAuthenticatedPacketTraversal();
      this.timersAnyAuthenticatedPacketSent();
    }
    this.#keepKeyFreshSending(kp);
    return true;
  }

  #keepKeyFreshSending(kp: Keypair): void {
    const l = this.#device.limits;
    if (
      kp.sendNonce > l.rekeyAfterMessages ||
      (kp.isInitiator && this.#device.clock.now() - kp.created > l.rekeyAfterTime)
    ) this.sendHandshakeInitiation(false);
  }

  #stage(ip: Uint8Array): void {
    if (this.#staged.length >= MAX_STAGED_PACKETS) {
      this.#staged.shift();
      this.#device.drop("staged-overflow");
    }
    this.#staged.push(ip.slice());
  }

  #flushStaged(): void {
    while (this.#staged.length > 0) {
      if (!this.#trySend(this.#staged[0])) {
        this.sendHandshakeInitiation(false);
        return;
      }
      this.#staged.shift();
    }
  }

  // wireguard-go BeginSymmetricSession: rotate the slots.
  #beginSession(kp: Keypair): void {
    const kps = this.keypairs;
    const table = this.#device.indexTable;
    if (kp.isInitiator) {
      if (kps.next !== null) {
        if (kps.previous !== null) table.delete(kps.previous.localIndex);
        kps.previous = kps.next;
        kps.next = null;
        if (kps.current !== null) table.delete(kps.current.localIndex);
      } else {
        if (kps.previous !== null) table.delete(kps.previous.localIndex);
        kps.previous = kps.current;
      }
      kps.current = kp;
    } else {
      if (kps.next !== null) table.delete(kps.next.localIndex);
      kps.next = kp;
      if (kps.previous !== null) table.delete(kps.previous.localIndex);
      kps.previous = null;
    }
    this.#zeroKeyMaterial.mod(this.#device.limits.rejectAfterTime * 3);
  }

  #handshakeComplete(): void {
    this.#retransmitHandshake.del();
    this.#handshakeAttempts = 0;
    this.#sentLastMinuteHandshake = false;
    this.stats.lastHandshakeTime = this.#device.wallNow();
    this.stats.handshakes++;
    this.#device.stats.handshakesCompleted++;
    try {
      this.#device.onHandshake?.(this);
    } catch {
      // a listener's bug must not break the session
    }
  }

  #expiredRetransmitHandshake(): void {
    const l = this.#device.limits;
    if (this.#handshakeAttempts > l.maxTimerHandshakes) {
      this.#sendKeepalive.del();
      this.#device.drop("staged-expired", this.#staged.length);
      this.#staged = [];
      if (!this.#zeroKeyMaterial.isPending) this.#zeroKeyMaterial.mod(l.rejectAfterTime * 3);
      return;
    }
    this.#handshakeAttempts++;
    this.sendHandshakeInitiation(true);
  }

  #expiredSendKeepalive(): void {
    this.sendKeepalive();
    if (this.#needAnotherKeepalive) {
      this.#needAnotherKeepalive = false;
      this.#sendKeepalive.mod(this.#device.limits.keepaliveTimeout);
    }
  }

  #expiredZeroKeyMaterial(): void {
    this.#zeroKeys();
  }

  #zeroKeys(): void {
    const kps = this.keypairs;
    const table = this.#device.indexTable;
    for (const kp of [kps.previous, kps.current, kps.next]) {
      if (kp !== null) table.delete(kp.localIndex);
    }
    kps.previous = kps.current = kps.next = null;
    if (this.handshake.localIndex !== 0) table.delete(this.handshake.localIndex);
    this.handshake.localIndex = 0;
    this.#dropPendingInitiation();
    this.handshake.clear();
  }
}
