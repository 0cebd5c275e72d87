/**
 * X25519 Diffie-Hellman (RFC 7748) over `@noble/curves`.
 * @module
 */
import { x25519 } from "@noble/curves/ed25519.js";

/** Length of an X25519 private or public key, in bytes. */
export const X25519_KEY_SIZE = 32;

/** Returns a new clamped random X25519 private key (32 bytes). */
export function generatePrivateKey(): Uint8Array {
  const k = new Uint8Array(X25519_KEY_SIZE);
  crypto.getRandomValues(k);
  // Clamp as RFC 7748 §5 (and `wg genkey`) do, so the stored key is canonical.
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
  return k;
}

/**
 * Derives the public key of a private key.
 * @throws Error if `privateKey` is not 32 bytes.
 */
export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  checkLength(privateKey, "private key");
  return x25519.getPublicKey(privateKey);
}

/**
 * Computes DH(privateKey, publicKey). Returns null when the result is all zeros
 * (a low-order public key), which WireGuard must reject.
 * @throws Error if either key is not 32 bytes.
 */
export function dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array | null {
  checkLength(privateKey, "private key");
  checkLength(publicKey, "public key");
  let shared: Uint8Array;
  try {
    shared = x25519.getSharedSecret(privateKey, publicKey);
  } catch {
    return null; // noble throws on a low-order point
  }
  let acc = 0;
  for (let i = 0; i < shared.length; i++) acc |= shared[i];
  return acc === 0 ? null : shared;
}

function checkLength(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== X25519_KEY_SIZE) {
    throw new Error(`X25519 ${what} must be ${X25519_KEY_SIZE} bytes, got ${key?.length}`);
  }
}
