/** Fresh X25519 key pairs per session (spec session-and-relay.md §8.1). @module */
import { x25519 } from "@noble/curves/ed25519.js";
import { bytesToHex, hexToBytes } from "../protocol/mod.ts";

/** A peer's session key is not what signaling must carry (64 hex characters). */
export class SessionKeyError extends Error {
  override name = "SessionKeyError";
}

/** A session key pair; `publicHex` is what signaling carries (64 lowercase hex chars). */
export interface SessionKeys {
  /** X25519 private key, 32 octets (RFC 7748 §5). */
  privateKey: Uint8Array;
  /** X25519 public key, 32 octets. */
  publicKey: Uint8Array;
  /** `publicKey` as 64 lowercase hex characters. */
  publicHex: string;
}

/** Generates a new X25519 key pair (32 random bytes; clamping is done by the curve). */
export function generateSessionKeys(): SessionKeys {
  const privateKey = crypto.getRandomValues(new Uint8Array(32));
  const publicKey = x25519.getPublicKey(privateKey);
  return { privateKey, publicKey, publicHex: bytesToHex(publicKey) };
}

/**
 * Decodes a peer's `wgPubKey`.
 * @throws {SessionKeyError} when it is not 64 hex characters.
 */
export function parsePublicKeyHex(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new SessionKeyError(
      `peer WireGuard key is not 64 hex characters (got ${hex.length} characters)`,
    );
  }
  return hexToBytes(hex.toLowerCase());
}
