/**
 * mac1/mac2 and cookie replies (whitepaper §5.4.4, §5.4.7). The responder side
 * (CookieChecker) verifies macs and makes cookie replies under load; the initiator
 * side (CookieGenerator, one per peer) adds macs and consumes cookie replies.
 * @module
 */
import { hash, mac, xaeadOpen, xaeadSeal } from "../crypto/mod.ts";
import type { Clock } from "../clock/mod.ts";
import { COOKIE_REFRESH_TIME, LABEL_COOKIE, LABEL_MAC1 } from "./constants.ts";
import {
  COOKIE_REPLY_OFFSET_COOKIE,
  COOKIE_REPLY_OFFSET_NONCE,
  COOKIE_REPLY_OFFSET_RECEIVER,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_COOKIE_REPLY_TYPE,
  writeU32,
} from "./messages.ts";

const enc = new TextEncoder();
const MAC_LEN = 16;

/** Offsets of mac1 and mac2 in a handshake message (both end the message). */
function macOffsets(msg: Uint8Array): { mac1: number; mac2: number } {
  return { mac1: msg.length - 2 * MAC_LEN, mac2: msg.length - MAC_LEN };
}

/** Constant-time comparison of equal-length byte strings. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** Responder side: checks mac1/mac2 of incoming handshakes for our static key. */
export class CookieChecker {
  #mac1Key: Uint8Array;
  #encryptionKey: Uint8Array;
  #secret = new Uint8Array(32);
  #secretSet = -Infinity;
  #clock: Clock;

  /** @param localPublicKey our static public key. */
  constructor(localPublicKey: Uint8Array, clock: Clock) {
    this.#mac1Key = hash(enc.encode(LABEL_MAC1), localPublicKey);
    this.#encryptionKey = hash(enc.encode(LABEL_COOKIE), localPublicKey);
    this.#clock = clock;
  }

  /** True when mac1 = MAC(HASH(LABEL_MAC1 || Spub), msg[0:mac1 offset]). */
  checkMac1(msg: Uint8Array): boolean {
    const o = macOffsets(msg);
    return constantTimeEqual(
      mac(this.#mac1Key, msg.subarray(0, o.mac1)),
      msg.subarray(o.mac1, o.mac2),
    );
  }

  /**
   * True when mac2 was made with the cookie we would currently give `source`
   * (the sender's address bytes, e.g. IP and port).
   */
  checkMac2(msg: Uint8Array, source: Uint8Array): boolean {
    if (this.#clock.now() - this.#secretSet > COOKIE_REFRESH_TIME) return false;
    const o = macOffsets(msg);
    const cookie = mac(this.#secret, source);
    return constantTimeEqual(mac(cookie, msg.subarray(0, o.mac2)), msg.subarray(o.mac2));
  }

  /**
   * Builds a cookie reply (type 3) to `msg` (whose sender index is `receiverIndex`):
   * the cookie τ = MAC(Rm, source) encrypted with XChaCha20-Poly1305 under
   * HASH(LABEL_COOKIE || Spub), with msg's mac1 as associated data.
   */
  createReply(msg: Uint8Array, receiverIndex: number, source: Uint8Array): Uint8Array {
    const now = this.#clock.now();
    if (now - this.#secretSet > COOKIE_REFRESH_TIME) {
      crypto.getRandomValues(this.#secret);
      this.#secretSet = now;
    }
    const cookie = mac(this.#secret, source);
    const out = new Uint8Array(MESSAGE_COOKIE_REPLY_SIZE);
    out[0] = MESSAGE_COOKIE_REPLY_TYPE;
    writeU32(out, COOKIE_REPLY_OFFSET_RECEIVER, receiverIndex);
    const nonce = out.subarray(COOKIE_REPLY_OFFSET_NONCE, COOKIE_REPLY_OFFSET_COOKIE);
    crypto.getRandomValues(nonce);
    const o = macOffsets(msg);
    out.set(
      xaeadSeal(this.#encryptionKey, nonce, cookie, msg.subarray(o.mac1, o.mac2)),
      COOKIE_REPLY_OFFSET_COOKIE,
    );
    return out;
  }
}

/** Initiator side, one per peer: adds mac1/mac2 and remembers the peer's cookie. */
export class CookieGenerator {
  #mac1Key: Uint8Array;
  #encryptionKey: Uint8Array;
  #cookie = new Uint8Array(MAC_LEN);
  #cookieSet = -Infinity;
  #lastMac1: Uint8Array | null = null;
  #clock: Clock;

  /** @param remotePublicKey the peer's static public key. */
  constructor(remotePublicKey: Uint8Array, clock: Clock) {
    this.#mac1Key = hash(enc.encode(LABEL_MAC1), remotePublicKey);
    this.#encryptionKey = hash(enc.encode(LABEL_COOKIE), remotePublicKey);
    this.#clock = clock;
  }

  /** True while we hold a cookie younger than COOKIE_REFRESH_TIME. */
  get hasCookie(): boolean {
    return this.#clock.now() - this.#cookieSet <= COOKIE_REFRESH_TIME;
  }

  /** Writes mac1 and (with a fresh cookie) mac2 into the last 32 bytes of `msg`. */
  addMacs(msg: Uint8Array): void {
    const o = macOffsets(msg);
    const m1 = mac(this.#mac1Key, msg.subarray(0, o.mac1));
    msg.set(m1, o.mac1);
    this.#lastMac1 = m1;
    if (this.hasCookie) msg.set(mac(this.#cookie, msg.subarray(0, o.mac2)), o.mac2);
    else msg.fill(0, o.mac2);
  }

  /** Decrypts a cookie reply to our last message; false when it does not authenticate. */
  consumeReply(reply: Uint8Array): boolean {
    if (this.#lastMac1 === null || reply.length !== MESSAGE_COOKIE_REPLY_SIZE) return false;
    const cookie = xaeadOpen(
      this.#encryptionKey,
      reply.subarray(COOKIE_REPLY_OFFSET_NONCE, COOKIE_REPLY_OFFSET_COOKIE),
      reply.subarray(COOKIE_REPLY_OFFSET_COOKIE),
      this.#lastMac1,
    );
    if (cookie === null) return false;
    this.#cookie.set(cookie);
    this.#cookieSet = this.#clock.now();
    return true;
  }
}
