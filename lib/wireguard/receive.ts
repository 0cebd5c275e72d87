/**
 * The receive path (whitepaper §5.3, §5.4; wireguard-go receive.go): demultiplexing
 * datagrams by type, mac1/mac2 and cookie replies under load (§5.4.7), handshake
 * messages, and transport messages (decryption, replay check, key confirmation, roaming
 * and the cryptokey-routing check of the inner source address). Bad datagrams are counted
 * and dropped; nothing they contain can make it throw.
 * @module
 */
import type { BindEndpoint } from "./bind.ts";
import { UNDER_LOAD_AFTER_TIME, UNDER_LOAD_HANDSHAKES_PER_SECOND } from "./constants.ts";
import { CookieChecker } from "./cookie.ts";
import type { IndexTable } from "./index_table.ts";
import type { Keypair } from "./keypair.ts";
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
  writeU64,
} from "./messages.ts";
import { consumeInitiation, consumeResponse, deriveKeypair } from "./noise.ts";
import type { Peer, PeerDevice } from "./peer.ts";
import { RateLimiter } from "./ratelimiter.ts";
import {
  beginSession,
  MAX_DATAGRAM,
  sendHandshakeInitiation,
  sendHandshakeResponse,
  sendKeepalive,
  sendStagedPackets,
} from "./send.ts";

/** What the receive path needs from the device, beyond what its peers need. */
export interface ReceiveDevice extends PeerDevice {
  readonly publicKey: Uint8Array;
  readonly indexTable: IndexTable<Peer>;
  peerByKey(publicKey: Uint8Array): Peer | undefined;
}

/** How a {@link Receiver} routes, delivers and decides it is under load. */
export interface ReceiverOptions {
  /** The peer whose allowed IPs hold the address at `ip[offset, offset + length)`. */
  route(ip: Uint8Array, offset: number, length: 4 | 16): Peer | undefined;
  /** Receives each decrypted IP packet (valid during the call) and the peer it came from. */
  onPacket(ip: Uint8Array, peer: Peer): void;
  /** Handshake messages per second that put the device under load (default 64). */
  underLoadThreshold?: number;
  /** Forces the under-load decision (true = always demand cookies). */
  underLoad?: () => boolean;
}

/** The device's receive path: one datagram at a time, buffers reused between them. */
export class Receiver {
  #device: ReceiveDevice;
  #opts: ReceiverOptions;
  #cookieChecker: CookieChecker;
  #rateLimiter: RateLimiter;
  #underLoadThreshold: number;
  #underLoadUntil = -Infinity;
  #handshakeWindowStart = -Infinity;
  #handshakeWindowCount = 0;
  #buffer = new Uint8Array(MAX_DATAGRAM);
  #nonce = new Uint8Array(12);
  #enc = new TextEncoder();

  /**
   * @param device the device whose peers, index table, keys and counters the path uses.
   * @param opts routing of decrypted packets, their delivery, and the under-load threshold.
   */
  constructor(device: ReceiveDevice, opts: ReceiverOptions) {
    this.#device = device;
    this.#opts = opts;
    this.#underLoadThreshold = opts.underLoadThreshold ?? UNDER_LOAD_HANDSHAKES_PER_SECOND;
    this.#cookieChecker = new CookieChecker(device.publicKey, device.clock);
    this.#rateLimiter = new RateLimiter(device.clock);
  }

  /**
   * Handles one datagram from the bind (wireguard-go `RoutineReceiveIncoming`): checks its
   * size for its type (§5.4), then the handshake, cookie-reply or transport path. Never
   * throws; a bad datagram is counted in the device's drops by reason.
   * @param d the datagram, valid during the call only.
   * @param from its source endpoint (for roaming, §2.1); undefined: unchanged.
   */
  receive(d: Uint8Array, from: BindEndpoint): void {
    const type = messageType(d);
    const dev = this.#device;
    switch (type) {
      case MESSAGE_TRANSPORT_TYPE:
        if (d.length < MESSAGE_TRANSPORT_MIN_SIZE) return dev.drop("bad-size");
        return this.#receiveTransport(d, from);
      case MESSAGE_INITIATION_TYPE:
        if (d.length !== MESSAGE_INITIATION_SIZE) return dev.drop("bad-size");
        return this.#receiveHandshake(d, from, type);
      case MESSAGE_RESPONSE_TYPE:
        if (d.length !== MESSAGE_RESPONSE_SIZE) return dev.drop("bad-size");
        return this.#receiveHandshake(d, from, type);
      case MESSAGE_COOKIE_REPLY_TYPE:
        if (d.length !== MESSAGE_COOKIE_REPLY_SIZE) return dev.drop("bad-size");
        return this.#receiveCookieReply(d);
      default:
        return dev.drop(d.length < 4 ? "short" : "unknown-type");
    }
  }

  #isUnderLoad(): boolean {
    const now = this.#device.clock.now();
    if (now - this.#handshakeWindowStart >= 1000) {
      this.#handshakeWindowStart = now;
      this.#handshakeWindowCount = 0;
    }
    if (++this.#handshakeWindowCount > this.#underLoadThreshold) {
      this.#underLoadUntil = now + UNDER_LOAD_AFTER_TIME;
    }
    if (this.#opts.underLoad !== undefined) return this.#opts.underLoad();
    return now < this.#underLoadUntil;
  }

  #receiveHandshake(d: Uint8Array, from: BindEndpoint, type: number): void {
    const dev = this.#device;
    if (!this.#cookieChecker.checkMac1(d)) return dev.drop("bad-mac1");
    if (this.#isUnderLoad()) {
      const source = dev.bind.endpointString?.(from) ?? "";
      const sourceBytes = this.#enc.encode(source);
      if (!this.#cookieChecker.checkMac2(d, sourceBytes)) {
        const reply = this.#cookieChecker.createReply(d, readU32(d, 4), sourceBytes);
        try {
          dev.bind.send(reply, from);
          dev.stats.txDatagrams++;
          dev.stats.txBytes += reply.length;
          dev.stats.cookieRepliesSent++;
        } catch {
          dev.drop("send-failed");
        }
        return dev.drop("cookie-required");
      }
      // Rate-limit per host, not per port (wireguard-go limits per IP).
      const colon = source.lastIndexOf(":");
      if (!this.#rateLimiter.allow(colon > 0 ? source.slice(0, colon) : source)) {
        return dev.drop("rate-limited");
      }
    }
    if (type === MESSAGE_INITIATION_TYPE) {
      const r = consumeInitiation(dev, d);
      if (typeof r === "string") return dev.drop(r);
      if (from !== undefined) r.endpoint = from;
      r.timers.anyAuthenticatedPacketTraversal();
      r.timers.anyAuthenticatedPacketReceived();
      r.stats.rxBytes += d.length;
      if (!sendHandshakeResponse(r)) dev.drop("handshake-invalid");
    } else {
      const peer = consumeResponse(dev, d);
      if (peer === null) return dev.drop("handshake-invalid");
      if (from !== undefined) peer.endpoint = from;
      peer.timers.anyAuthenticatedPacketTraversal();
      peer.timers.anyAuthenticatedPacketReceived();
      peer.stats.rxBytes += d.length;
      if (!completeHandshakeAsInitiator(peer)) dev.drop("handshake-invalid");
    }
  }

  #receiveCookieReply(d: Uint8Array): void {
    const dev = this.#device;
    const entry = dev.indexTable.lookup(readU32(d, 4));
    if (entry === undefined) return dev.drop("unknown-index");
    if (!entry.peer.cookieGenerator.consumeReply(d)) return dev.drop("cookie-invalid");
    dev.stats.cookieRepliesReceived++;
  }

  #receiveTransport(d: Uint8Array, from: BindEndpoint): void {
    const dev = this.#device;
    const entry = dev.indexTable.lookup(readU32(d, TRANSPORT_OFFSET_RECEIVER));
    const kp = entry?.keypair;
    if (entry === undefined || kp == null) return dev.drop("unknown-index");
    const peer = entry.peer;
    const counter = readU64(d, TRANSPORT_OFFSET_COUNTER);
    if (!keypairUsableForReceiving(dev, kp, counter)) return dev.drop("expired-keypair");

    writeU64(this.#nonce, 4, counter);
    const sealed = d.subarray(MESSAGE_TRANSPORT_HEADER_SIZE);
    const n = kp.receiveKey.open(this.#nonce, sealed, undefined, this.#buffer, 0);
    if (n < 0) return dev.drop("decrypt-failed");
    if (!kp.replay.validate(counter, dev.limits.rejectAfterMessages)) return dev.drop("replay");

    // Authenticated: roam to the source, rotate keys, run the timers.
    if (from !== undefined) peer.endpoint = from; // roaming
    peer.stats.rxBytes += d.length;
    receivedWithKeypair(peer, kp);
    keepKeyFreshReceiving(peer);
    peer.timers.anyAuthenticatedPacketTraversal();
    peer.timers.anyAuthenticatedPacketReceived();
    if (n === 0) return; // keepalive

    peer.timers.dataReceived();
    const p = this.#buffer;
    const version = p[0] >> 4;
    let length: number;
    let allowed: Peer | undefined;
    if (version === 4 && n >= 20) {
      length = (p[2] << 8) | p[3];
      if (length < 20 || length > n) return dev.drop("bad-ip");
      allowed = this.#opts.route(p, 12, 4);
    } else if (version === 6 && n >= 40) {
      length = 40 + ((p[4] << 8) | p[5]);
      if (length > n) return dev.drop("bad-ip");
      allowed = this.#opts.route(p, 8, 16);
    } else {
      return dev.drop("bad-ip");
    }
    if (allowed !== peer) return dev.drop("not-allowed-ip");
    dev.stats.rxPackets++;
    this.#opts.onPacket(p.subarray(0, length), peer);
  }
}

/** True while `kp` may still receive the message with `counter` (§6.1 REJECT_AFTER_*). */
function keypairUsableForReceiving(d: PeerDevice, kp: Keypair, counter: number): boolean {
  const l = d.limits;
  return counter < l.rejectAfterMessages && d.clock.now() - kp.created < l.rejectAfterTime;
}

// After our initiation was answered: install the keypair, send what waits.
function completeHandshakeAsInitiator(peer: Peer): boolean {
  const kp = deriveKeypair(peer.device, peer.handshake);
  if (kp === null) return false;
  beginSession(peer, kp);
  handshakeComplete(peer);
  sendKeepalive(peer);
  return true;
}

// Promotes `next` to `current` on its first use (key confirmation, §5.4.5).
function receivedWithKeypair(peer: Peer, kp: Keypair): void {
  if (peer.keypairs.next !== kp) return; // the common case: no closure per packet
  const table = peer.device.indexTable;
  if (peer.keypairs.confirm(kp, (dropped) => table.delete(dropped.localIndex))) {
    handshakeComplete(peer);
    sendStagedPackets(peer);
  }
}

// Initiator: re-handshake before the current keypair gets too old (§6.2).
function keepKeyFreshReceiving(peer: Peer): void {
  if (peer.timers.sentLastMinuteHandshake) return;
  const kp = peer.keypairs.current;
  const d = peer.device;
  const l = d.limits;
  if (
    kp !== null && kp.isInitiator &&
    d.clock.now() - kp.created > l.rejectAfterTime - l.keepaliveTimeout - l.rekeyTimeout
  ) {
    peer.timers.sentLastMinuteHandshake = true;
    sendHandshakeInitiation(peer, false);
  }
}

function handshakeComplete(peer: Peer): void {
  const d = peer.device;
  peer.timers.handshakeComplete();
  peer.stats.lastHandshakeTime = d.wallNow();
  peer.stats.handshakes++;
  d.stats.handshakesCompleted++;
  try {
    d.onHandshake?.(peer);
  } catch {
    // a listener's bug must not break the session
  }
}
