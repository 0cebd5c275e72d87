/**
 * A remote WireGuard peer (whitepaper §5-§6): its static key, handshake state, keypairs,
 * timers and staged packets. What a peer does is split as wireguard-go splits it: `send.ts`
 * (messages out), `receive.ts` (messages in), `timers.ts` (the §6 timer events).
 *
 * The peer reaches its device only through {@link PeerDevice}, which this module declares
 * and the device implements, so no module of the engine imports the device.
 * @module
 */
import type { BindEndpoint } from "./bind.ts";
import { CookieGenerator } from "./cookie.ts";
import { Handshake } from "./handshake.ts";
import { Keypairs } from "./keypair.ts";
import { dropPendingInitiation } from "./noise.ts";
import {
  keypairUsableForSending,
  type SendDevice,
  sendHandshakeInitiation,
  sendKeepalive,
  sendPacket,
} from "./send.ts";
import { PeerTimers, type TimerDevice } from "./timers.ts";

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

/** What a peer needs from its device (the device implements it). */
export interface PeerDevice extends SendDevice, TimerDevice {
  /** Wall-clock ms since the Unix epoch (TAI64N timestamps, last-handshake time). */
  wallNow(): number;
  /** Called when a handshake with a peer completes (both sides). */
  readonly onHandshake?: (peer: Peer) => void;
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
  readonly device: PeerDevice;
  /** @internal */
  readonly handshake: Handshake;
  /** @internal */
  readonly keypairs: Keypairs = new Keypairs();
  /** @internal */
  readonly cookieGenerator: CookieGenerator;
  /** @internal */
  readonly timers: PeerTimers;
  /** @internal Packets waiting for a session, oldest first. */
  readonly staged: Uint8Array[] = [];
  #closed = false;

  /** @internal use {@link Device.addPeer}. */
  constructor(device: PeerDevice, opts: PeerOptions) {
    this.device = device;
    this.publicKey = opts.publicKey.slice();
    this.endpoint = opts.endpoint;
    this.handshake = new Handshake(
      this.publicKey,
      opts.presharedKey?.slice() ?? new Uint8Array(32),
      device.staticPrivate,
    );
    this.cookieGenerator = new CookieGenerator(this.publicKey, device.clock);
    this.timers = new PeerTimers(device, {
      sendHandshakeInitiation: (isRetry) => sendHandshakeInitiation(this, isRetry),
      sendKeepalive: () => sendKeepalive(this),
      dropStagedPackets: () => {
        device.drop("staged-expired", this.staged.length);
        this.staged.length = 0;
      },
      zeroKeyMaterial: () => this.#zeroKeys(),
    }, (opts.persistentKeepaliveSeconds ?? 0) * 1000);
  }

  /** @internal True once removed from its device or the device closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Persistent keepalive interval in seconds (0 = off). Setting it starts it at once. */
  get persistentKeepaliveSeconds(): number {
    return this.timers.persistentKeepaliveMs / 1000;
  }
  set persistentKeepaliveSeconds(s: number) {
    this.timers.persistentKeepaliveMs = s * 1000;
    if (this.timers.persistentKeepaliveMs > 0) this.sendKeepalive();
  }

  /** True while a current keypair can send. */
  get hasSession(): boolean {
    const kp = this.keypairs.current;
    return kp !== null && keypairUsableForSending(this.device, kp);
  }

  /** Number of packets waiting for a handshake. */
  get stagedPackets(): number {
    return this.staged.length;
  }

  /** Starts a handshake now (unless one was sent less than REKEY_TIMEOUT ago). */
  initiateHandshake(): void {
    sendHandshakeInitiation(this, false);
  }

  /**
   * Encrypts and sends one IP packet (or an empty keepalive) to the peer; without a
   * usable session the packet is copied to the staging queue and a handshake starts.
   */
  sendPacket(ip: Uint8Array): void {
    sendPacket(this, ip);
  }

  /** Sends staged packets, or an empty keepalive when none are waiting. */
  sendKeepalive(): void {
    sendKeepalive(this);
  }

  /** @internal Stops timers and forgets keys; the device calls it on removal/close. */
  close(): void {
    this.#closed = true;
    this.timers.stop();
    this.#zeroKeys();
    this.staged.length = 0;
  }

  // §6.3: after 3 × REJECT_AFTER_TIME without a new session, or on close.
  #zeroKeys(): void {
    const table = this.device.indexTable;
    this.keypairs.clear((kp) => table.delete(kp.localIndex));
    if (this.handshake.localIndex !== 0) table.delete(this.handshake.localIndex);
    this.handshake.localIndex = 0;
    dropPendingInitiation(this.device, this.handshake);
    this.handshake.clear();
  }
}
