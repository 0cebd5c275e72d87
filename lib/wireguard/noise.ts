/**
 * The Noise_IKpsk2 handshake (whitepaper §5.4.2-§5.4.5): building and consuming
 * initiation and response messages, and deriving the transport keypair.
 * Names follow the paper: C (chaining key), H (hash), E/S (ephemeral/static).
 * @module
 */
import {
  AEAD_TAG_SIZE,
  type AeadBackend,
  aeadOpen,
  aeadSeal,
  compareTai64n,
  dh,
  generatePrivateKey,
  hash,
  kdf,
  publicKeyOf,
  tai64n,
} from "../crypto/mod.ts";
import { CONSTRUCTION, HANDSHAKE_INITIATION_RATE, IDENTIFIER } from "./constants.ts";
import type { Handshake } from "./handshake.ts";
import type { IndexTable } from "./index_table.ts";
import { Keypair } from "./keypair.ts";
import {
  INITIATION_OFFSET_EPHEMERAL,
  INITIATION_OFFSET_MAC1,
  INITIATION_OFFSET_SENDER,
  INITIATION_OFFSET_STATIC,
  INITIATION_OFFSET_TIMESTAMP,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_INITIATION_TYPE,
  MESSAGE_RESPONSE_SIZE,
  MESSAGE_RESPONSE_TYPE,
  readU32,
  RESPONSE_OFFSET_EMPTY,
  RESPONSE_OFFSET_EPHEMERAL,
  RESPONSE_OFFSET_RECEIVER,
  RESPONSE_OFFSET_SENDER,
  writeU32,
} from "./messages.ts";

const enc = new TextEncoder();
/** C0 = HASH(CONSTRUCTION). */
export const INITIAL_CHAIN_KEY: Uint8Array = hash(enc.encode(CONSTRUCTION));
/** H0 = HASH(C0 || IDENTIFIER). */
export const INITIAL_HASH: Uint8Array = hash(INITIAL_CHAIN_KEY, enc.encode(IDENTIFIER));
const ZERO_NONCE = new Uint8Array(12);
const EMPTY = new Uint8Array(0);

/** What the handshake functions need of a peer: its handshake state. */
export interface HandshakePeer {
  readonly handshake: Handshake;
}

/** What the handshake functions need from the device; `P` is the device's peer type. */
export interface NoiseContext<P extends HandshakePeer = HandshakePeer> {
  readonly staticPrivate: Uint8Array;
  readonly staticPublic: Uint8Array;
  readonly indexTable: IndexTable<P>;
  readonly aead: AeadBackend;
  /** Monotonic ms. */
  now(): number;
  /** Wall-clock ms since the Unix epoch, for TAI64N. */
  wallNow(): number;
  /** Finds the peer with this static public key. */
  peerByKey(publicKey: Uint8Array): P | undefined;
}

const mixHash = (h: Uint8Array, data: Uint8Array) => hash(h, data);
const mixKey = (c: Uint8Array, data: Uint8Array) => kdf(1, c, data)[0];

/**
 * Builds a handshake initiation (type 1) to `peer`, with mac1/mac2 left zero for the
 * cookie generator. Returns null when the peer's static key is unusable (low order).
 */
export function createInitiation<P extends HandshakePeer>(
  ctx: NoiseContext<P>,
  peer: P,
): Uint8Array | null {
  const hs = peer.handshake;
  if (hs.precomputedStaticStatic === null) return null;
  const msg = new Uint8Array(MESSAGE_INITIATION_SIZE);
  msg[0] = MESSAGE_INITIATION_TYPE;

  let c = INITIAL_CHAIN_KEY;
  let h = mixHash(INITIAL_HASH, hs.remoteStatic);
  const ePriv = generatePrivateKey();
  const ePub = publicKeyOf(ePriv);
  c = mixKey(c, ePub);
  msg.set(ePub, INITIATION_OFFSET_EPHEMERAL);
  h = mixHash(h, ePub);

  const es = dh(ePriv, hs.remoteStatic);
  if (es === null) return null;
  let k: Uint8Array;
  [c, k] = kdf(2, c, es);
  const encStatic = aeadSeal(k, ZERO_NONCE, ctx.staticPublic, h);
  msg.set(encStatic, INITIATION_OFFSET_STATIC);
  h = mixHash(h, encStatic);

  [c, k] = kdf(2, c, hs.precomputedStaticStatic);
  const encTimestamp = aeadSeal(k, ZERO_NONCE, tai64n(ctx.wallNow()), h);
  msg.set(encTimestamp, INITIATION_OFFSET_TIMESTAMP);
  h = mixHash(h, encTimestamp);

  if (hs.localIndex !== 0) ctx.indexTable.delete(hs.localIndex);
  if (hs.pendingInitiation !== null) ctx.indexTable.delete(hs.pendingInitiation.localIndex);
  hs.pendingInitiation = null;
  hs.localIndex = ctx.indexTable.newIndexForHandshake(peer, hs);
  writeU32(msg, INITIATION_OFFSET_SENDER, hs.localIndex);
  hs.ephemeralPrivate = ePriv;
  hs.chainKey = c;
  hs.hash = h;
  hs.state = "initiation-created";
  return msg;
}

/** Why an initiation was refused, for the drop counters. */
export type InitiationRejection =
  | "handshake-invalid"
  | "unknown-peer"
  | "stale-timestamp"
  | "handshake-flood";

/**
 * Consumes a handshake initiation (mac1 already checked). On success stores the
 * initiator's state in its peer's handshake and returns the peer.
 */
export function consumeInitiation<P extends HandshakePeer>(
  ctx: NoiseContext<P>,
  msg: Uint8Array,
): P | InitiationRejection {
  let c = INITIAL_CHAIN_KEY;
  let h = mixHash(INITIAL_HASH, ctx.staticPublic);
  const ePub = msg.slice(INITIATION_OFFSET_EPHEMERAL, INITIATION_OFFSET_STATIC);
  c = mixKey(c, ePub);
  h = mixHash(h, ePub);

  const es = dh(ctx.staticPrivate, ePub);
  if (es === null) return "handshake-invalid";
  let k: Uint8Array;
  [c, k] = kdf(2, c, es);
  const encStatic = msg.subarray(INITIATION_OFFSET_STATIC, INITIATION_OFFSET_TIMESTAMP);
  const peerPublic = aeadOpen(k, ZERO_NONCE, encStatic, h);
  if (peerPublic === null) return "handshake-invalid";
  h = mixHash(h, encStatic);

  const peer = ctx.peerByKey(peerPublic);
  if (peer === undefined) return "unknown-peer";
  const hs = peer.handshake;
  if (hs.precomputedStaticStatic === null) return "handshake-invalid";

  [c, k] = kdf(2, c, hs.precomputedStaticStatic);
  const encTimestamp = msg.subarray(INITIATION_OFFSET_TIMESTAMP, INITIATION_OFFSET_MAC1);
  const timestamp = aeadOpen(k, ZERO_NONCE, encTimestamp, h);
  if (timestamp === null) return "handshake-invalid";
  h = mixHash(h, encTimestamp);

  // Replay: the timestamp must grow. Flood: at most one initiation per 50 ms.
  if (compareTai64n(timestamp, hs.lastTimestamp) <= 0) return "stale-timestamp";
  const now = ctx.now();
  if (now - hs.lastInitiationConsumption <= HANDSHAKE_INITIATION_RATE) return "handshake-flood";

  if (hs.state === "initiation-created") {
    // Crossing initiations: keep ours (and its index) to restore after responding.
    hs.pendingInitiation = {
      hash: hs.hash,
      chainKey: hs.chainKey,
      ephemeralPrivate: hs.ephemeralPrivate,
      localIndex: hs.localIndex,
    };
    hs.ephemeralPrivate = new Uint8Array(32);
    hs.localIndex = 0;
  }
  hs.hash = h;
  hs.chainKey = c;
  hs.remoteIndex = readU32(msg, INITIATION_OFFSET_SENDER);
  hs.remoteEphemeral = ePub;
  hs.lastTimestamp = timestamp;
  hs.lastInitiationConsumption = now;
  hs.state = "initiation-consumed";
  return peer;
}

/** Builds the handshake response (type 2) to a consumed initiation; null on failure. */
export function createResponse<P extends HandshakePeer>(
  ctx: NoiseContext<P>,
  peer: P,
): Uint8Array | null {
  const hs = peer.handshake;
  if (hs.state !== "initiation-consumed") return null;
  const msg = new Uint8Array(MESSAGE_RESPONSE_SIZE);
  msg[0] = MESSAGE_RESPONSE_TYPE;
  writeU32(msg, RESPONSE_OFFSET_RECEIVER, hs.remoteIndex);

  let c = hs.chainKey;
  let h = hs.hash;
  const ePriv = generatePrivateKey();
  const ePub = publicKeyOf(ePriv);
  msg.set(ePub, RESPONSE_OFFSET_EPHEMERAL);
  c = mixKey(c, ePub);
  h = mixHash(h, ePub);

  const ee = dh(ePriv, hs.remoteEphemeral);
  const se = dh(ePriv, hs.remoteStatic);
  if (ee === null || se === null) return null;
  c = mixKey(c, ee);
  c = mixKey(c, se);

  const [c2, tau, k] = kdf(3, c, hs.presharedKey);
  c = c2;
  h = mixHash(h, tau);
  const encEmpty = aeadSeal(k, ZERO_NONCE, EMPTY, h);
  msg.set(encEmpty, RESPONSE_OFFSET_EMPTY);
  h = mixHash(h, encEmpty);

  if (hs.localIndex !== 0) ctx.indexTable.delete(hs.localIndex);
  hs.localIndex = ctx.indexTable.newIndexForHandshake(peer, hs);
  writeU32(msg, RESPONSE_OFFSET_SENDER, hs.localIndex);
  hs.chainKey = c;
  hs.hash = h;
  hs.ephemeralPrivate.fill(0);
  hs.state = "response-created";
  return msg;
}

/**
 * Consumes a handshake response (mac1 already checked) to an initiation of ours.
 * Returns the peer, or null when it matches no pending initiation or fails to verify.
 */
export function consumeResponse<P extends HandshakePeer>(
  ctx: NoiseContext<P>,
  msg: Uint8Array,
): P | null {
  const entry = ctx.indexTable.lookup(readU32(msg, RESPONSE_OFFSET_RECEIVER));
  const hs = entry?.handshake;
  if (entry === undefined || hs == null || hs.state !== "initiation-created") return null;

  let c = hs.chainKey;
  let h = hs.hash;
  const ePub = msg.subarray(RESPONSE_OFFSET_EPHEMERAL, RESPONSE_OFFSET_EMPTY);
  c = mixKey(c, ePub);
  h = mixHash(h, ePub);
  const ee = dh(hs.ephemeralPrivate, ePub);
  const se = dh(ctx.staticPrivate, ePub);
  if (ee === null || se === null) return null;
  c = mixKey(c, ee);
  c = mixKey(c, se);

  const [c2, tau, k] = kdf(3, c, hs.presharedKey);
  c = c2;
  h = mixHash(h, tau);
  const encEmpty = msg.subarray(RESPONSE_OFFSET_EMPTY, RESPONSE_OFFSET_EMPTY + AEAD_TAG_SIZE);
  if (aeadOpen(k, ZERO_NONCE, encEmpty, h) === null) return null;
  h = mixHash(h, encEmpty);

  hs.chainKey = c;
  hs.hash = h;
  hs.remoteIndex = readU32(msg, RESPONSE_OFFSET_SENDER);
  hs.ephemeralPrivate.fill(0);
  hs.state = "response-consumed";
  return entry.peer;
}

/**
 * After answering a crossing initiation: puts our own pending initiation back, so a
 * response to it is still accepted. No-op when there is none.
 */
export function restorePendingInitiation(hs: Handshake): void {
  const p = hs.pendingInitiation;
  if (p === null) return;
  hs.pendingInitiation = null;
  hs.hash = p.hash;
  hs.chainKey = p.chainKey;
  hs.ephemeralPrivate = p.ephemeralPrivate;
  hs.localIndex = p.localIndex;
  hs.state = "initiation-created";
}

/**
 * Derives the transport keypair after a finished handshake (§5.4.5):
 * (Tsend_i = Trecv_r, Trecv_i = Tsend_r) = KDF2(C, ε), then zeroes the handshake.
 * Returns null when the handshake is in no state to derive keys.
 */
export function deriveKeypair(ctx: NoiseContext, hs: Handshake): Keypair | null {
  let isInitiator: boolean;
  if (hs.state === "response-consumed") isInitiator = true;
  else if (hs.state === "response-created") isInitiator = false;
  else return null;
  const [t1, t2] = kdf(2, hs.chainKey, EMPTY);
  const send = isInitiator ? t1 : t2;
  const recv = isInitiator ? t2 : t1;
  const keypair = new Keypair(
    ctx.aead.importKey(send),
    ctx.aead.importKey(recv),
    isInitiator,
    ctx.now(),
    hs.localIndex,
    hs.remoteIndex,
  );
  t1.fill(0);
  t2.fill(0);
  ctx.indexTable.swapIndexForKeypair(hs.localIndex, keypair);
  hs.localIndex = 0; // the index now belongs to the keypair
  hs.clear();
  return keypair;
}

/** Forgets an initiation set aside by {@link consumeInitiation}, freeing its index. */
export function dropPendingInitiation(ctx: Pick<NoiseContext, "indexTable">, hs: Handshake): void {
  const p = hs.pendingInitiation;
  if (p === null) return;
  ctx.indexTable.delete(p.localIndex);
  p.ephemeralPrivate.fill(0);
  hs.pendingInitiation = null;
}
