/**
 * BLAKE2s-256 (RFC 7693) and the constructions WireGuard builds on it
 * (whitepaper §5.4): HASH, MAC (keyed BLAKE2s-128), HMAC-BLAKE2s and the HKDF-style
 * KDF1/KDF2/KDF3.
 * @module
 */
import { blake2s } from "@noble/hashes/blake2.js";

/** BLAKE2s-256 output length in bytes. */
export const HASH_SIZE = 32;
/** Keyed BLAKE2s output length used for mac1/mac2/cookies, in bytes. */
export const MAC_SIZE = 16;
const BLOCK_SIZE = 64;

/** HASH(input...) = BLAKE2s-256 over the concatenation of the inputs. */
export function hash(...inputs: Uint8Array[]): Uint8Array {
  const h = blake2s.create({ dkLen: HASH_SIZE });
  for (const i of inputs) h.update(i);
  return h.digest();
}

/**
 * MAC(key, input) = keyed BLAKE2s with a 16-byte output (RFC 7693 keyed mode).
 * @param key 1..32 bytes.
 */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return keyedHash(key, input, MAC_SIZE);
}

/**
 * Keyed BLAKE2s (RFC 7693 §2.5) with an output of `outLen` bytes (1..32).
 * @param key 1..32 bytes.
 */
export function keyedHash(key: Uint8Array, input: Uint8Array, outLen = HASH_SIZE): Uint8Array {
  return blake2s(input, { key, dkLen: outLen });
}

/** HMAC(key, input) with BLAKE2s-256 as the hash (RFC 2104, block size 64 bytes). */
export function hmac(key: Uint8Array, ...inputs: Uint8Array[]): Uint8Array {
  const k = new Uint8Array(BLOCK_SIZE);
  k.set(key.length > BLOCK_SIZE ? hash(key) : key);
  const ipad = new Uint8Array(BLOCK_SIZE);
  const opad = new Uint8Array(BLOCK_SIZE);
  for (let i = 0; i < BLOCK_SIZE; i++) {
    ipad[i] = k[i] ^ 0x36;
    opad[i] = k[i] ^ 0x5c;
  }
  const inner = blake2s.create({ dkLen: HASH_SIZE });
  inner.update(ipad);
  for (const i of inputs) inner.update(i);
  const innerDigest = inner.digest();
  return blake2s.create({ dkLen: HASH_SIZE }).update(opad).update(innerDigest).digest();
}

const ONE = Uint8Array.of(1);

/**
 * KDFn(key, input) of the whitepaper §5.4: τ0 = HMAC(key, input),
 * τ1 = HMAC(τ0, 0x1), τi = HMAC(τ0, τ(i-1) || i). Returns τ1..τn (n = 1..3).
 */
export function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const t0 = hmac(key, input);
  const out: Uint8Array[] = [];
  let prev = hmac(t0, ONE);
  out.push(prev);
  for (let i = 2; i <= n; i++) {
    prev = hmac(t0, prev, Uint8Array.of(i));
    out.push(prev);
  }
  t0.fill(0);
  return out;
}
