/**
 * The send path (whitepaper §5.4, §6; wireguard-go send.go): handshake initiations and
 * responses, transport messages sealed into a reused buffer, and the queue of packets
 * staged while no session exists. Works on a {@link SendPeer} and its {@link SendDevice},
 * the interfaces this module declares; the peer and the device implement them.
 * @module
 */
import type { Clock } from "../clock/mod.ts";
import type { Bind, BindEndpoint } from "./bind.ts";
import { TRANSPORT_HEADROOM } from "./bind.ts";
import { type Limits, MAX_STAGED_PACKETS, PADDING_MULTIPLE } from "./constants.ts";
import type { CookieGenerator } from "./cookie.ts";
import type { Keypair, Keypairs } from "./keypair.ts";
import {
  MESSAGE_TRANSPORT_HEADER_SIZE,
  MESSAGE_TRANSPORT_MIN_SIZE,
  MESSAGE_TRANSPORT_TYPE,
  TRANSPORT_OFFSET_COUNTER,
  TRANSPORT_OFFSET_RECEIVER,
  writeU32,
  writeU64,
} from "./messages.ts";
import {
  createInitiation,
  createResponse,
  deriveKeypair,
  dropPendingInitiation,
  type HandshakePeer,
  type NoiseContext,
  restorePendingInitiation,
} from "./noise.ts";
import type { DeviceStats, DropReason } from "./stats.ts";
import type { PeerTimers } from "./timers.ts";

const EMPTY = new Uint8Array(0);
/** Largest IP packet the device carries (the IPv4/IPv6 length field's range), in octets. */
export const MAX_IP_PACKET = 65535;
/** Largest transport message, in octets: header, padded packet and tag. */
export const MAX_DATAGRAM = 65536 + MESSAGE_TRANSPORT_MIN_SIZE + PADDING_MULTIPLE;

/** What the send path needs from the device. */
export interface SendDevice extends NoiseContext<SendPeer> {
  readonly clock: Clock;
  readonly limits: Limits;
  readonly bind: Bind;
  readonly stats: DeviceStats;
  /** Counts `n` drops for `reason`. */
  drop(reason: DropReason, n?: number): void;
  /** Seals `ip` with `kp` (see {@link TransportSealer.seal}). */
  sealTransport(kp: Keypair, ip: Uint8Array): Uint8Array;
}

/** What the send path needs of a peer. */
export interface SendPeer extends HandshakePeer {
  readonly device: SendDevice;
  /** True once the peer was removed or its device closed. */
  readonly closed: boolean;
  /** Where datagrams go; undefined until configured or heard from. */
  endpoint: BindEndpoint | undefined;
  readonly stats: { txBytes: number };
  /** Packets waiting for a session, oldest first (at most MAX_STAGED_PACKETS). */
  readonly staged: Uint8Array[];
  readonly keypairs: Keypairs;
  readonly cookieGenerator: CookieGenerator;
  readonly timers: PeerTimers;
}

/**
 * Encrypts and sends one IP packet (or an empty keepalive) to the peer; without a usable
 * session the packet is copied to the staging queue and a handshake starts (§6.1;
 * wireguard-go `SendStagedPackets`). Never throws: a packet that cannot go is dropped and
 * counted.
 * @param peer the peer whose allowed IPs routed the packet here.
 * @param ip the IP packet, at most {@link MAX_IP_PACKET} octets; read during the call only.
 */
export function sendPacket(peer: SendPeer, ip: Uint8Array): void {
  if (peer.closed) return;
  if (ip.length > MAX_IP_PACKET) return peer.device.drop("bad-ip");
  if (peer.staged.length > 0) {
    stage(peer, ip);
    sendStagedPackets(peer);
    return;
  }
  if (!trySend(peer, ip)) {
    stage(peer, ip);
    sendHandshakeInitiation(peer, false);
  }
}

/** Sends the staged packets, or an empty keepalive when none are waiting (§6.5). */
export function sendKeepalive(peer: SendPeer): void {
  if (peer.staged.length === 0) sendPacket(peer, EMPTY);
  else sendStagedPackets(peer);
}

/**
 * Sends a handshake initiation, at most one per REKEY_TIMEOUT (§6.4; wireguard-go
 * `SendHandshakeInitiation`).
 * @param peer the peer to handshake with.
 * @param isRetry true for the retransmit timer's resends, which keep counting attempts.
 */
export function sendHandshakeInitiation(peer: SendPeer, isRetry: boolean): void {
  if (peer.closed) return;
  if (!isRetry) peer.timers.handshakeAttempts = 0;
  const d = peer.device;
  const now = d.clock.now();
  if (now - peer.handshake.lastSentHandshake < d.limits.rekeyTimeout) return;
  peer.handshake.lastSentHandshake = now;
  const msg = createInitiation(d, peer);
  if (msg === null) return;
  peer.cookieGenerator.addMacs(msg);
  peer.timers.anyAuthenticatedPacketTraversal();
  peer.timers.anyAuthenticatedPacketSent();
  sendDatagram(peer, msg);
  peer.timers.handshakeInitiated();
}

/**
 * Answers a consumed initiation and installs the new keypair as `next` (§5.4.3, §5.4.5;
 * wireguard-go `SendHandshakeResponse`).
 * @param peer the peer whose initiation was just consumed.
 * @returns false when no response could be made (the caller counts the drop).
 */
export function sendHandshakeResponse(peer: SendPeer): boolean {
  const d = peer.device;
  const hs = peer.handshake;
  hs.lastSentHandshake = d.clock.now();
  const msg = createResponse(d, peer);
  if (msg === null) {
    dropPendingInitiation(d, hs);
    return false;
  }
  peer.cookieGenerator.addMacs(msg);
  const kp = deriveKeypair(d, hs);
  if (kp === null) {
    dropPendingInitiation(d, hs);
    return false;
  }
  // If our own initiation crossed theirs, keep waiting for its response too: both
  // complete at once instead of stalling for a REKEY_TIMEOUT retransmit.
  restorePendingInitiation(hs);
  beginSession(peer, kp);
  peer.timers.anyAuthenticatedPacketTraversal();
  peer.timers.anyAuthenticatedPacketSent();
  sendDatagram(peer, msg);
  return true;
}

/** Installs the keypair of a completed handshake and arms the zero-key timer (§6.3). */
export function beginSession(peer: SendPeer, kp: Keypair): void {
  const table = peer.device.indexTable;
  peer.keypairs.install(kp, (dropped) => table.delete(dropped.localIndex));
  peer.timers.sessionDerived();
}

/** Sends the staged packets in order; starts a handshake when no session can carry them. */
export function sendStagedPackets(peer: SendPeer): void {
  while (peer.staged.length > 0) {
    if (!trySend(peer, peer.staged[0])) {
      sendHandshakeInitiation(peer, false);
      return;
    }
    peer.staged.shift();
  }
}

/**
 * Sends raw bytes to the peer's endpoint, counting them.
 * @param peer the destination peer.
 * @param datagram a whole WireGuard message.
 * @param headroom free octets in front of `datagram` the bind may use (see
 *   {@link Bind.send}), default 0.
 * @returns false when there is no endpoint or the bind threw (counted as a drop).
 */
export function sendDatagram(peer: SendPeer, datagram: Uint8Array, headroom = 0): boolean {
  const d = peer.device;
  if (peer.endpoint === undefined) {
    d.drop("no-endpoint");
    return false;
  }
  peer.stats.txBytes += datagram.length;
  d.stats.txDatagrams++;
  d.stats.txBytes += datagram.length;
  try {
    d.bind.send(datagram, peer.endpoint, headroom);
  } catch {
    d.drop("send-failed");
    return false;
  }
  return true;
}

/** True while `kp` may still send: under REJECT_AFTER_MESSAGES and REJECT_AFTER_TIME. */
export function keypairUsableForSending(d: SendDevice, kp: Keypair): boolean {
  const l = d.limits;
  return kp.sendNonce < l.rejectAfterMessages && d.clock.now() - kp.created < l.rejectAfterTime;
}

// Encrypts with the current keypair; false when there is none usable.
function trySend(peer: SendPeer, ip: Uint8Array): boolean {
  const d = peer.device;
  const kp = peer.keypairs.current;
  if (kp === null || !keypairUsableForSending(d, kp)) return false;
  if (peer.endpoint === undefined) {
    d.drop("no-endpoint");
    return true;
  }
  const datagram = d.sealTransport(kp, ip);
  if (sendDatagram(peer, datagram, TRANSPORT_HEADROOM)) {
    if (ip.length > 0) {
      d.stats.txPackets++;
      peer.timers.dataSent();
    }
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketSent();
  }
  keepKeyFreshSending(peer, kp);
  return true;
}

// §6.2: re-key after REKEY_AFTER_MESSAGES, or (initiator) after REKEY_AFTER_TIME.
function keepKeyFreshSending(peer: SendPeer, kp: Keypair): void {
  const d = peer.device;
  const l = d.limits;
  if (
    kp.sendNonce > l.rekeyAfterMessages ||
    (kp.isInitiator && d.clock.now() - kp.created > l.rekeyAfterTime)
  ) sendHandshakeInitiation(peer, false);
}

function stage(peer: SendPeer, ip: Uint8Array): void {
  if (peer.staged.length >= MAX_STAGED_PACKETS) {
    peer.staged.shift();
    peer.device.drop("staged-overflow");
  }
  peer.staged.push(ip.slice());
}

/**
 * Builds transport messages (§5.4.6) in one reused buffer: the packet padded to a multiple
 * of 16 octets (capped at the MTU), the header, and the AEAD under the keypair's send key.
 */
export class TransportSealer {
  #mtu: number;
  /** Transport messages are built at TRANSPORT_HEADROOM into this store (see Bind.send). */
  #store = new Uint8Array(TRANSPORT_HEADROOM + MAX_DATAGRAM);
  #buffer = this.#store.subarray(TRANSPORT_HEADROOM);
  #plain = new Uint8Array(MAX_DATAGRAM);
  #nonce = new Uint8Array(12);

  /** @param mtu tunnel MTU in octets, caps the padding; 0 pads to 16 without a cap. */
  constructor(mtu: number) {
    this.#mtu = mtu;
  }

  /**
   * Seals `ip` with `kp` and advances its send counter (§5.4.6: counter as the 64-bit
   * little-endian nonce, ChaCha20-Poly1305 under Tm_send). The returned view is valid until
   * the next call and has TRANSPORT_HEADROOM free octets in front of it.
   * @param kp a keypair {@link keypairUsableForSending} accepted.
   * @param ip the IP packet, at most {@link MAX_IP_PACKET} octets (empty for a keepalive).
   */
  seal(kp: Keypair, ip: Uint8Array): Uint8Array {
    const len = ip.length;
    let padded = (len + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1);
    if (this.#mtu > 0 && len <= this.#mtu && padded > this.#mtu) padded = this.#mtu;
    let plain = ip;
    if (padded !== len) {
      this.#plain.set(ip);
      this.#plain.fill(0, len, padded);
      plain = this.#plain.subarray(0, padded);
    }
    const counter = kp.sendNonce++;
    const out = this.#buffer;
    out[0] = MESSAGE_TRANSPORT_TYPE;
    out[1] = out[2] = out[3] = 0;
    writeU32(out, TRANSPORT_OFFSET_RECEIVER, kp.remoteIndex);
    writeU64(out, TRANSPORT_OFFSET_COUNTER, counter);
    writeU64(this.#nonce, 4, counter);
    const n = kp.sendKey.seal(this.#nonce, plain, undefined, out, MESSAGE_TRANSPORT_HEADER_SIZE);
    return out.subarray(0, MESSAGE_TRANSPORT_HEADER_SIZE + n);
  }
}
