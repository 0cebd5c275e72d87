/**
 * Key helpers. Tela's signaling carries WireGuard keys as 64 lowercase hex digits;
 * `wg` and config files use standard base64 (44 characters). Both are accepted.
 * @module
 */
import { generatePrivateKey, publicKeyOf } from "../crypto/mod.ts";

/** WireGuard key length in bytes (X25519 keys and preshared keys). */
export const KEY_SIZE = 32;

/** A Curve25519 key pair. */
export interface KeyPair {
  /** 32-byte private key. */
  privateKey: Uint8Array;
  /** 32-byte public key. */
  publicKey: Uint8Array;
}

/** Generates a new random key pair (the private key clamped like `wg genkey`). */
export function generateKeyPair(): KeyPair {
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: publicKeyOf(privateKey) };
}

/**
 * Derives the public key of a private key (like `wg pubkey`).
 * @throws {KeyLengthError} (lib/crypto) if the key is not 32 bytes.
 */
export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  return publicKeyOf(privateKey);
}

/** Generates a random 32-byte preshared key (like `wg genpsk`). */
export function generatePresharedKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_SIZE));
}

/**
 * A WireGuard key in the wrong form or of the wrong length. The message shows at most the
 * first 8 characters of the text, never a whole (possibly private) key.
 */
export class InvalidKeyError extends Error {
  override name = "InvalidKeyError";
}

/** Encodes a key as 64 lowercase hex digits (Tela signaling form). */
export function keyToHex(key: Uint8Array): string {
  let s = "";
  for (let i = 0; i < key.length; i++) s += key[i].toString(16).padStart(2, "0");
  return s;
}

/**
 * Decodes a 64-hex-digit key (either case).
 * @throws {InvalidKeyError} naming the problem if the text is not 64 hex digits.
 */
export function keyFromHex(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) {
    throw new InvalidKeyError(`WireGuard key "${preview(text)}" is not 64 hex digits`);
  }
  const out = new Uint8Array(KEY_SIZE);
  for (let i = 0; i < KEY_SIZE; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

/** Encodes a key as standard base64 (44 characters, like `wg`). */
export function keyToBase64(key: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < key.length; i++) bin += String.fromCharCode(key[i]);
  return btoa(bin);
}

/**
 * Decodes a standard base64 key (44 characters ending in "=").
 * @throws {InvalidKeyError} if the text is not the base64 form of 32 bytes.
 */
export function keyFromBase64(text: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) {
    throw new InvalidKeyError(`WireGuard key "${preview(text)}" is not 44 characters of base64`);
  }
  const bin = atob(text);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * Decodes a key given either as 64 hex digits or as base64 (surrounding whitespace ignored).
 * @throws {InvalidKeyError} if it is neither.
 */
export function parseKey(text: string): Uint8Array {
  const t = text.trim();
  if (t.length === 64) return keyFromHex(t);
  if (t.length === 44) return keyFromBase64(t);
  throw new InvalidKeyError(
    `WireGuard key "${
      preview(t)
    }" must be 64 hex digits or 44 base64 characters, got ${t.length} characters`,
  );
}

// Never echo a whole (possibly private) key in an error.
function preview(s: string): string {
  return s.length > 8 ? s.slice(0, 8) + "…" : s;
}
